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
builds=("$build")

# The sanitizer builds compile while the main tests run, at the lowest CPU priority: the
# tests leave a CPU idle much of the time (a TCG guest, a peer waiting on the network), and at
# nice 19 the compilers take none that a test wants, so no test runs slower or times out for
# them. Each build's output goes to its log, printed only if it fails.
#
# ASan and UBSan: GCC 12 reports a -Wmaybe-uninitialized false positive inside std::variant
# under -fsanitize, so this build does not turn warnings into errors (the main build does).
# Unoptimised (-O0): the build takes less than half as long, and the sanitizers see the code
# as written. Only what the tests of suite 'sanitized' run is built: the tools and the other
# tests stay out. Regenerate first if meson.build changed since the directory was set up, so
# the test list is the current one.
#
# TSan: the cases where queue pairs run on loops of other threads (suite 'threads'), unoptimised
# as the ASan build is: after the main tests the two builds are what the run waits for.
sbuild="$build-sanitize"
tbuild="$build-tsan"
build_for() {  # <directory> <suite> <meson setup options...>
  local dir=$1 suite=$2
  shift 2
  if [[ ! -f $dir/build.ninja ]]; then meson setup "$dir" "$@" || return 1; fi
  ninja -C "$dir" build.ninja || return 1
  # shellcheck disable=SC2046
  ninja -C "$dir" $(suite_binaries "$dir" "$suite")
}
# Each in a process group of its own (setsid), so that a run that ends early ends them too.
# setsid also makes a new scheduler autogroup (Debian's kernels group by session), and nice
# counts only within a group: the group itself is given the lowest weight, or the builds would
# take half the CPUs from the tests whatever their nice.
lowest_group='echo 19 >/proc/self/autogroup 2>/dev/null || true'
background=()
trap 'for pid in "${background[@]}"; do kill -- -"$pid" 2>/dev/null; done' EXIT
sanitize_pid=
if [[ ${NETFRONT_SANITIZE:-1} != 0 ]]; then
  nice -n 19 setsid bash -c "$lowest_group; $(declare -f suite_binaries build_for); build_for '$sbuild' sanitized \
    -Db_sanitize=address,undefined -Db_lto=false -Dwerror=false -Dbuildtype=debug" >"$build/sanitize-build.log" 2>&1 &
  sanitize_pid=$!
  background+=("$sanitize_pid")
fi
if [[ ${NETFRONT_TSAN:-1} != 0 ]]; then
  # After the ASan build, not beside it: two builds at nice 19 would only take turns.
  nice -n 19 setsid bash -c "$lowest_group; while [[ -n '$sanitize_pid' ]] && kill -0 '$sanitize_pid' 2>/dev/null; do sleep 1; done
    $(declare -f suite_binaries build_for); build_for '$tbuild' threads -Db_sanitize=thread -Db_lto=false -Dwerror=false -Dbuildtype=debug" \
    >"$build/tsan-build.log" 2>&1 &
  tsan_pid=$!
  background+=("$tsan_pid")
fi
# Waits for a background build; false (its log printed) if it failed.
built() {  # <pid> <log>
  wait "$1" && return 0
  echo "test.sh: the build logged in $2 failed:" >&2
  tail -n 60 "$2" >&2
  return 1
}

rm -f "$build"/*.xml "$build"/meson-logs/testlog.*
meson test -C "$build" --print-errorlogs "$@"
status=$?

if [[ ${NETFRONT_SANITIZE:-1} != 0 ]]; then
  # The allocation test replaces malloc and cannot run beside ASan's; the integration tests run
  # once, above. DPDK keeps its start-up allocations for the life of the process, so leak
  # reports are off here; buffer leaks are what the tests' pool counts check.
  built "$sanitize_pid" "$build/sanitize-build.log" || exit 1
  rm -f "$sbuild"/*.xml "$sbuild"/meson-logs/testlog.*
  ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C "$sbuild" --no-rebuild --print-errorlogs --suite sanitized || status=1
  builds+=("$sbuild")
fi

if [[ ${NETFRONT_TSAN:-1} != 0 ]]; then
  # A data race there fails the run even when the frames came out right.
  built "$tsan_pid" "$build/tsan-build.log" || exit 1
  rm -f "$tbuild"/*.xml "$tbuild"/meson-logs/testlog.*
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    meson test -C "$tbuild" --no-rebuild --print-errorlogs --suite threads || status=1
  builds+=("$tbuild")
fi

python3 tools/test_summary.py --since "$start" "${builds[@]}" || status=1
exit $status
