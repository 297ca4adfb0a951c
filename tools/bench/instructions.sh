#!/usr/bin/env bash
# Instructions per frame of the engine over the in-process device, exact and immune to the
# machine's timing noise: callgrind counts every instruction of two runs that differ only in
# their frame count, and the difference divided by the extra frames is the per-frame cost
# (start-up, DPDK initialisation and shutdown cancel out).
#
#   tools/bench/instructions.sh [build-dir]        # prints a table for docs/benchmarks.md
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-${NETFRONT_BUILD:-build}}
bench=$build/tools/bench/netfront-loop-bench
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
small=20000 large=120000
count() {  # mode device frames -> instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bench" --mode "$1" --device "$2" --frames "$3" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '| ring | path | instructions per frame |\n|---|---|---|\n'
for device in loop: loop:packed loop:in_order=on loop:packed,in_order=on; do
  for mode in tx rx echo; do
    a=$(count "$mode" "$device" $small)
    b=$(count "$mode" "$device" $large)
    printf '| `%s` | %s | %d |\n' "$device" "$mode" $(( (b - a) / (large - small) ))
  done
done
