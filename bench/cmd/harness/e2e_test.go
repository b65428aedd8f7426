package main

import (
	"context"
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

// TestCheckSkipsMissingScenarios: a ratio whose scenario cannot run is
// reported as skipped, not failed; an allocation ceiling that is broken fails.
func TestCheckSkipsMissingScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	o := testOptions(t, dir)
	o.targets, o.benchtime = "direct,plain", "100x"
	os.WriteFile(o.baseline, []byte(`{"allocs_per_op":{"nowhere.BenchmarkX":0},"ratio_floors":{"plain_vs_direct":0.5}}`), 0o644)
	if err := runCheck(context.Background(), o, false); err != nil {
		t.Fatalf("check with skipped scenario failed: %v", err)
	}
	// An impossible ceiling on a real benchmark (hist allocates nothing, so use a
	// negative one) breaks the guard.
	os.WriteFile(o.baseline, []byte(`{"allocs_per_op":{"../../hist.BenchmarkRecord":-1},"ratio_floors":{}}`), 0o644)
	o.targets = "direct"
	err := runCheck(context.Background(), o, false)
	if err == nil || !strings.Contains(err.Error(), "bench-check failed") {
		t.Errorf("broken ceiling: err %v", err)
	}
}
