#!/usr/bin/env bash
# netfront against DPDK's own virtio-user PMD, side by side, on the same vhost-user referee.
#
# The referee is tools/bench/referee.py: a stock dpdk-testpmd with net_vhost polls on CPU 1
# and counts; the two frontends poll on CPU 0 and run in turn, A B A B ..., each against a
# fresh referee, every per-second sample kept; they are compared by the ratio of their 90th
# percentiles and medians (the machine's two vCPUs move between near and far physical cores,
# which swings rates by up to 4x even within one run: only paired, alternating runs compare).
#
#   tools/bench/vs_dpdk.sh [runs] [secs]      # default 8 runs of 3 s each, per comparison
#
# It needs hugepages for the referee and DPDK's frontend (tools/bench/hugepages.sh reserves
# them and gives them back at the end), and
# writes the JSON lines it prints to build/bench/vs_dpdk.jsonl, every run's rates and c2c to
# build/bench/vs_dpdk.runs.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-8}
secs=${2:-3}
build=${NETFRONT_BUILD:-build}
bench=vs_dpdk
tools/build.sh

source tools/bench/hugepages.sh
source tools/bench/compare.sh

dpdk() {  # $1 = virtio-user devargs extra, $2 = forward mode
  echo "dpdk-testpmd -l 0,1 --main-lcore 1 --no-pci --single-file-segments --file-prefix=nfdpdk" \
       "--vdev net_virtio_user0,path={sock},queues=1$1 -- --forward-mode=$2 --auto-start" \
       "--stats-period 1 --nb-cores=1 --txpkts=64"
}

# txonly: the frontend transmits 64-byte frames, the referee (rxonly) counts them.
compare "txonly vs DPDK default" "$(dpdk "" txonly)" "$perf --device vhost-user:{sock} --mode txonly --lcore 0" --dir tx
compare "txonly vs DPDK packed_vq=1,in_order=1" "$(dpdk ",packed_vq=1,in_order=1" txonly)" \
        "$perf --device vhost-user:{sock} --mode txonly --lcore 0" --dir tx
# rxonly: the referee (txonly) sends 64-byte frames as fast as the frontend takes them.
compare "rxonly vs DPDK default" "$(dpdk "" rxonly)" "$perf --device vhost-user:{sock} --mode rxonly --lcore 0" --dir rx
compare "rxonly vs DPDK packed_vq=1,in_order=1" "$(dpdk ",packed_vq=1,in_order=1" rxonly)" \
        "$perf --device vhost-user:{sock} --mode rxonly --lcore 0" --dir rx
