#!/usr/bin/env python3
"""tools/test_summary.py on crafted meson logs, written the way meson 1.0 writes them:
testlog.json with one entry per test, and testlog.junit.xml with gtest's XML merged in or,
for a test without one, a single case of meson's own. Each case is a way a summary could
pass off a failure or an old run as a pass; each asserts the last line and the exit status."""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

SCRIPT = os.environ.get("TEST_SUMMARY") or str(Path(__file__).resolve().parents[2] / "tools" / "test_summary.py")
PROJECT = "netfront"
DISAGREE = "no summary: testlog.json and testlog.junit.xml disagree"


def when(t):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def gtest_output(ran, failed=0, skipped=0):
    """The tally gtest prints at the end of a run."""
    out = f"[==========] Running {ran} tests from 1 test suite.\n"
    out += f"[==========] {ran} tests from 1 test suite ran. (3 ms total)\n"
    out += f"[  PASSED  ] {ran - failed - skipped} tests.\n"
    if skipped:
        out += f"[  SKIPPED ] {skipped} tests, listed below:\n"
    if failed:
        out += f"[  FAILED  ] {failed} tests, listed below:\n"
    return out


def gtest_suite(test, gsuite, cases, started):
    """A suite of gtest's XML as meson merges it: renamed, with the cases' result and timestamp
    attributes removed. gtest stamps a suite none of whose cases ran with the epoch."""
    if all(how == "disabled" for how in cases.values()):
        started = 0
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)) + f".{int(started * 1000) % 1000:03d}"
    suite = ET.Element("testsuite", name=f"{PROJECT}.{test}.{gsuite}", tests=str(len(cases)),
                       failures="0", disabled="0", skipped="0", errors="0", time="0.01", timestamp=stamp)
    for name, how in cases.items():
        case = ET.SubElement(suite, "testcase", name=name, status="notrun" if how == "disabled" else "run",
                             time="0.001", classname=gsuite)
        if how == "failed":
            ET.SubElement(case, "failure", message="io_test.cpp:12\nExpected equality", type="")
        elif how == "skipped":
            ET.SubElement(case, "skipped", message="io_test.cpp:20\nSkipped")
    return suite


def write_logs(build, tests, start, extra_suites=()):
    """tests: dicts with name, result, returncode, stdout, and xml, gtest's suites
    ({suite: {case: passed|failed|skipped|disabled}}; None when the binary wrote none, so
    meson writes its own case, whose verdict follows junit_result, by default the result)."""
    logs = Path(build, "meson-logs")
    logs.mkdir(parents=True)
    root = ET.Element("testsuites", tests="0", errors="0", failures="0")
    own = ET.Element("testsuite", name=PROJECT, tests="0", errors="0", failures="0", skipped="0", time="1")
    with open(logs / "testlog.json", "w") as f:
        for t in tests:
            result = t.get("result", "OK")
            # meson names the test in both logs as it prints it.
            name = f"{PROJECT}:{t.get('suite', 'unit')} / {t['name']}"
            f.write(json.dumps({"name": name,
                                "stdout": t.get("stdout", ""), "result": result, "starttime": start,
                                "duration": 0.5, "returncode": t.get("returncode", 0), "env": {},
                                "command": [f"unit-{t['name']}"]}) + "\n")
            if t.get("xml") is None:
                case = ET.SubElement(own, "testcase", name=name, classname=PROJECT, time="0.5")
                child = {"FAIL": "failure", "ERROR": "error", "SKIP": "skipped"}.get(t.get("junit_result", result))
                if child:
                    ET.SubElement(case, child)
            else:
                for gsuite, cases in t["xml"].items():
                    root.append(gtest_suite(name, gsuite, cases, t.get("xml_started", start + 0.2)))
    root.extend(extra_suites)
    if len(own):
        root.append(own)
    ET.ElementTree(root).write(logs / "testlog.junit.xml", encoding="utf-8", xml_declaration=True)
    # The test list meson writes at setup: each test's protocol (gtest where gtest XML is given).
    info = Path(build, "meson-info")
    info.mkdir()
    with open(info / "intro-tests.json", "w") as f:
        json.dump([{"name": t["name"], "cmd": [f"unit-{t['name']}"], "suite": [f"{PROJECT}:{t.get('suite', 'unit')}"],
                    "protocol": t.get("protocol", "gtest" if "xml" in t else "exitcode")} for t in tests], f)
    return logs


