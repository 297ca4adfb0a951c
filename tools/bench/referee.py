#!/usr/bin/env python3
"""The vhost-user benchmarks' referee: a stock dpdk-testpmd with a net_vhost port polls on
CPU 1 and counts what a frontend under test sends it (--dir tx: the referee runs rxonly) or
sends 64-byte frames as fast as the frontend takes them (--dir rx: txonly). Two frontends,
A and B, run in turn, A B A B ..., each against a fresh referee, polling on CPU 0; every
per-second sample of the referee's rate is kept, and they are compared by percentiles. Before
each run the cache-line round trip between the two CPUs is measured (netfront-c2c): on a VM
the vCPUs move between near and far physical cores, which moves rates by several times, so
only paired, alternating runs compare, read with their round trips.

    referee.py --dir tx|rx --runs N --secs S -A CMD -B CMD [--workdir DIR] [--c2c PROGRAM]
               [--metric pps|bps] [--vhost-args ARGS]

CMD is a frontend's command line, with {sock} where the vhost-user socket goes (the referee
is the server). Prints one JSON line per run ({"run", "frontend", "c2c_ns", "pps"}) and last
a summary: each frontend's median and 90th percentile packets per second over all samples,
and B's over A's ("p50_ratio", "p90_ratio"). With --metric bps the samples are the referee's
bits per second instead (the rate of bytes, whatever the frames' sizes: TSO super-frames
against plain ones); --vhost-args adds net_vhost device arguments (tso=1 for TSO).
"""
import argparse
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time

RATE = {("tx", "pps"): re.compile(r"Rx-pps:\s+(\d+)"), ("rx", "pps"): re.compile(r"Tx-pps:\s+(\d+)"),
        ("tx", "bps"): re.compile(r"Rx-bps:\s+(\d+)"), ("rx", "bps"): re.compile(r"Tx-bps:\s+(\d+)")}


def referee_command(direction, sock, vhost_args=""):
    mode = "rxonly" if direction == "tx" else "txonly"
    # Main lcore 0 only prints the stats once a second; lcore 1 forwards.
    return ["stdbuf", "-oL", "dpdk-testpmd", "-l", "0,1", "--main-lcore", "0", "--no-pci", "--single-file-segments",
            "--file-prefix=nfref", f"--vdev=net_vhost0,iface={sock},queues=1{vhost_args}", "--", f"--forward-mode={mode}",
            "--auto-start", "--stats-period", "1", "--nb-cores=1", "--txpkts=64"]


def stop(proc, grace=5.0):
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def one_run(args, name, command, index):
    sock = os.path.join(args.workdir, "referee.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    c2c = subprocess.run([args.c2c, "0", "1"], capture_output=True, text=True, check=True).stdout.strip()
    log = open(os.path.join(args.workdir, f"run{index}-{name}.log"), "w")
    vhost_args = "," + args.vhost_args if args.vhost_args else ""
    referee = subprocess.Popen(referee_command(args.dir, sock, vhost_args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, text=True)
    frontend = None
    samples = []
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(sock):
            if referee.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the referee never listened on {sock}: {referee.stdout.read()}")
            time.sleep(0.05)
        frontend = subprocess.Popen(shlex.split(command.replace("{sock}", sock)), stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        # Samples before the frontend's first frame (its start-up) and the first second with
        # frames (a part of a second) are dropped; a frontend that never moves a frame times out.
        started = False
        give_up = time.monotonic() + args.secs + 60
        for line in referee.stdout:
            log.write("referee: " + line)
            m = RATE[(args.dir, args.metric)].search(line)
            if m:
                rate = int(m.group(1))
                if started:
                    samples.append(rate)
                started = started or rate > 0
                if len(samples) >= args.secs:
                    break
            if time.monotonic() > give_up:
                raise RuntimeError(f"frontend {name} moved no frames (see {log.name})")
            if frontend.poll() is not None:
                raise RuntimeError(f"frontend {name} exited early (see {log.name})")
    finally:
        if frontend:
            stop(frontend)
        stop(referee)
        log.close()
    return {"run": index, "frontend": name, "c2c_ns": int(float(c2c)), "pps": samples}


def percentile(values, p):
    values = sorted(values)
    if not values:
        return 0
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", choices=["tx", "rx"], required=True)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--secs", type=int, default=3)
    ap.add_argument("--workdir", default="/tmp/nfbench")
    ap.add_argument("--c2c", default=os.path.join(os.environ.get("NETFRONT_BUILD", "build"), "tools/bench/netfront-c2c"))
    ap.add_argument("--metric", choices=["pps", "bps"], default="pps")
    ap.add_argument("--vhost-args", default="")
    ap.add_argument("-A", required=True)
    ap.add_argument("-B", required=True)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    pps = {"A": [], "B": []}
    for i in range(args.runs):
        for name, command in (("A", args.A), ("B", args.B)):
            run = one_run(args, name, command, i)
            pps[name] += run["pps"]
            print(json.dumps(run), flush=True)
    summary = {name: {"p50": statistics.median(v) if v else 0, "p90": percentile(v, 90), "samples": len(v)}
               for name, v in pps.items()}
    for p in ("p50", "p90"):
        summary[f"{p}_ratio"] = round(summary["B"][p] / summary["A"][p], 3) if summary["A"][p] else None
    print(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
