#!/usr/bin/env bash
# The whole test suite: builds first (installing what is missing), runs every meson test,
# and ends with one line counting the test cases: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
tools/build.sh || exit 1
build=${NETFRONT_BUILD:-build}
meson test -C "$build" --print-errorlogs "$@"
status=$?
python3 tools/test_summary.py "$build/meson-logs/testlog.junit.xml" || status=1
exit $status