class Summary(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name
        self.since = int(time.time()) - 60
        self.start = time.time() - 5

    def build(self, tests, name="build", **kwargs):
        path = os.path.join(self.tmp, name)
        write_logs(path, tests, self.start, **kwargs)
        return path

    def summary(self, *builds):
        p = subprocess.run([sys.executable, SCRIPT, "--since", str(self.since), *builds],
                           capture_output=True, text=True)
        self.assertEqual(p.stderr, "")
        self.output = p.stdout.splitlines()
        return (self.output[-1] if self.output else ""), p.returncode

    def check(self, tests, line, code, failed=()):
        """The summary of one build of these tests, and the FAILED lines above it."""
        build = self.build(tests)
        self.assertEqual(self.summary(build), (line, code), self.output)
        self.assertEqual([l for l in self.output if l.startswith("FAILED ")],
                         [f"FAILED {build}: {PROJECT}:unit / {f}" for f in failed])

    def test_all_ok(self):
        self.check([{"name": "io", "xml": {"IoTest": {"Reads": "passed", "Writes": "passed"}},
                     "stdout": gtest_output(2)},
                    {"name": "fuzz-pci-capabilities", "suite": "fuzz"}],
                   "3 passed, 0 failed", 0)

    def test_gtest_failure(self):
        self.check([{"name": "io", "result": "FAIL", "returncode": 1, "stdout": gtest_output(2, failed=1),
                     "xml": {"IoTest": {"Reads": "passed", "Writes": "failed"}}}],
                   "1 passed, 1 failed", 1, ["io: IoTest.Writes"])

    def test_timeout(self):
        # Killed before gtest wrote its XML: meson's own case, with no failure child.
        self.check([{"name": "io", "result": "TIMEOUT", "returncode": -15}],
                   "0 passed, 1 failed", 1, ["io: TIMEOUT"])

    def test_timeout_with_the_previous_runs_xml(self):
        self.check([{"name": "io", "result": "TIMEOUT", "returncode": -15,
                     "xml": {"IoTest": {"Reads": "passed", "Writes": "passed"}}, "xml_started": self.start - 3600}],
                   "0 passed, 1 failed", 1, ["io: TIMEOUT (its 2 cases are from an earlier run's gtest XML)"])

    def test_crash_with_the_previous_runs_xml(self):
        self.check([{"name": "io", "result": "FAIL", "returncode": -11, "stdout": "[ RUN      ] IoTest.Reads\n",
                     "xml": {"IoTest": {"Reads": "passed", "Writes": "passed"}}, "xml_started": self.start - 3600}],
                   "0 passed, 1 failed", 1,
                   ["io: killed by signal 11 SIGSEGV (its 2 cases are from an earlier run's gtest XML)"])

    def test_crash_without_xml(self):
        self.check([{"name": "io", "result": "FAIL", "returncode": -6}],
                   "0 passed, 1 failed", 1, ["io: killed by signal 6 SIGABRT"])

    def test_error_before_any_case(self):
        # dpdk_main.cpp returns 1 when DPDK does not start, before gtest runs anything.
        self.check([{"name": "buffer", "result": "FAIL", "returncode": 1, "stdout": "DPDK did not start: no hugepages\n"}],
                   "0 passed, 1 failed", 1, ["buffer: exit status 1"])

    def test_nonzero_exit_after_a_passing_xml(self):
        self.check([{"name": "io", "result": "FAIL", "returncode": 1, "stdout": gtest_output(2),
                     "xml": {"IoTest": {"Reads": "passed", "Writes": "passed"}}}],
                   "2 passed, 1 failed", 1, ["io: exit status 1"])

    def test_gtest_binary_that_exits_0_without_writing_any_case(self):
        # dpdk_main-style main() returning 0 before RUN_ALL_TESTS: meson writes a case of its own.
        self.check([{"name": "io", "protocol": "gtest"}, {"name": "pci", "xml": {"PciTest": {"Reads": "passed"}}}],
                   "1 passed, 1 failed", 1, ["io: ran no test cases (a gtest binary that wrote none)"])

    def test_a_plain_test_without_cases_passes_by_its_exit(self):
        self.check([{"name": "summary", "protocol": "exitcode"}], "1 passed, 0 failed", 0)

    def test_ok_with_a_nonzero_exit_is_a_failure(self):
        self.check([{"name": "io", "returncode": 1, "xml": {"IoTest": {"Reads": "passed"}}}],
                   "1 passed, 1 failed", 1, ["io: exit status 1"])

    def test_zero_cases(self):
        # gtest's XML without a suite: meson merges nothing, so the junit has no trace of the test.
        self.check([{"name": "io", "stdout": "[==========] 0 tests from 0 test suites ran.\n", "xml": {}},
                    {"name": "pci", "xml": {"PciTest": {"Reads": "passed"}}}],
                   "1 passed, 1 failed", 1, ["io: ran no test cases (a gtest binary that wrote none)"])

    def test_only_disabled_cases(self):
        self.check([{"name": "io", "xml": {"IoTest": {"DISABLED_Reads": "disabled"}}}],
                   "0 passed, 1 failed, 1 disabled", 1, ["io: ran no test cases"])

    def test_disabled_and_skipped(self):
        self.check([{"name": "io", "stdout": gtest_output(3, skipped=1),
                     "xml": {"IoTest": {"Reads": "passed", "Writes": "passed", "Polls": "skipped",
                                        "DISABLED_Blocks": "disabled"},
                             "OffTest": {"DISABLED_All": "disabled"}}},
                    {"name": "telemetry", "suite": "integration", "result": "SKIP", "returncode": 77}],
                   "2 passed, 0 failed, 2 skipped, 2 disabled", 0)

    def test_nothing_passed(self):
        self.check([{"name": "telemetry", "result": "SKIP", "returncode": 77}], "0 passed, 0 failed, 1 skipped", 1)

    def test_two_builds(self):
        build = self.build([{"name": "io", "xml": {"IoTest": {"Reads": "passed"}}, "stdout": gtest_output(1)},
                            {"name": "fuzz-mergeable-rx", "suite": "fuzz"}])
        sanitized = self.build([{"name": "io", "result": "FAIL", "returncode": 1,
                                 "xml": {"IoTest": {"Reads": "passed"}}, "stdout": gtest_output(1)}], "build-sanitize")
        self.assertEqual(self.summary(build, sanitized), ("3 passed, 1 failed", 1))
        self.assertEqual(self.output[:-1], [f"FAILED {sanitized}: {PROJECT}:unit / io: exit status 1"])

    def test_log_written_before_the_run(self):
        build = self.build([{"name": "io", "xml": {"IoTest": {"Reads": "passed"}}}])
        old = self.since - 100
        for log in Path(build, "meson-logs").iterdir():
            os.utime(log, (old, old))
        self.assertEqual(self.summary(build), (
            f"no summary: {build}/meson-logs/testlog.json is from before this run "
            f"(written {when(old)}, the run started {when(self.since)})", 2))

    def test_tests_started_before_the_run(self):
        self.start = self.since - 100
        build = self.build([{"name": "io", "xml": {"IoTest": {"Reads": "passed"}}}])
        self.assertEqual(self.summary(build), (
            f"no summary: {build}/meson-logs/testlog.json has tests started before this run "
            f"({when(self.start)}, the run started {when(self.since)})", 2))

    def test_no_log(self):
        # A failed rebuild after tools/test.sh removed the old logs.
        build = os.path.join(self.tmp, "build")
        self.assertEqual(self.summary(build), (
            f"no summary: no test log: [Errno 2] No such file or directory: '{build}/meson-logs/testlog.json'", 2))

    def test_junit_of_an_earlier_run(self):
        build = self.build([{"name": "io", "xml": {"IoTest": {"Reads": "passed"}}}])
        older = self.start - 1
        os.utime(Path(build, "meson-logs", "testlog.junit.xml"), (older, older))
        self.assertEqual(self.summary(build), (
            f"no summary: {build}/meson-logs/testlog.junit.xml is older than tests of "
            f"{build}/meson-logs/testlog.json: they are from different runs", 2))

    def disagree(self, tests, why, **kwargs):
        build = self.build(tests, **kwargs)
        self.assertEqual(self.summary(build), (DISAGREE, 2))
        self.assertEqual(self.output[:-1], [f"{build}: {why}"])

    def test_junit_test_not_in_json(self):
        self.disagree([{"name": "io"}], f"junit has suite '{PROJECT}.{PROJECT}:unit / pci.PciTest', of no test in testlog.json",
                      extra_suites=[gtest_suite(f"{PROJECT}:unit / pci", "PciTest", {"Reads": "passed"}, self.start)])

    def test_json_ok_junit_failed(self):
        self.disagree([{"name": "io", "xml": {"IoTest": {"Reads": "failed"}}}],
                      f"{PROJECT}:unit / io: testlog.json says OK, junit has 1 failed cases")

    def test_json_failed_junit_passed(self):
        self.disagree([{"name": "fuzz-split-used-ring", "suite": "fuzz", "result": "FAIL", "returncode": 1,
                        "junit_result": "OK"}],
                      f"{PROJECT}:fuzz / fuzz-split-used-ring: testlog.json says FAIL, its junit case has no verdict")

    def test_output_tally_differs_from_xml(self):
        self.disagree([{"name": "io", "stdout": gtest_output(3), "xml": {"IoTest": {"Reads": "passed", "Writes": "passed"}}}],
                      f"{PROJECT}:unit / io: its output says 3 cases ran and 0 failed, junit has 2 and 0")


if __name__ == "__main__":
    unittest.main()
