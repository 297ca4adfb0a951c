#!/usr/bin/env bash
# Coverage-guided fuzzing of netfront's parsers of untrusted input (rings, the receive path,
# PCI capabilities, vhost-user replies) with libFuzzer, ASan and UBSan. The test suite runs the
# same targets briefly (seed corpus plus random mutations); this is the long run.
#   tools/fuzz.sh [SECONDS_PER_TARGET (default 60)] [TARGET ...]
# New inputs that reach new code go to build-fuzz/corpus/<target>/ (the seeds in
# test/fuzz/corpus/ are left alone); a crash leaves its input in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(pci-capabilities split-used-ring packed-used-ring vhost-user-reply mergeable-rx)

tools/setup.sh
for p in clang libclang-rt-14-dev; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null
  fi
done
build=build-fuzz
if [[ ! -f $build/build.ninja ]]; then
  # Each target compiles the sources it fuzzes with coverage instrumentation (test/fuzz/meson.build).
  CC=clang CXX=clang++ meson setup "$build" -Dlibfuzzer=true -Db_sanitize=address,undefined -Db_lto=false \
    -Dwerror=false -Dbenchmarks=disabled >/dev/null
fi
ninja -C "$build" build.ninja >/dev/null  # new targets known before they are named
meson compile -C "$build" "${targets[@]/#/fuzz-}" >/dev/null
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t"
  echo "== fuzz-$t for ${seconds}s"
  (cd "$build" && ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "test/fuzz/fuzz-$t" "corpus/$t" "../test/fuzz/corpus/$t" -max_total_time="$seconds" -print_final_stats=1 2>&1 |
    grep -E "^#[0-9]+.*DONE|stat::number_of_executed_units|stat::new_units_added|ERROR|SUMMARY" || true)
done
