#!/usr/bin/env bash
# netfront-httpd (lwIP on netfront) in front of Linux's own stack without a guest, for clients
# of your own: dpdk-testpmd, in a network namespace made for it, forwards between a vhost-user
# port (netfront-httpd's backend) and a tap that has 10.9.0.1/24 there; the server is 10.9.0.2.
#
#   tools/bridge.sh up                      # builds netfront-httpd first if it is not there
#   ip netns exec netfront-bridge curl -s http://10.9.0.2/ | head
#   ip netns exec netfront-bridge ab -n 10000 -c 100 -k http://10.9.0.2/bytes/100
#   tools/bridge.sh down                    # stops both, removes the namespace, shows the server's last words
#
# As root. Everything stays in that namespace and in /run/netfront-bridge (pids, socket, logs).
# NETFRONT_BUILD names the build directory (build).
set -euo pipefail
cd "$(dirname "$0")/.."
ns=netfront-bridge
run=/run/netfront-bridge
tap=nfbridge0
build=${NETFRONT_BUILD:-build}
httpd=$build/tools/httpd/netfront-httpd

stop_pid() {  # <pid file> <signal>: ends that process (ours: its pid was written at start)
  [[ -f $1 ]] || return 0
  local pid
  pid=$(cat "$1")
  kill -"$2" "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

down() {
  stop_pid "$run/httpd.pid" INT
  stop_pid "$run/console.pid" TERM
  stop_pid "$run/testpmd.pid" INT
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "/var/run/dpdk/$ns"
  if [[ -f $run/httpd.log ]]; then tail -n 3 "$run/httpd.log"; fi
  rm -rf "$run"
}

failed() {  # <what>: says why (the log's end), and leaves nothing behind
  echo "bridge.sh: $1:" >&2
  tail "$2" >&2
  down >/dev/null
  exit 1
}

case ${1:-} in
up)
  if [[ -d $run ]]; then echo "bridge.sh: already up (tools/bridge.sh down first)" >&2; exit 1; fi
  command -v dpdk-testpmd >/dev/null || { echo "bridge.sh: dpdk-testpmd missing: run tools/setup.sh" >&2; exit 1; }
  [[ -x $httpd ]] || tools/build.sh
  mkdir -p "$run"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  # testpmd's own memory need not be shared (it maps netfront's), so no hugepages are needed.
  # --stats-period keeps it running without a terminal; --no-flush-rx keeps it from draining
  # the vhost port's rings before netfront has posted anything.
  ip netns exec "$ns" setsid dpdk-testpmd -l 0,1 --no-pci --no-huge -m 512 --file-prefix "$ns" \
    --vdev "net_vhost0,iface=$run/vhost.sock" --vdev "net_tap0,iface=$tap" -- --forward-mode=io \
    --port-topology=paired --auto-start --no-flush-rx --nb-cores=1 --total-num-mbufs=16384 --stats-period 10 \
    </dev/null >"$run/testpmd.log" 2>&1 &
  echo $! >"$run/testpmd.pid"
  for _ in $(seq 100); do [[ -S $run/vhost.sock ]] && ip -n "$ns" link show "$tap" >/dev/null 2>&1 && break; sleep 0.1; done
  [[ -S $run/vhost.sock ]] || failed "testpmd did not come up" "$run/testpmd.log"
  ip -n "$ns" addr add 10.9.0.1/24 dev "$tap"
  ip -n "$ns" link set "$tap" up
  # The server's console ("stop" ends it) is a fifo held open, so that it never reads an end.
  mkfifo "$run/console"
  setsid sleep infinity >"$run/console" &
  echo $! >"$run/console.pid"
  NETFRONT_MEMORY=memfd setsid "$httpd" --device "vhost-user:$run/vhost.sock" --ip 10.9.0.2/24 --idle sleep \
    <"$run/console" >"$run/httpd.log" 2>&1 &
  echo $! >"$run/httpd.pid"
  for _ in $(seq 100); do ip netns exec "$ns" curl -s -m 1 -o /dev/null http://10.9.0.2/ && break; sleep 0.2; done
  ip netns exec "$ns" curl -s -m 2 -o /dev/null http://10.9.0.2/ || failed "netfront-httpd does not answer" "$run/httpd.log"
  echo "up: netfront-httpd at http://10.9.0.2/ in namespace $ns (logs in $run)"
  echo "try: ip netns exec $ns curl -s http://10.9.0.2/"
  ;;
down)
  down
  ;;
*)
  echo "usage: tools/bridge.sh up|down" >&2
  exit 2
  ;;
esac
