#!/usr/bin/env python3
"""Summarises the meson test runs of build directories and prints, as its last line,
'N passed, N failed[, N skipped][, N disabled]', counting gtest cases one by one, with the
failed tests and cases named above it.

Each build directory's meson-logs/testlog.json (meson's verdict for each test: result,
exit status, start time, output) is read with its meson-logs/testlog.junit.xml (the cases,
gtest's own XML merged in) and meson-info/intro-tests.json (each test's protocol). A test
meson did not pass counts a failure even when its cases all passed: a crash, a timeout or a
non-zero exit after the XML was written is not a pass. The two logs must tell the same
story, and both must come from the run that started at --since: otherwise no summary is
printed and the exit status is 2. It is 1 when anything failed or nothing passed, else 0."""
import argparse
import json
import os
import re
import signal
import sys
import time
import xml.etree.ElementTree as ET

GOOD = {"OK", "SKIP", "EXPECTEDFAIL"}
# The child meson gives the one case it writes for a test that has no cases of its own.
STAND_IN_CHILD = {"FAIL": "failure", "ERROR": "error", "SKIP": "skipped"}


class Refused(Exception):
    pass


class Test:
    def __init__(self, name):
        self.name = name      # as meson prints it ("netfront:unit / io")
        self.runs = []        # its testlog.json entries (more than one with --repeat)
        self.cases = []       # (gtest suite, label, verdict) from gtest's XML or TAP
        self.stand_ins = []   # meson's own case for the whole test
        self.stale = 0        # cases dropped as older than the test's start


def verdict(case):
    if case.find("failure") is not None or case.find("error") is not None:
        return "failed"
    # meson strips gtest's result attribute, so a disabled case is known by its status.
    if case.get("status") == "notrun" or case.get("result") == "suppressed":
        return "disabled"
    if case.find("skipped") is not None or case.get("result") == "skipped":
        return "skipped"
    return "passed"


def why(run):
    code = run.get("returncode") or 0
    if run["result"] in ("TIMEOUT", "INTERRUPT") or not code:
        return run["result"]
    if code < 0:
        try:
            return f"killed by signal {-code} {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def gtest_started(suite):
    """Start of a gtest suite (gtest writes local time, to the millisecond), or None.
    A suite with no case run has no start (gtest writes the epoch)."""
    stamp = suite.get("timestamp")
    if not stamp or not any(c.get("status") == "run" for c in suite.iter("testcase")):
        return None
    try:
        return time.mktime(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + stamp[19:])
    except ValueError:
        return None


def when(t):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def load(build, since):
    logs = os.path.join(build, "meson-logs")
    jpath, xpath = os.path.join(logs, "testlog.json"), os.path.join(logs, "testlog.junit.xml")
    try:
        with open(jpath, encoding="utf-8", errors="surrogateescape") as f:
            runs = [json.loads(line) for line in f if line.strip()]
        root = ET.parse(xpath).getroot()
        mtimes = {path: os.stat(path).st_mtime for path in (jpath, xpath)}
    except (OSError, ValueError, ET.ParseError) as e:
        raise Refused(f"no test log: {e}")
    if not runs:
        raise Refused(f"{jpath} lists no test")
    if not all(isinstance(r, dict) and isinstance(r.get("name"), str) and isinstance(r.get("result"), str)
               and isinstance(r.get("starttime"), (int, float)) for r in runs):
        raise Refused(f"{jpath} has an entry without a name, result or start time")
    starts = [r["starttime"] for r in runs]
    for path, mtime in mtimes.items():
        if mtime < since:
            raise Refused(f"{path} is from before this run (written {when(mtime)}, the run started {when(since)})")
    if min(starts) < since:
        raise Refused(f"{jpath} has tests started before this run ({when(min(starts))}, the run started {when(since)})")
    # meson writes the junit once every test has ended, so one older than a test's start is another run's.
    if mtimes[xpath] < max(starts):
        raise Refused(f"{xpath} is older than tests of {jpath}: they are from different runs")
    return runs, root, protocols(build)


def protocols(build):
    """Each test's protocol (gtest, tap, exitcode...), by its command line."""
    path = os.path.join(build, "meson-info", "intro-tests.json")
    try:
        with open(path, encoding="utf-8") as f:
            tests = json.load(f)
        return {tuple(t["cmd"]): t.get("protocol", "exitcode") for t in tests}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise Refused(f"no test list: {path}: {e}")


def command_of(run):
    # meson adds where gtest writes its XML; the test list has the command without it.
    return tuple(c for c in run.get("command") or () if not str(c).startswith("--gtest_output"))


