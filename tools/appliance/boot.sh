#!/usr/bin/env bash
# Boots the echo appliance image (building it first if needed) in QEMU with its console on this
# terminal; prints the image's size. Options: --path uio|vfio|mmio, --legacy, --packed, --no-mrg-rxbuf, --kvm.
# Type "stop" on the console to power the guest off.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${NETFRONT_BUILD:-build}
if [[ ! -f $build/appliance/initramfs.img || ! -x $build/tools/appliance/netfront-appliance ]]; then
  tools/appliance/build-image.sh
fi
kernel=$(stat -c %s "$build/appliance/vmlinuz")
initramfs=$(stat -c %s "$build/appliance/initramfs.img")
echo "image: kernel $((kernel / 1024)) KiB + initramfs $((initramfs / 1024)) KiB = $(((kernel + initramfs) / 1024)) KiB"
exec "$build/tools/appliance/netfront-appliance" --image-dir "$build/appliance" --boot-only "$@"
