#!/usr/bin/env python3
"""Queue-pair scaling of netfront-perf against dpdk-testpmd's vhost backend.

Method (that of tools/bench/vs_dpdk.sh): for each run, a fresh testpmd with
net_vhost (queues = the largest count measured, rxonly, forwarding on --backend-cpu) is the
referee; netfront-perf transmits 64-byte frames with 1, 2, ... queue pairs in turn (A B A B,
so machine drift hits every configuration alike), each pair on its own loop thread pinned to
the CPUs of --cpus in order. Each run reports netfront's rate and the referee's own per-queue
count (they must agree); the summary gives the median and 90th percentile per configuration.

  tools/bench/scaling.py [--queues 1,2] [--runs 6] [--secs 3] [--cpus 0,0] [--backend-cpu 1]

On a 2-vCPU machine the referee takes one CPU, so every netfront queue loop shares the other
(--cpus 0,0): the table then shows how the pairs split one core, not how they scale; on a
bigger machine give each queue its own CPU (--cpus 2,3,4,5) and testpmd --nb-cores to match.
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("--queues", default="1,2")
ap.add_argument("--runs", type=int, default=6)
ap.add_argument("--secs", type=float, default=3)
ap.add_argument("--cpus", default="0,0", help="CPU of each netfront queue loop, in order")
ap.add_argument("--backend-cpu", default="1")
ap.add_argument("--build", default=os.environ.get("NETFRONT_BUILD", "build"))
args = ap.parse_args()
counts = [int(q) for q in args.queues.split(",")]
perf = os.path.join(args.build, "tools/perf/netfront-perf")
cpus = args.cpus.split(",")


def one_run(queues, workdir):
    sock = os.path.join(workdir, "vh.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    log_path = os.path.join(workdir, "testpmd.log")
    main_cpu = "0" if args.backend_cpu != "0" else "1"
    with open(log_path, "w") as log:
        ref = subprocess.Popen(["dpdk-testpmd", "-l", f"{main_cpu},{args.backend_cpu}", "--main-lcore", main_cpu,
                                "--no-pci", "--no-huge", "-m", "512", "--file-prefix", "nfscale",
                                "--vdev", f"net_vhost0,iface={sock},queues={max(counts)}", "--",
                                "--forward-mode=rxonly", "--auto-start", "--no-flush-rx", "--stats-period", "1", "--nb-cores=1",
                                f"--rxq={max(counts)}", f"--txq={max(counts)}", "--total-num-mbufs=16384"],
                               stdout=log, stderr=subprocess.STDOUT)
    for _ in range(150):
        if os.path.exists(sock):
            break
        time.sleep(0.1)
    lcores = ",".join(cpus[:queues] + [cpus[-1]] * max(0, queues - len(cpus)))
    out = subprocess.run([perf, "--device", f"vhost-user:{sock}", "--queues", str(queues), "--mode", "txonly",
                          "--duration", str(args.secs), "--lcore", lcores, "--json", "--no-telemetry"],
                         capture_output=True, text=True, timeout=120).stdout
    ref.send_signal(signal.SIGINT)
    ref.wait(timeout=30)
    text = open(log_path).read()
    result = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
    peer = []
    for q in range(queues):
        m = re.findall(rf"Forward Stats for RX Port= *0/Queue= *{q} .*\n\s*RX-packets:\s+(\d+)", text)
        peer.append(int(m[-1]) if m else 0)
    if queues == 1 and not peer[0]:
        peer = [int(re.findall(r"RX-packets:\s+(\d+)", text)[-1])]
    return result, peer


samples = {q: [] for q in counts}
with tempfile.TemporaryDirectory(prefix="nfscale-") as workdir:
    for run in range(args.runs):
        for q in counts:
            r, peer = one_run(q, workdir)
            per = [p["tx_mpps"] for p in r["per_queue"]]
            samples[q].append(r["tx_mpps"])
            agree = all(abs(p["tx_pkts"] - c) <= 64 * 1024 for p, c in zip(r["per_queue"], peer))
            print(f"run {run} queues={q}: total {r['tx_mpps']:.3f} Mpps, per queue " +
                  " ".join(f"{x:.3f}" for x in per) + f"; referee counted {peer}" + ("" if agree else " (DISAGREES)"),
                  file=sys.stderr)


def p90(xs):
    return sorted(xs)[int(0.9 * (len(xs) - 1))]


summary = {f"queues_{q}": {"median_mpps": round(statistics.median(v), 3), "p90_mpps": round(p90(v), 3), "runs": len(v)}
           for q, v in samples.items()}
print(json.dumps({"scaling": "txonly 64 B", "cpus": args.cpus, "backend_cpu": args.backend_cpu, **summary}))
