#!/usr/bin/env python3
"""netfront's counters through DPDK's telemetry socket, read the way an operator would: with
dpdk-telemetry.py, from outside a running netfront-perf (two queue pairs, each on its own loop
thread, over the in-process device). Checks that the device is listed, that per-queue counters
move and add up to the totals, and that they agree with what netfront-perf itself reports."""
import json
import re
import subprocess
import sys
import time

perf = sys.argv[1]
DEVICE = "loop:queues=2"


def fail(why, log=""):
    print("FAIL:", why)
    if log:
        print("---- netfront-perf output ----\n" + log)
    sys.exit(1)


def query(prefix, *commands):
    out = subprocess.run(["dpdk-telemetry.py", "-f", prefix], input="\n".join(commands) + "\n",
                         capture_output=True, text=True, timeout=30).stdout
    replies = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    if len(replies) != len(commands):
        fail(f"expected {len(commands)} replies to {commands}, got: {out!r}")
    return [next(iter(r.values())) for r in replies]


proc = subprocess.Popen([perf, "--device", DEVICE, "--queues", "2", "--mode", "txonly", "--duration", "6", "--json"],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
log = ""
prefix = None
deadline = time.time() + 30
while prefix is None and time.time() < deadline:
    line = proc.stdout.readline()
    if not line:
        break
    log += line
    m = re.search(r"dpdk-telemetry\.py -f (\S+)", line)
    if m:
        prefix = m.group(1)
if prefix is None:
    proc.kill()
    fail("netfront-perf never named its telemetry file prefix", log)
time.sleep(1.5)  # traffic running on both queue pairs

listing, info, first = query(prefix, "/netfront/list", "/netfront/info,0", "/netfront/stats,0")
if list(listing.values()) != [DEVICE]:
    fail(f"/netfront/list: {listing}")
if info["queue_pairs"] != 2 or info["id"] != DEVICE or info["mtu"] != 1500:
    fail(f"/netfront/info,0: {info}")
time.sleep(1)
(second,) = query(prefix, "/netfront/stats,0")
(missing,) = query(prefix, "/netfront/stats,99")
if missing is not None:
    fail(f"/netfront/stats,99 answered {missing}")

for snap in (first, second):
    for key in ("rx_pkts", "tx_pkts", "rx_bytes", "tx_bytes", "rx_drops", "device_errors"):
        if snap[key] != snap["q0"][key] + snap["q1"][key]:
            fail(f"{key}: total {snap[key]} is not q0 + q1 in {snap}")
for q in ("q0", "q1"):
    if not (0 < first[q]["tx_pkts"] < second[q]["tx_pkts"]) or not (0 < first[q]["rx_pkts"] < second[q]["rx_pkts"]):
        fail(f"{q} counters did not move between reads: {first[q]} then {second[q]}")
    if second[q]["device_errors"] != 0:
        fail(f"{q} device errors: {second[q]}")

rest, _ = proc.communicate(timeout=60)
log += rest
if proc.returncode != 0:
    fail(f"netfront-perf exited with {proc.returncode}", log)
summary = json.loads([l for l in rest.splitlines() if l.startswith("{")][-1])
for q, per in enumerate(summary["per_queue"]):
    if per["tx_pkts"] < second[f"q{q}"]["tx_pkts"]:
        fail(f"queue {q}: final tx {per['tx_pkts']} below the telemetry reading {second[f'q{q}']['tx_pkts']}")
print(f"ok: {DEVICE} listed; q0 tx {second['q0']['tx_pkts']}, q1 tx {second['q1']['tx_pkts']} at the second read; "
      f"final {summary['per_queue'][0]['tx_pkts']} / {summary['per_queue'][1]['tx_pkts']}")
