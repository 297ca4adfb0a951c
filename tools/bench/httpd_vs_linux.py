#!/usr/bin/env python3
"""netfront-httpd (lwIP on netfront) against the same server on Linux's own stack, side by side.

The clients (ab, curl) run in one network namespace. netfront-httpd is reached through a
dpdk-testpmd bridge in that namespace (a net_tap port there, io forwarding to its net_vhost
port, netfront's backend); linux-httpd, which serves the same /bytes/N with the same parser and
keep-alive rules, runs in a second namespace behind a veth pair. Runs alternate between the two
servers (which goes first alternates too), every run's number is kept, and the table gives the
50th and 90th percentiles and their ratio:

  requests/s  ab -n REQUESTS -c 100 -k .../bytes/100      (small responses, 100 connections)
  Mbit/s      curl .../bytes/BULK                         (one bulk TCP download)

  tools/bench/httpd_vs_linux.py [--build build] [--runs 10] [--requests 20000] [--bulk-mb 200]

With --instructions, netfront-httpd runs under callgrind instead, twice, serving ab 2000 and
then 6000 small requests (100 connections): the difference of its instruction counts over the
difference of requests is its cost per request, start-up and shutdown cancelled out (its loop
sleeps when idle, so waiting costs next to nothing). Linux's stack has no such count (its work
is in the kernel).

Needs root (namespaces, taps). Writes build/bench/httpd_vs_linux.json.
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

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sh(cmd, check=True):
    return subprocess.run(cmd, shell=True, check=check, capture_output=True, text=True).stdout


def percentile(values, p):
    v = sorted(values)
    if not v:
        return 0.0
    k = (len(v) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


class Bench:
    def __init__(self, build, idle, wrapper=()):
        self.build = build
        self.idle = idle
        self.wrapper = list(wrapper)  # e.g. valgrind's command line, in front of netfront-httpd
        self.tag = "nfb%d" % os.getpid()
        self.cli, self.srv = self.tag + "c", self.tag + "s"
        self.dir = tempfile.mkdtemp(prefix="netfront-bench-")
        self.procs = []

    def start(self):
        sh(f"ninja -C {self.build} tools/bench/linux-httpd tools/httpd/netfront-httpd")
        sh(f"ip netns add {self.cli} && ip netns add {self.srv}")
        sh(f"ip -n {self.cli} link set lo up && ip -n {self.srv} link set lo up")
        sh(f"ip link add {self.tag}a netns {self.cli} type veth peer name {self.tag}b netns {self.srv}")
        sh(f"ip -n {self.cli} addr add 10.8.0.1/24 dev {self.tag}a && ip -n {self.cli} link set {self.tag}a up")
        sh(f"ip -n {self.srv} addr add 10.8.0.2/24 dev {self.tag}b && ip -n {self.srv} link set {self.tag}b up")
        sock = os.path.join(self.dir, "vh.sock")
        tap = self.tag + "t"
        log = open(os.path.join(self.dir, "testpmd.log"), "w")
        self.procs.append(subprocess.Popen(
            ["ip", "netns", "exec", self.cli, "dpdk-testpmd", "-l", "0,1", "--main-lcore", "0", "--no-pci", "--no-huge",
             "-m", "512", "--file-prefix", self.tag, "--vdev", f"net_vhost0,iface={sock}", "--vdev", f"net_tap0,iface={tap}",
             "--", "--forward-mode=io", "--port-topology=paired", "--auto-start", "--no-flush-rx", "--nb-cores=1",
             "--total-num-mbufs=16384", "--stats-period", "5"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        for _ in range(300):
            if os.path.exists(sock) and not subprocess.run(f"ip -n {self.cli} link show {tap}", shell=True,
                                                           capture_output=True).returncode:
                break
            time.sleep(0.05)
        sh(f"ip -n {self.cli} addr add 10.9.0.1/24 dev {tap} && ip -n {self.cli} link set {tap} up")
        env = dict(os.environ, NETFRONT_MEMORY="memfd")
        self.procs.append(subprocess.Popen(
            self.wrapper + [os.path.join(self.build, "tools/httpd/netfront-httpd"), "--device", f"vhost-user:{sock}", "--ip", "10.9.0.2/24",
             "--max-connections", "400", "--idle", self.idle],
            stdout=open(os.path.join(self.dir, "httpd.log"), "w"), stderr=subprocess.STDOUT, stdin=subprocess.PIPE, env=env))
        self.procs.append(subprocess.Popen(
            ["ip", "netns", "exec", self.srv, os.path.join(self.build, "tools/bench/linux-httpd"), "80"],
            stdout=open(os.path.join(self.dir, "linux-httpd.log"), "w"), stderr=subprocess.STDOUT))
        for ip in ("10.9.0.2", "10.8.0.2"):
            for _ in range(2000 if self.wrapper else 200):
                if self.client(f"curl -s -m 2 -o /dev/null -w '%{{http_code}}' http://{ip}/bytes/1", check=False) == "200":
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError(f"{ip} does not answer; logs in {self.dir}")

    def client(self, cmd, check=True):
        return sh(f"ip netns exec {self.cli} {cmd}", check=check)

    def requests_per_second(self, ip, n):
        out = self.client(f"ab -q -n {n} -c 100 -k http://{ip}/bytes/100 2>&1")
        failed = int(re.search(r"Failed requests:\s+(\d+)", out).group(1))
        rate = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))
        return rate if failed == 0 else 0.0

    def bulk_mbps(self, ip, nbytes):
        out = self.client(f"curl -s -m 300 -o /dev/null -w '%{{size_download}} %{{speed_download}}' http://{ip}/bytes/{nbytes}")
        size, speed = out.split()
        return float(speed) * 8 / 1e6 if int(size) == nbytes else 0.0

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        sh(f"ip netns del {self.cli}; ip netns del {self.srv}", check=False)
        sh(f"rm -rf {self.dir} /var/run/dpdk/{self.tag}", check=False)


def instructions_per_request(build):
    counts = {}
    for n in (2000, 6000):
        out = tempfile.mktemp(prefix="netfront-httpd-", suffix=".callgrind")
        b = Bench(build, "sleep", ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out])
        try:
            b.start()
            b.client(f"ab -q -n {n} -c 100 -k http://10.9.0.2/bytes/100 2>&1")
        finally:
            b.stop()
        with open(out) as f:
            counts[n] = int(re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M).group(1))
        os.unlink(out)
    per_request = (counts[6000] - counts[2000]) / 4000
    print(f"netfront-httpd instructions: {counts[2000]} for 2000 requests, {counts[6000]} for 6000: "
          f"{per_request:.0f} per request (HTTP, lwIP, netfront and the loop together)")
    return per_request


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--bulk-mb", type=int, default=200)
    ap.add_argument("--idle", choices=["poll", "sleep"], default="poll", help="netfront-httpd's loop when idle")
    ap.add_argument("--instructions", action="store_true", help="instructions per request under callgrind instead")
    a = ap.parse_args()
    if a.instructions:
        per_request = instructions_per_request(os.path.abspath(a.build))
        out = os.path.join(os.path.abspath(a.build), "bench")
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "httpd_instructions.json"), "w") as f:
            json.dump({"instructions_per_request": per_request}, f)
        return 0
    b = Bench(os.path.abspath(a.build), a.idle)
    servers = {"netfront+lwIP": "10.9.0.2", "Linux": "10.8.0.2"}
    samples = {name: {"requests_per_s": [], "bulk_mbit_s": []} for name in servers}
    try:
        b.start()
        for run in range(a.runs):
            order = list(servers) if run % 2 == 0 else list(reversed(servers))
            for name in order:
                samples[name]["requests_per_s"].append(b.requests_per_second(servers[name], a.requests))
                samples[name]["bulk_mbit_s"].append(b.bulk_mbps(servers[name], a.bulk_mb << 20))
    finally:
        b.stop()
    print(f"{a.runs} alternating runs; ab -n {a.requests} -c 100 -k /bytes/100; curl /bytes/{a.bulk_mb << 20}")
    print(f"{'':16} {'req/s p50':>10} {'req/s p90':>10} {'Mbit/s p50':>11} {'Mbit/s p90':>11}")
    table = {}
    for name in servers:
        s = samples[name]
        row = {k: {"p50": percentile(v, 50), "p90": percentile(v, 90), "runs": v} for k, v in s.items()}
        table[name] = row
        print(f"{name:16} {row['requests_per_s']['p50']:10.0f} {row['requests_per_s']['p90']:10.0f} "
              f"{row['bulk_mbit_s']['p50']:11.0f} {row['bulk_mbit_s']['p90']:11.0f}")
    nf, lx = table["netfront+lwIP"], table["Linux"]
    ratio = {k: {p: (nf[k][p] / lx[k][p] if lx[k][p] else 0.0) for p in ("p50", "p90")} for k in nf}
    print(f"{'ratio':16} {ratio['requests_per_s']['p50']:10.2f} {ratio['requests_per_s']['p90']:10.2f} "
          f"{ratio['bulk_mbit_s']['p50']:11.2f} {ratio['bulk_mbit_s']['p90']:11.2f}")
    out = os.path.join(a.build, "bench")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "httpd_vs_linux.json"), "w") as f:
        json.dump({"servers": table, "ratio": ratio, "runs": a.runs, "requests": a.requests, "bulk_bytes": a.bulk_mb << 20,
                   "cpus": os.cpu_count()}, f, indent=1)
    return 0 if all(v > 0 for s in samples.values() for vs in s.values() for v in vs) else 1


if __name__ == "__main__":
    sys.exit(main())
