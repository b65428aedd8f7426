#!/usr/bin/env bash
# Starts the demo: five upstream processes (three catalog instances, cart,
# checkout; catalog-1 also serves gRPC on 9101) and sluice on
# configs/demo.json. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
start() { ./bin/upstream -listen "$1" -name "$2" "${@:3}" >/dev/null 2>&1 & pids+=($!); }
start 127.0.0.1:9001 catalog-1 -grpc 127.0.0.1:9101
start 127.0.0.1:9002 catalog-2
start 127.0.0.1:9003 catalog-3
start 127.0.0.1:9004 cart
start 127.0.0.1:9005 checkout
CONFIG=${CONFIG:-configs/demo.json}
echo "demo upstreams up; sluice on $CONFIG (gateway http://127.0.0.1:8080, admin http://127.0.0.1:9901)"
./bin/sluice run -c "$CONFIG" &
pids+=($!)
wait "${pids[-1]}"
