#!/usr/bin/env bash
# TCP segmentation offload against the vhost-user referee (tools/bench/referee.py: testpmd
# rxonly on net_vhost with tso=1, counting bits per second), two comparisons, each side by side,
# A B A B ..., RUNS runs of SECS seconds, every per-second sample kept, compared by their 90th
# percentiles and medians (B over A):
#   1. the same TCP stream sent by netfront-perf as 1514-byte frames (A) and as 65549-byte
#      super-frames with TSO, 1448-byte segments asked for (B): what TSO buys;
#   2. the super-frames sent by DPDK's virtio-user PMD (A: tools/bench/dpdk_tso_tx.cpp, the
#      same frame, sent the same way) and by netfront (B).
#
#   tools/bench/tso.sh [RUNS] [SECS]     # default 10 runs of 3 s; JSON lines in build/bench/tso.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-10}
secs=${2:-3}
build=${NETFRONT_BUILD:-build}
bench=tso
[[ -n ${NETFRONT_BUILD:-} ]] || tools/build.sh
source tools/bench/hugepages.sh
source tools/bench/compare.sh

referee_options=(--dir tx --metric bps --vhost-args tso=1)
netfront_tso="$perf --device vhost-user:{sock} --mode txonly --tso 1448 --size 65549 --lcore 0"
compare "netfront 1514-byte frames vs netfront TSO" \
  "$perf --device vhost-user:{sock},offloads=csum+tso4 --mode txonly --size 1514 --lcore 0" "$netfront_tso" "${referee_options[@]}"
compare "DPDK virtio-user TSO vs netfront TSO" \
  "$build/tools/bench/dpdk-tso-tx -l 0 --main-lcore 0 --no-pci --single-file-segments --file-prefix=nfdpdk \
--vdev net_virtio_user0,path={sock},queues=1 -- --size 65549 --mss 1448" "$netfront_tso" "${referee_options[@]}"
