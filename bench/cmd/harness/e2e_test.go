package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildUpstream compiles cmd/upstream into dir.
func buildUpstream(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "upstream")
	out, err := exec.Command("go", "build", "-o", bin, "../../../cmd/upstream").CombinedOutput()
	if err != nil {
		t.Fatalf("build upstream: %v\n%s", err, out)
	}
	return bin
}

func testOptions(t *testing.T, dir string) options {
	return options{
		sluiceBin:   filepath.Join(dir, "no-such-sluice"),
		upstreamBin: buildUpstream(t, dir),
		configs:     "../../configs", peers: "../../peers",
		results: filepath.Join(dir, "results"), baseline: filepath.Join(dir, "baseline.json"),
		duration: 500 * time.Millisecond, warmup: 100 * time.Millisecond,
		concurrency: 4, openWorkers: 8, rate: 200, maxRequests: 100_000, rounds: 2,
		benchtime: "100x", microTime: "10ms", openRounds: 1, openDuration: 500 * time.Millisecond, openFraction: 0.4,
	}
}

// TestRunEndToEnd runs the harness against a real upstream: the report and
// plots are written, sluice (absent here) is skipped with a reason, and no
// child outlives the run.
func TestRunEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	o := testOptions(t, dir)
	o.targets = "direct,plain"
	if err := runBench(context.Background(), o, false); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(o.results, "bench-latest.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| upstream direct |", "Open loop (200 req/s", "## Skipped", "sluice plain proxy: no sluice binary"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	for _, f := range []string{"latency-closed-latest.svg", "latency-open-latest.svg", "logs/upstream.log"} {
		if _, err := os.Stat(filepath.Join(o.results, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	if out, _ := exec.Command("pgrep", "-f", o.upstreamBin).Output(); len(out) > 0 {
		t.Errorf("upstream still running: %s", out)
	}
}

// TestCheckFailsWhenAGuardDidNotRun: a renamed benchmark or a gateway that
// cannot start fails the check (no silent skip); -allow-skip turns that into
// SKIP; a broken allocation ceiling fails either way.
func TestCheckFailsWhenAGuardDidNotRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	saveHot, savePar := hotBenchmarks, parallelBenchmarks
	hotBenchmarks, parallelBenchmarks = nil, nil
	t.Cleanup(func() { hotBenchmarks, parallelBenchmarks = saveHot, savePar })
	dir := t.TempDir()
	o := testOptions(t, dir)
	// Benchmarks run from the repository root, as make does.
	root, _ := filepath.Abs("../../..")
	o.upstreamBin, _ = filepath.Abs(o.upstreamBin)
	o.configs, o.peers = filepath.Join(root, "bench/configs"), filepath.Join(root, "bench/peers")
	t.Chdir(root)

	os.WriteFile(o.baseline, []byte(`{"allocs_per_op":{"bench/hist.BenchmarkRecord":0,"bench/hist.BenchmarkRenamed":0},"guards":{}}`), 0o644)
	o.only = "micro"
	err := runCheck(context.Background(), o, false)
	if !errors.Is(err, errCheckFailed) {
		t.Errorf("renamed benchmark: err %v, want a failed check", err)
	}
	o.allowSkip = true
	if err := runCheck(context.Background(), o, false); err != nil {
		t.Errorf("renamed benchmark with -allow-skip: %v", err)
	}
	os.WriteFile(o.baseline, []byte(`{"allocs_per_op":{"bench/hist.BenchmarkRecord":-1},"guards":{}}`), 0o644)
	if err := runCheck(context.Background(), o, false); !errors.Is(err, errCheckFailed) {
		t.Errorf("broken ceiling with -allow-skip: err %v", err)
	}

	// The load guards with no sluice binary: every sluice guard is unmeasured.
	os.WriteFile(o.baseline, []byte(`{"allocs_per_op":{},"guards":{}}`), 0o644)
	o.only, o.allowSkip = "load", false
	if err := runCheck(context.Background(), o, false); !errors.Is(err, errCheckFailed) {
		t.Errorf("no gateway: err %v, want a failed check", err)
	}
}
