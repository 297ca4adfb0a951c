#!/usr/bin/env bash
# The whole test suite: builds first (installing what is missing), runs every meson test,
# then the unit, engine and fault tests and the fuzz targets (seed corpus plus a few seconds of
# mutations) again under AddressSanitizer and UndefinedBehaviorSanitizer, the multi-queue
# cases under ThreadSanitizer, and ends with one line counting the test cases of all runs:
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

# The binaries meson runs for suite $2 of build directory $1 (from its test list), so that a
# partial build compiles exactly what its tests will run.
suite_binaries() {
  python3 - "$1" "$2" <<'EOF'
import json, os, sys
build, suite = sys.argv[1:]
with open(os.path.join(build, "meson-info", "intro-tests.json")) as f:
    tests = json.load(f)
print(" ".join(sorted({os.path.relpath(t["cmd"][0], build) for t in tests
                       if any(s.split(":")[-1] == suite for s in t["suite"])})))
EOF
}
# Builds netfront and the appliance image the end-to-end tests boot.
tools/appliance/build-image.sh >/dev/null || exit 1
build=${NETFRONT_BUILD:-build}
# Nothing from an earlier run may pass for this one's: meson merges <build>/<test>.xml, which
# gtest writes, into its log even when the binary died before writing a new one, and a failed
# rebuild leaves the old logs. The summary refuses logs older than $start.
start=$(date +%s)
rm -f "$build"/*.xml "$build"/meson-logs/testlog.*
meson test -C "$build" --print-errorlogs "$@"
status=$?
builds=("$build")

if [[ ${NETFRONT_SANITIZE:-1} != 0 ]]; then
  # GCC 12 reports a -Wmaybe-uninitialized false positive inside std::variant under
  # -fsanitize, so this build does not turn warnings into errors (the main build does).
  # The allocation test replaces malloc and cannot run beside ASan's; the integration tests
  # run once, above. DPDK keeps its start-up allocations for the life of the process, so leak
  # reports are off here; buffer leaks are what the tests' pool counts check. Unoptimised
  # (-O0): the build takes less than half as long, and the sanitizers see the code as written.
  sbuild="$build-sanitize"
  if [[ ! -f $sbuild/build.ninja ]]; then
    meson setup "$sbuild" -Db_sanitize=address,undefined -Db_lto=false -Dwerror=false -Dbuildtype=debug >/dev/null || exit 1
  fi
  # Only what the tests of suite 'sanitized' run is built here: the tools and the other tests
  # stay out. Regenerate first if meson.build changed since that directory was set up, so the
  # test list is the current one.
  ninja -C "$sbuild" build.ninja >/dev/null || exit 1
  # shellcheck disable=SC2046
  ninja -C "$sbuild" $(suite_binaries "$sbuild" sanitized) >/dev/null || exit 1
  rm -f "$sbuild"/*.xml "$sbuild"/meson-logs/testlog.*
  ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C "$sbuild" --no-rebuild --print-errorlogs --suite sanitized || status=1
  builds+=("$sbuild")
fi

if [[ ${NETFRONT_TSAN:-1} != 0 ]]; then
  # Queue pairs on loops of other threads (the multi-queue and hand-over cases), again under
  # ThreadSanitizer: a data race there fails the run even when the frames came out right.
  tbuild="$build-tsan"
  if [[ ! -f $tbuild/build.ninja ]]; then
    meson setup "$tbuild" -Db_sanitize=thread -Db_lto=false -Dwerror=false >/dev/null || exit 1
  fi
  ninja -C "$tbuild" build.ninja >/dev/null || exit 1
  # shellcheck disable=SC2046
  ninja -C "$tbuild" $(suite_binaries "$tbuild" threads) >/dev/null || exit 1
  rm -f "$tbuild"/*.xml "$tbuild"/meson-logs/testlog.*
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    meson test -C "$tbuild" --no-rebuild --print-errorlogs --suite threads || status=1
  builds+=("$tbuild")
fi

python3 tools/test_summary.py --since "$start" "${builds[@]}" || status=1
exit $status
