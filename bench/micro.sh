#!/usr/bin/env bash
# Runs sluice's Go micro-benchmarks (router, rate limiter, auth cache hit,
# cache hit, pipeline, in-process proxy path) with -benchmem and saves the
# output in benchstat format under bench/results/micro-<time>.txt (and
# micro-latest.txt). Packages that do not exist yet, or have no benchmarks,
# are skipped. Compare two runs with: benchstat old.txt new.txt
#   BENCH_PKGS   space-separated package dirs (default: the list below)
#   BENCH_COUNT  -count (default 1; use 6+ for benchstat confidence)
#   BENCH_TIME   -benchtime (default 1s)
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=${BENCH_PKGS:-"router limiter engine/ratelimit engine/auth engine/cache engine/pipeline engine/forward engine/upstream engine/aggregate engine bench/hist"}
count=${BENCH_COUNT:-1}
benchtime=${BENCH_TIME:-1s}
mkdir -p bench/results
stamp=$(date -u +%Y%m%d-%H%M%S)
out=bench/results/micro-$stamp.txt
run=()
for p in $pkgs; do
    if [ ! -d "$p" ]; then
        echo "micro: skip $p (no such package yet)" >&2
        continue
    fi
    if ! grep -qs '^func Benchmark' "$p"/*_test.go; then
        echo "micro: skip $p (no benchmarks)" >&2
        continue
    fi
    run+=("./$p")
done
if [ ${#run[@]} -eq 0 ]; then
    echo "micro: no benchmarks to run" >&2
    exit 0
fi
echo "micro: go test -run '^\$' -bench . -benchmem -count $count -benchtime $benchtime ${run[*]}" >&2
go test -run '^$' -bench . -benchmem -count "$count" -benchtime "$benchtime" "${run[@]}" | tee "$out"
cp "$out" bench/results/micro-latest.txt
echo "micro: wrote $out" >&2
