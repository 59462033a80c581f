#!/usr/bin/env bash
# Runs the comparison and prints the README's table.
#
# Rounds are interleaved: each round is one run of the whole benchmark
# binary, covering every case and algorithm once, so a slow spell of the
# machine hits every case alike instead of one. benchstat then summarizes
# the rounds (median and confidence interval), and internal/benchtable
# turns its CSV into the markdown table, ratios and targets.
#
# Environment (defaults in brackets):
#   COUNT      rounds [10]
#   BENCHTIME  -benchtime of each benchmark in a round [400ms]
#   BENCH      -bench pattern [.]
#   OUT        directory for the results [results]
# The default run takes about 2½ minutes on 2 cores.
#
# Output in $OUT: bench.txt (raw rounds), benchstat.txt, benchstat.csv,
# table.md (machine line, table, targets).
set -euo pipefail
cd "$(dirname "$0")"
export GOWORK=off

COUNT="${COUNT:-10}"
BENCHTIME="${BENCHTIME:-400ms}"
BENCH="${BENCH:-.}"
OUT="${OUT:-results}"
BENCHSTAT=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

mkdir -p "$OUT"
go test -c -o "$OUT/benchmarks.test" .

# No number before the checks: every case must accept the good token and
# refuse the bad ones (BenchmarkChain also re-checks each cell it times).
"$OUT/benchmarks.test" -test.run '^TestEveryCaseChecks$' -test.count 1 >/dev/null || {
  echo "run.sh: TestEveryCaseChecks fails; fix or exclude the case first:" >&2
  "$OUT/benchmarks.test" -test.run '^TestEveryCaseChecks$' -test.count 1 >&2 || true
  exit 1
}

raw="$OUT/bench.txt"
: >"$raw"
for i in $(seq "$COUNT"); do
  printf 'round %d/%d\n' "$i" "$COUNT" >&2
  "$OUT/benchmarks.test" -test.run '^$' -test.bench "$BENCH" -test.benchtime "$BENCHTIME" \
    -test.count 1 -test.v=false >>"$raw"
done

go run "$BENCHSTAT" "$raw" >"$OUT/benchstat.txt"
go run "$BENCHSTAT" -format csv "$raw" >"$OUT/benchstat.csv" 2>/dev/null

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n1)
{
  printf '%s; `%s`; %s cores (nproc); CPU: %s; load average at the end: %s; %s rounds × %s.\n\n' \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(go version)" "$(nproc)" "${cpu:-unknown}" \
    "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)" "$COUNT" "$BENCHTIME"
  go run ./internal/benchtable "$OUT/benchstat.csv" "$raw"
} >"$OUT/table.md"
cat "$OUT/table.md"
