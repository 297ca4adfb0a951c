#!/usr/bin/env bash
# Instructions per 64-byte frame of a vhost-user frontend, netfront-perf or DPDK's virtio-user
# in dpdk-testpmd, exact under callgrind: each frontend runs twice under valgrind (two
# durations) against a testpmd referee (rxonly when the frontend transmits, txonly when it
# receives), and (instructions_long - instructions_short) / (frames_long - frames_short) is its
# cost per frame, whatever the machine's speed (start-up and shutdown cancel out).
#
#   tools/bench/instructions_vhost.sh [--netfront-only] [--mode txonly|rxonly]   # one line per frontend
#   tools/bench/instructions_vhost.sh --netfront-only --api create|fill   # how netfront-perf makes its frames
#   tools/bench/instructions_vhost.sh --netfront-only --keep DIR   # keeps the callgrind profiles
#       for tools/bench/per_function.py, which splits the cost per frame by function
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${NETFRONT_BUILD:-build}
only=0 mode=txonly api=raw keep=
while (( $# )); do
  case $1 in
    --netfront-only) only=1 ;;
    --mode) mode=$2; shift ;;
    --api) api=$2; shift ;;
    --keep) keep=$2; shift ;;
    *) echo "usage: $0 [--netfront-only] [--mode txonly|rxonly] [--api raw|create|fill] [--keep DIR]" >&2; exit 2 ;;
  esac
  shift
done
referee_mode=$([[ $mode == txonly ]] && echo rxonly || echo txonly)
dir=$(mktemp -d /tmp/nfinstr-XXXXXX)
sock=$dir/vh.sock
source tools/bench/hugepages.sh
on_exit() { rm -rf "$dir"; }

[[ -z $keep ]] || mkdir -p "$keep"

run() {  # profile-name secs cmd... -> "instructions frames"
  local profile=$1 secs=$2; shift 2
  local out=/dev/null
  [[ -z $keep ]] || out=$keep/$profile.$secs.callgrind
  rm -f "$sock"
  dpdk-testpmd -l 0,1 --main-lcore 0 --no-pci --file-prefix=nfiref --vdev "net_vhost0,iface=$sock,queues=1" -- \
    --forward-mode=$referee_mode --auto-start --stats-period 1 --nb-cores=1 --total-num-mbufs=16384 >"$dir/ref.log" 2>&1 &
  local ref=$!
  for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.1; done
  valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >"$dir/front.log" 2>&1 &
  local front=$!
  sleep "$secs"
  kill -INT "$front"; wait "$front" || true
  kill -INT "$ref"; wait "$ref" || true
  local ir frames
  ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$dir/front.log")
  if [[ $mode == txonly ]]; then
    frames=$(grep -oE "tx [0-9]+ pkts|TX-packets: +[0-9]+" "$dir/front.log" | grep -oE "[0-9]+" | tail -1)
  else
    frames=$(grep -oE "rx [0-9]+ pkts|RX-packets: +[0-9]+" "$dir/front.log" | grep -oE "[0-9]+" | tail -1)
  fi
  [[ -z $keep ]] || echo "$frames" >"$keep/$profile.$secs.frames"
  echo "$ir $frames"
}

per_frame() {  # name cmd...
  local name=$1; shift
  local profile=${name//[^A-Za-z0-9=_-]/_}
  read -r ir1 f1 < <(run "$profile" 20 "$@")
  read -r ir2 f2 < <(run "$profile" 50 "$@")
  echo "$name: $(( (ir2 - ir1) / (f2 - f1) )) instructions per frame ($f1 and $f2 frames)"
}

per_frame "netfront-perf $mode$([[ $api == raw ]] || echo " --api $api")" "$build/tools/perf/netfront-perf" \
  --device "vhost-user:$sock" --mode "$mode" --api "$api" --lcore 0
(( only )) && exit 0
for cfg in "" ",packed_vq=1,in_order=1"; do
  per_frame "DPDK virtio-user $mode${cfg:- (default)}" dpdk-testpmd -l 0,1 --main-lcore 1 --no-pci --single-file-segments \
    --file-prefix=nfidpdk --vdev "net_virtio_user0,path=$sock,queues=1$cfg" -- --forward-mode="$mode" --auto-start \
    --stats-period 1 --nb-cores=1 --txpkts=64
done
