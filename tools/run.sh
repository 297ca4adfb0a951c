#!/usr/bin/env bash
# The main job: builds netfront and the echo appliance image (installing what is missing and
# fetching Debian's kernel package), boots it in QEMU with user networking forwarding a host UDP
# port to the guest, sends 1000 UDP datagrams from the host, checks every echo, shows the
# appliance's stats and shuts it down. Options go to netfront-appliance, e.g. --path vfio --packed;
# --app httpd boots the HTTP appliance instead (lwIP on netfront), forwards a host TCP port to
# its port 80 and runs its self-check: a page, 32 MiB checked byte for byte, a 4 MiB echo, 200
# keep-alive requests.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/appliance/build-image.sh
build=${NETFRONT_BUILD:-build}
exec "$build/tools/appliance/netfront-appliance" --image-dir "$build/appliance" "$@"
