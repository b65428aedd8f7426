# Benchmark targets; the top Makefile includes this file (include bench/bench.mk).
#
#   make bench        micro-benchmarks (bench/micro.sh) and the load harness:
#                     upstream direct, nginx and haproxy (when installed), sluice
#                     plain proxy, full pipeline, cache hit and aggregate; report
#                     and SVG plots in bench/results/
#   make bench-check  the CI guard (about 40 s warm, well under 3 minutes): allocs/op ceilings and
#                     throughput ratio floors from bench/baseline.json
#   make bench-peers  install nginx-light and haproxy, then compare them with
#                     sluice's plain proxy
#
# Core placement: the harness re-executes itself under `taskset -c 1` (it is
# the load generator) and starts the upstream, sluice and the peers under
# `taskset -c 0`, so on this 2-core machine generator and proxy do not share a
# core. BENCH_FLAGS passes harness flags, e.g. BENCH_FLAGS="-duration 30s -pin off".

BENCH_FLAGS ?=

.PHONY: bench bench-check bench-peers bench-micro bench-bins

bench-bins:
	@mkdir -p bin
	go build -o bin/upstream ./cmd/upstream
	go build -o bin/harness ./bench/cmd/harness
	@if [ -d cmd/sluice ]; then go build -o bin/sluice ./cmd/sluice; \
	else echo "bench: cmd/sluice does not exist yet; sluice scenarios will be skipped"; fi

bench-micro:
	bench/micro.sh

bench: bench-bins bench-micro
	bin/harness run $(BENCH_FLAGS)

bench-check: bench-bins
	bin/harness check $(BENCH_FLAGS)

bench-peers: bench-bins
	bench/peers/install.sh
	bin/harness run -targets direct,nginx,haproxy,plain $(BENCH_FLAGS)
