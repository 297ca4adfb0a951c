#!/usr/bin/env bash
# Builds the appliances' bootable images: Debian's stock kernel (downloaded as a package and
# unpacked, never installed) and, for each appliance, an initramfs whose /init is its program
# with only the shared libraries, DPDK plugin and kernel modules it needs: netfront-echo
# (initramfs.img) and netfront-httpd, the HTTP appliance on lwIP (httpd-initramfs.img).
# Prints the images' sizes.
#   tools/appliance/build-image.sh   -> build/appliance/{vmlinuz,initramfs.img,httpd-initramfs.img}
# NETFRONT_BUILD names the build directory (default: build).
set -euo pipefail
cd "$(dirname "$0")/../.."
# What the image and its runner need, not the tests or the benchmarks: the main job's first
# echo comes sooner (the test suite builds the rest).
tools/build.sh netfront-echo netfront-httpd netfront-appliance
build=${NETFRONT_BUILD:-build}
out=$build/appliance
mkdir -p "$out"

# The kernel: whatever linux-image-amd64 currently depends on, fetched once into the build dir.
# The modules /init may load: the two ways into a PCI NIC, and vhost-net with its tap.
modules=(uio/uio.ko uio/uio_pci_generic.ko vfio/vfio.ko vfio/vfio_iommu_type1.ko vfio/vfio_virqfd.ko
         vfio/pci/vfio-pci-core.ko vfio/pci/vfio-pci.ko vhost/vhost_iotlb.ko vhost/vhost.ko vhost/vhost_net.ko
         net/tun.ko net/tap.ko)
missing=0
for m in "${modules[@]}"; do [[ -f $out/modules/$(basename "$m") ]] || missing=1; done
if [[ ! -f $out/vmlinuz || $missing == 1 ]]; then
  kernel_package() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
  package=$(kernel_package)
  if [[ -z $package ]]; then  # a machine whose package lists were never fetched
    apt-get update -qq >/dev/null
    package=$(kernel_package)
  fi
  [[ -n $package ]] || { echo "build-image: cannot find the kernel package behind linux-image-amd64" >&2; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download -q "$package" >/dev/null 2>&1) ||
    { echo "build-image: apt-get download $package failed" >&2; exit 1; }
  dpkg -x "$work"/*.deb "$work/root"
  cp "$work"/root/boot/vmlinuz-* "$out/vmlinuz"
  rm -rf "$out/modules" && mkdir -p "$out/modules"
  for m in "${modules[@]}"; do
    cp "$work"/root/lib/modules/*/kernel/drivers/$m "$out/modules/"
  done
  cp "$work"/root/lib/modules/*/kernel/virt/lib/irqbypass.ko "$out/modules/"
  echo "kernel: $package"
fi

plugins=$(pkg-config --variable=pmdsdir libdpdk 2>/dev/null || true)
[[ -n $plugins ]] || plugins=$(strings "$(ldconfig -p | awk '/librte_eal.so.[0-9]+ / {print $NF; exit}')" | awk -F= '/^DPDK_PLUGIN_PATH=/ {print $2}')
kernel_bytes=$(stat -c %s "$out/vmlinuz")
for app in echo httpd; do
  image=$out/initramfs.img
  [[ $app == echo ]] || image=$out/$app-initramfs.img
  python3 tools/appliance/mkinitramfs.py --init "$build/tools/$([[ $app == echo ]] && echo appliance || echo httpd)/netfront-$app" \
    --output "$image" --plugin-dir "$plugins" --plugin "$plugins/librte_mempool_ring.so" \
    $(for m in "$out"/modules/*.ko; do echo --module "$m"; done)
  initramfs_bytes=$(stat -c %s "$image")
  echo "image ($app): $out/vmlinuz ($((kernel_bytes / 1024)) KiB) + $image ($((initramfs_bytes / 1024)) KiB)" \
       "= $(((kernel_bytes + initramfs_bytes) / 1024)) KiB"
done
