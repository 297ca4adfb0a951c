# Sourced by the referee benchmarks (vs_dpdk.sh, tso.sh) once $bench (the output's name),
# $runs, $secs and $build are set: $perf (netfront-perf), $out (build/bench, with
# $bench.jsonl and $bench.runs.log emptied), and
#   compare TITLE A B REFEREE-OPTION...
# RUNS paired runs of frontends A and B on tools/bench/referee.py ($NETFRONT_REFEREE may name
# another referee with the same options), every run's line (rates, c2c) kept in the runs log,
# the summary printed and kept as one JSON line.
perf="$build/tools/perf/netfront-perf"
out="$build/bench"
referee=${NETFRONT_REFEREE:-tools/bench/referee.py}
[[ -f $referee ]] || { echo "no referee at $referee" >&2; exit 1; }
mkdir -p "$out"
: > "$out/$bench.jsonl"
: > "$out/$bench.runs.log"

compare() {
  local title=$1 a=$2 b=$3 line
  shift 3
  echo "== $title" | tee -a "$out/$bench.runs.log" >&2
  line=$(python3 "$referee" "$@" --runs "$runs" --secs "$secs" --workdir /tmp/nfbench -A "$a" -B "$b" |
         tee -a "$out/$bench.runs.log" | tail -1)
  echo "{\"comparison\":\"$title\",\"result\":$line}" | tee -a "$out/$bench.jsonl"
}
