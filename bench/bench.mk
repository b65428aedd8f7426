# Benchmark targets; the top Makefile includes this file (include bench/bench.mk).
#
#   make bench           micro-benchmarks (bench/micro.sh) and the load harness:
#                        upstream direct, nginx and haproxy (when installed), sluice
#                        plain proxy, realistic pipeline, cache hit and aggregate;
#                        report and SVG plots in bench/results/ and docs/bench/, and
#                        the README's benchmark section regenerated from this commit
#   make bench-check     the CI guard (about 4 minutes on 2 cores): allocs/op,
#                        ns/op against a calibration loop, RunParallel scaling,
#                        throughput ratios against nginx and open-loop p99/p99.9
#                        ceilings, bounds from bench/baseline.json. A guard that
#                        cannot run fails (BENCH_FLAGS=-allow-skip locally only).
#   make bench-calibrate measure BENCH_RUNS times (default 5) and rewrite the
#                        bounds in bench/baseline.json; run on a quiet machine
#   make bench-selftest  build sluice with deliberate slowdowns (build tags
#                        sluice_slow_delay, sluice_slow_cpu) and prove that the
#                        load guards fail for each and pass for the normal build
#   make bench-peers     install nginx-light and haproxy, then compare them with
#                        sluice's plain proxy
#   make bench-scaling   CPU per request of sluice (GOMAXPROCS 1, 2) and nginx
#                        (1, 2 workers) under wrk (bench/scaling.sh; needs wrk)
#
# Core placement: the harness re-executes itself under `taskset -c 1` (it is
# the load generator) and starts the upstream, sluice and the peers under
# `taskset -c 0`, so on this 2-core machine generator and proxy do not share a
# core. BENCH_FLAGS passes harness flags, e.g. BENCH_FLAGS="-duration 30s -pin off".

BENCH_FLAGS ?=
BENCH_RUNS  ?= 5

.PHONY: bench bench-check bench-calibrate bench-selftest bench-peers bench-scaling bench-micro bench-bins bench-nginx

bench-bins:
	@mkdir -p bin
	go build -o bin/upstream ./cmd/upstream
	go build -o bin/harness ./bench/cmd/harness
	go build -o bin/sluice ./cmd/sluice

# nginx is the proxy-bound reference of the guards: install it when missing.
bench-nginx:
	@command -v nginx >/dev/null 2>&1 || bench/peers/install.sh nginx

bench-micro:
	bench/micro.sh

bench: bench-bins bench-nginx bench-micro
	bin/harness run -readme README.md -docs docs/bench $(BENCH_FLAGS)

bench-check: bench-bins bench-nginx
	bin/harness check $(BENCH_FLAGS)

bench-calibrate: bench-bins bench-nginx
	bin/harness calibrate -runs $(BENCH_RUNS) $(BENCH_FLAGS)

bench-selftest: bench-bins bench-nginx
	bin/harness selftest $(BENCH_FLAGS)

bench-peers: bench-bins
	bench/peers/install.sh
	bin/harness run -targets direct,nginx,haproxy,plain $(BENCH_FLAGS)

bench-scaling: bench-nginx
	@command -v wrk >/dev/null 2>&1 || { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >/dev/null || \
		(sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >/dev/null; }
	bench/scaling.sh
