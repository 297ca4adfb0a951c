#!/usr/bin/env python3
"""Instructions per frame, function by function, from two callgrind profiles of one program
that differ only in how many frames it handled (as instructions_vhost.sh --keep writes them:
NAME.20.callgrind / NAME.20.frames and NAME.50.callgrind / NAME.50.frames).

    tools/bench/per_function.py DIR/NAME                 # where one build's instructions go
    tools/bench/per_function.py OLD/NAME NEW/NAME        # and how another build differs

Whole-run counts over vhost-user move with how often a poll finds work; the functions whose
work is fixed per frame do not, which makes this the way to compare two builds.
"""
import collections
import re
import subprocess
import sys

LINE = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+(.*)$")
FILE_PREFIX = re.compile(r"^[^:]*:(?!:)")  # "path/file.cpp:" before a function's name
SUFFIX = re.compile(r" \[[^\]]*\]$")  # "[binary]" and "[clone .lto_priv.0]": one function


def profile(path):
    """Exclusive instructions per function, the files its inlined code came from merged."""
    out = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", "--tree=none", path],
                         capture_output=True, text=True, check=True).stdout
    costs, total = collections.Counter(), 0
    for line in out.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        value = int(m.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in line:
            total = value
            continue
        name = FILE_PREFIX.sub("", m.group(2), count=1)
        while SUFFIX.search(name):
            name = SUFFIX.sub("", name)
        costs[name] += value
    return costs, total


def per_frame(base):
    short, t_short = profile(base + ".20.callgrind")
    long, t_long = profile(base + ".50.callgrind")
    frames = int(open(base + ".50.frames").read()) - int(open(base + ".20.frames").read())
    if frames <= 0:
        sys.exit(f"{base}: the longer run handled no more frames than the shorter one")
    names = set(short) | set(long)
    return {n: (long[n] - short[n]) / frames for n in names}, (t_long - t_short) / frames


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    first, first_total = per_frame(sys.argv[1])
    if len(sys.argv) == 2:
        print(f"{first_total:8.1f}  in all")
        for name, cost in sorted(first.items(), key=lambda kv: -kv[1])[:25]:
            print(f"{cost:8.2f}  {name[:150]}")
        return
    second, second_total = per_frame(sys.argv[2])
    print(f"{'old':>8} {'new':>8} {'change':>8}")
    print(f"{first_total:8.1f} {second_total:8.1f} {second_total - first_total:+8.2f}  in all")
    names = sorted(set(first) | set(second), key=lambda n: -max(first.get(n, 0), second.get(n, 0)))
    for name in names[:25]:
        a, b = first.get(name, 0.0), second.get(name, 0.0)
        print(f"{a:8.2f} {b:8.2f} {b - a:+8.2f}  {name[:150]}")


if __name__ == "__main__":
    main()
