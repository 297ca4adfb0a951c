#!/usr/bin/env bash
# The main job: builds netfront (installing what is missing) and runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/build.sh
exec "${NETFRONT_BUILD:-build}/tools/demo/netfront-demo" "$@"
