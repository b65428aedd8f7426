# sluice — build, demo, tests and benchmarks. `make run` and `make test` work
# on a fresh machine: they install and start what they need.

GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
DEMO_PIDS := $(BIN)/demo.pids

.PHONY: all build run handover demo-upstreams stop-demo test test-deps check-configs check-imports vet fmt fuzz certs clean fleet

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/sluice ./cmd/sluice
	$(GO) build -o $(BIN)/upstream ./cmd/upstream

## run: build, start the demo upstreams (3 catalog, cart, checkout) and sluice on configs/demo.json.
run: build
	@./scripts/demo.sh

## handover: start sluice on HANDOVER_CONFIG, or replace the running one without dropping a request
## (new process beside the old with reuse_port, wait for its /readyz, SIGTERM the old one).
HANDOVER_CONFIG ?= configs/handover.json
handover: build
	@./scripts/handover.sh -c $(HANDOVER_CONFIG)

## test: install what tests need (redis-server), check formatting, vet, run every test with -race,
## then the allocation/memory tests again without -race (they skip under the race detector).
test: test-deps certs check-imports
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) build -o $(BIN)/sluice ./cmd/sluice
	@for f in configs/*.json deploy/*.json deploy/*/*.json; do $(BIN)/sluice check -c $$f >/dev/null || { echo "config $$f does not compile"; $(BIN)/sluice check -c $$f; exit 1; }; done
	$(GO) test -race -count=1 -timeout 20m ./...
	$(GO) test -count=1 -timeout 10m -run 'Allocs|FloodMemory' ./...

## check-imports: router/ and limiter/ are leaf packages; fail if they (or their tests) import
## anything outside the standard library and themselves. Only the engine's compile step reads
## the decoded config.
LEAF_PKGS := router limiter
check-imports:
	@for p in $(LEAF_PKGS); do \
		bad=$$($(GO) list -deps -test -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./$$p/ | \
			grep -Ev "^github.com/sluice-gw/sluice/$$p( \[.*\]|\.test)?$$"); \
		if [ -n "$$bad" ]; then echo "$$p/ may import only the standard library, found:"; echo "$$bad"; exit 1; fi; \
	done
	@# The compile step is the one reader of the decoded config: no stage package (nor its
	@# tests) imports engine/config, and inside engine/ only compile*.go and tests do.
	@bad=$$($(GO) list -f '{{.ImportPath}}: {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./engine/... | \
		grep -Ev '^github.com/sluice-gw/sluice/engine(/config)?:' | grep 'sluice/engine/config\b' | cut -d: -f1); \
	if [ -n "$$bad" ]; then echo "only the engine's compile step may import engine/config, found in:"; echo "$$bad"; exit 1; fi
	@bad=$$(grep -l '"github.com/sluice-gw/sluice/engine/config"' engine/*.go | grep -v '_test\.go$$' | grep -v '^engine/compile'); \
	if [ -n "$$bad" ]; then echo "in engine/ only compile*.go may import engine/config, found:"; echo "$$bad"; exit 1; fi

test-deps:
	@command -v redis-server >/dev/null 2>&1 && command -v redis-sentinel >/dev/null 2>&1 || { \
		echo "installing redis-server and redis-sentinel (Debian)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-sentinel) >/dev/null || \
		(sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-sentinel) >/dev/null; }
	@command -v haproxy >/dev/null 2>&1 || { \
		echo "installing haproxy (Debian)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy) >/dev/null || \
		(sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy) >/dev/null; }

## fleet: HAProxy (TCP, send-proxy-v2) -> 3 sluice -> demo upstreams + redis-server on this
## machine; runs the fleet scenarios, prints the table and writes docs/fleet/README.md.
## FLEET_FLAGS passes flags, e.g. FLEET_FLAGS="-rate 500 -window 5s".
FLEET_FLAGS ?=
fleet: test-deps build
	$(GO) build -o $(BIN)/fleet ./bench/cmd/fleet
	$(BIN)/fleet -bin $(BIN) $(FLEET_FLAGS)

## fuzz: run every fuzz target for FUZZTIME (default 10s) each.
FUZZTIME ?= 10s
fuzz:
	@grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u | while read -r pkg; do \
		for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$pkg/*_test.go | sed 's/func //'); do \
			echo "== $$pkg $$f"; $(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) || exit 1; \
		done; \
	done

## certs: a self-signed certificate for configs/demo-tls.json (kept once made).
certs: configs/certs/cert.pem

configs/certs/cert.pem:
	$(GO) run ./cmd/gencert -dir configs/certs

clean:
	rm -rf $(BIN) bench/results

-include bench/bench.mk
