#!/usr/bin/env bash
# Installs what netfront needs on Debian 12, and only what is missing (safe to run again).
set -euo pipefail

packages=(
  g++ meson ninja-build pkg-config python3
  libdpdk-dev dpdk          # DPDK 22.11: EAL, mempool, mbuf
  dpdk-dev                  # dpdk-testpmd (the vhost-user peer in tests), dpdk-telemetry.py
  libnuma-dev libspdlog-dev libfmt-dev
  nlohmann-json3-dev        # netfront-perf's JSON report
  libgtest-dev libgmock-dev libbenchmark-dev
  qemu-system-x86 binutils  # guests for the appliance and its end-to-end tests; objcopy, strings
  openvswitch-switch-dpdk   # OVS-DPDK, the vhost-user switch the integration tests put two netfronts on
  liblwip-dev               # lwIP 2.1.3, the TCP/IP stack of netfront/lwip.hpp and the HTTP appliance
  curl apache2-utils iputils-ping iproute2  # the real clients of the HTTP tests (curl, ab, ping, ip)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) != 0 ]]; then
  echo "netfront: missing packages: ${missing[*]} (run as root to install them)" >&2
  exit 1
fi
echo "netfront: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