def summarise(build, runs, root, protocol_of, count, failures, disagree):
    tests = {}
    for r in runs:
        tests.setdefault(r["name"], Test(r["name"])).runs.append(r)

    for suite in root.iter("testsuite"):
        sname = suite.get("name", "")
        # meson names a suite "project" for its own cases, "project.test" for TAP and
        # "project.test.gtestsuite" for gtest, after the test's name in testlog.json
        # ("netfront:unit / io"); a project name with a dot would read as a disagreement.
        _, dot, rest = sname.partition(".")
        if not dot:
            for case in suite.iter("testcase"):
                test = tests.get(case.get("name"))
                if test is None:
                    disagree.append(f"{build}: junit has test {case.get('name')!r}, testlog.json does not")
                else:
                    test.stand_ins.append(case)
            continue
        if rest in tests:
            test, gsuite = tests[rest], ""
        else:
            name, _, gsuite = rest.rpartition(".")
            test = tests.get(name)
        if test is None:
            disagree.append(f"{build}: junit has suite {sname!r}, of no test in testlog.json")
            continue
        started = gtest_started(suite)
        # A binary that died before writing its XML leaves meson the previous run's.
        if started is not None and started < min(r["starttime"] for r in test.runs) - 1:
            test.stale += len(suite.findall(".//testcase"))
            continue
        for case in suite.iter("testcase"):
            label = ".".join(p for p in (gsuite, case.get("name")) if p)
            test.cases.append((gsuite, label, verdict(case)))

    for test in tests.values():
        check(build, test, disagree)
        results = {r["result"] for r in test.runs}
        if results == {"EXPECTEDFAIL"}:
            count["passed"] += 1  # failed as it should: its failed cases are the expected failure
            continue
        # A non-zero exit is never a pass, whatever result meson gave.
        bad = [r for r in test.runs if r["result"] not in GOOD or (r["result"] == "OK" and (r.get("returncode") or 0) != 0)]
        gtest = any(protocol_of.get(command_of(r)) == "gtest" for r in test.runs)
        reason = why(bad[0]) if bad else ""
        if test.stale:
            reason += f" (its {test.stale} cases are from an earlier run's gtest XML)"
        before = len(failures)
        for _, label, v in test.cases:
            count[v] += 1
            if v == "failed":
                failures.append(f"{build}: {test.name}: {label}")
        # A gtest binary that ended without writing any case (returned before RUN_ALL_TESTS,
        # say) ran nothing: meson's own case would count it as passed.
        if gtest and not test.cases and not bad and results != {"SKIP"}:
            failures.append(f"{build}: {test.name}: ran no test cases (a gtest binary that wrote none)")
            count["failed"] += 1
            continue
        # meson writes no failure for a timeout: its own case stands for the test's result.
        for _ in test.stand_ins:
            if bad:
                failures.append(f"{build}: {test.name}: {reason}")
                count["failed"] += 1
            else:
                count["skipped" if results == {"SKIP"} else "passed"] += 1
        ran = len(test.stand_ins) + sum(v != "disabled" for _, _, v in test.cases)
        if bad and len(failures) == before:
            failures.append(f"{build}: {test.name}: {reason}")
            count["failed"] += 1
        elif not ran and results == {"SKIP"}:
            count["skipped"] += 1
        elif not ran:
            failures.append(f"{build}: {test.name}: ran no test cases{reason}")
            count["failed"] += 1


def check(build, test, disagree):
    """What testlog.json says of the test against its junit cases."""
    def differ(what):
        disagree.append(f"{build}: {test.name}: {what}")

    if len(test.runs) != 1:
        return
    run = test.runs[0]
    for case in test.stand_ins:
        child = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), None)
        if child != STAND_IN_CHILD.get(run["result"]):
            differ(f"testlog.json says {run['result']}, its junit case has {child or 'no verdict'}")
    failed = sum(v == "failed" for _, _, v in test.cases)
    if run["result"] in ("OK", "SKIP") and failed:
        differ(f"testlog.json says {run['result']}, junit has {failed} failed cases")
    # gtest's own tally in the output meson kept, against the cases of its XML.
    out = run.get("stdout") or ""
    tally = re.findall(r"^\[==========\] (\d+) tests? from \d+ test suites? ran\.", out, re.M)
    cases = [v for g, _, v in test.cases if g != "NonTestSuiteFailure"]
    if len(tally) == 1 and cases:
        said = re.search(r"^\[  FAILED  \] (\d+) tests?, listed below:", out, re.M)
        said = (int(tally[0]), int(said[1]) if said else 0)
        has = (sum(v != "disabled" for v in cases), cases.count("failed"))
        if said != has:
            differ(f"its output says {said[0]} cases ran and {said[1]} failed, junit has {has[0]} and {has[1]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--since", type=float, default=0, metavar="EPOCH_SECONDS",
                        help="when this run started: older logs are refused")
    parser.add_argument("builds", nargs="+", metavar="BUILD_DIR")
    args = parser.parse_args()
    count = {"passed": 0, "failed": 0, "skipped": 0, "disabled": 0}
    failures, disagree = [], []
    for build in args.builds:
        try:
            runs, root, protocol_of = load(build, args.since)
        except Refused as e:
            print(f"no summary: {e}")
            return 2
        summarise(build, runs, root, protocol_of, count, failures, disagree)
    if disagree:
        print("\n".join(disagree))
        print("no summary: testlog.json and testlog.junit.xml disagree")
        return 2
    for failure in failures:
        print(f"FAILED {failure}")
    line = f"{count['passed']} passed, {count['failed']} failed"
    for kind in ("skipped", "disabled"):
        if count[kind]:
            line += f", {count[kind]} {kind}"
    print(line)
    return 1 if count["failed"] or not count["passed"] else 0


if __name__ == "__main__":
    sys.exit(main())
