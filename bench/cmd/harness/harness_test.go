package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/bench/internal/procs"
)

func TestRenderFillsPlaceholders(t *testing.T) {
	got := string(render([]byte(`{"a":"{{UPSTREAM}}","b":"{{LISTEN}}","c":"{{UPSTREAM}}"}`),
		map[string]string{"UPSTREAM": "127.0.0.1:1", "LISTEN": "127.0.0.1:2"}))
	if got != `{"a":"127.0.0.1:1","b":"127.0.0.1:2","c":"127.0.0.1:1"}` {
		t.Errorf("render: %s", got)
	}
}

// TestConfigsAreJSON renders every committed bench config and checks it is valid JSON
// pointing at the rendered addresses.
func TestConfigsAreJSON(t *testing.T) {
	files, _ := filepath.Glob("../../configs/*.json")
	if len(files) < 4 {
		t.Fatalf("configs: %v", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out := render(data, map[string]string{"UPSTREAM": "127.0.0.1:1", "LISTEN": "127.0.0.1:2", "ADMIN": "127.0.0.1:3", "DIR": "/tmp/bench"})
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if strings.Contains(string(out), "{{") {
			t.Errorf("%s: placeholder left: %s", f, out)
		}
	}
}

func TestParseSamples(t *testing.T) {
	out := []byte(`goos: linux
BenchmarkLookup/static-2          	 1000000	      1033 ns/op	       0 B/op	       0 allocs/op
BenchmarkLookup/param-2           	 1000000	      2000 ns/op	       0 B/op	       0 allocs/op
BenchmarkServe/hit-2       	  500000	      2400 ns/op	      64 B/op	       2 allocs/op
BenchmarkServe/size-64-2       	  500000	      2400 ns/op	      64 B/op	       5 allocs/op
BenchmarkPar       	  500000	      300 ns/op
BenchmarkPar-2       	  500000	      200.5 ns/op
BenchmarkPar-4       	  500000	      250 ns/op
BenchmarkPar-4       	  500000	      150 ns/op
PASS`)
	ss := parseSamples(out, []int{1, 2, 4})
	if len(ss) != 8 {
		t.Fatalf("samples %+v", ss)
	}
	if v, ok := worstAllocs(ss, "BenchmarkServe"); !ok || v != 5 {
		t.Errorf("worstAllocs sub-benchmarks: %d %v", v, ok)
	}
	if _, ok := worstAllocs(ss, "BenchmarkPar"); ok {
		t.Error("allocs found where none were reported")
	}
	if _, ok := worstAllocs(ss, "BenchmarkAbsent"); ok {
		t.Error("absent benchmark found")
	}
	if v, ok := bestNs(ss, "BenchmarkLookup", 2); !ok || v != 3033 {
		t.Errorf("bestNs sums sub-benchmarks: %v %v", v, ok)
	}
	if v, ok := bestNs(ss, "BenchmarkPar", 4); !ok || v != 150 {
		t.Errorf("bestNs takes the best: %v %v", v, ok)
	}
	if v, ok := bestNs(ss, "BenchmarkPar", 1); !ok || v != 300 {
		t.Errorf("bestNs -cpu 1: %v %v", v, ok)
	}
	if ss[3].name != "BenchmarkServe/size-64" || ss[3].procs != 2 {
		t.Errorf("suffix parsing: %+v", ss[3])
	}
	if d, n, ok := splitKey("engine/cache.BenchmarkServe/hit"); !ok || d != "engine/cache" || n != "BenchmarkServe/hit" {
		t.Errorf("splitKey: %q %q %v", d, n, ok)
	}
	if _, _, ok := splitKey("nodot"); ok {
		t.Error("bad key accepted")
	}
}

func TestBaselineRejectsUnknownGuard(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "b.json")
	for _, c := range []struct{ doc, want string }{
		{`{"allocs_per_op":{},"guards":{"throughput/plain_vs_nothing":{"floor":0.5,"median":1}}}`, "plain_vs_nothing"},
		{`{"allocs_per_op":{},"guards":{"throughput/plain_vs_nginx":{"ceiling":0.5,"median":1}}}`, "needs a floor"},
		{`{"allocs_per_op":{},"guards":{"pipeline/limited_share":{"floor":0.5,"median":1}}}`, "fixed bounds"},
		{`{"allocs":{}}`, "unknown field"},
	} {
		os.WriteFile(bad, []byte(c.doc), 0o644)
		if _, err := loadBaseline(bad); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.doc, err, c.want)
		}
	}
	b, err := loadBaseline("../../baseline.json")
	if err != nil {
		t.Fatalf("committed baseline: %v", err)
	}
	// CI must not pass on guards nobody calibrated.
	for _, d := range guardDefs() {
		if !d.fixed && b.Guards[d.name] == nil {
			t.Errorf("committed baseline has no bound for %s (make bench-calibrate)", d.name)
		}
	}
}

// TestEvaluate: a figure past its bound fails, a guard that did not run or
// has no bound fails unless skips are allowed, fixed bounds apply.
func TestEvaluate(t *testing.T) {
	f, c := 0.8, 2.0
	b := &baseline{AllocsPerOp: map[string]int64{"x.BenchmarkA": 0, "x.BenchmarkGone": 0},
		Guards: map[string]*bound{
			"throughput/plain_vs_nginx":    {Floor: &f, Median: 0.9},
			"latency/p99/plain_vs_nginx":   {Ceiling: &c, Median: 1},
			"latency/p99.9/plain_vs_nginx": {Ceiling: &c, Median: 1},
		}}
	m := newMeasurement()
	m.allocs["x.BenchmarkA"] = 1
	m.miss("allocs/x.BenchmarkGone", "benchmark BenchmarkGone not found")
	m.values["throughput/plain_vs_nginx"] = 0.85
	m.values["latency/p99/plain_vs_nginx"] = 2.5
	m.values["throughput/cache_vs_nginx"] = 1 // no bound
	m.values["pipeline/limited_share"] = 0    // under its fixed floor
	m.values["pipeline/verified_share"] = 0.02
	m.miss("latency/p99.9/plain_vs_nginx", "plain: open round 1: 3 failed requests")
	states := func(allow bool) map[string]string {
		out := map[string]string{}
		for _, v := range evaluate(b, m, map[string]bool{groupMicro: true, groupLoad: true}, allow) {
			out[v.name] = v.state
		}
		return out
	}
	want := map[string]string{
		"allocs/x.BenchmarkA": "FAIL", "allocs/x.BenchmarkGone": "FAIL",
		"throughput/plain_vs_nginx": "ok", "latency/p99/plain_vs_nginx": "FAIL",
		"latency/p99.9/plain_vs_nginx": "FAIL", "throughput/cache_vs_nginx": "FAIL",
		"pipeline/limited_share": "FAIL", "pipeline/verified_share": "ok",
		"ns/router.BenchmarkLookup": "FAIL",
	}
	got := states(false)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
	got = states(true)
	for _, k := range []string{"allocs/x.BenchmarkGone", "latency/p99.9/plain_vs_nginx", "throughput/cache_vs_nginx", "ns/router.BenchmarkLookup"} {
		if got[k] != "SKIP" {
			t.Errorf("-allow-skip: %s: %s, want SKIP", k, got[k])
		}
	}
	if got["latency/p99/plain_vs_nginx"] != "FAIL" || got["pipeline/limited_share"] != "FAIL" {
		t.Error("-allow-skip must not excuse a broken guard")
	}
}

func TestCalibrateBound(t *testing.T) {
	d := guardDef{name: "throughput/plain_vs_nginx", minMargin: 0.04}
	g := calibrateBound(d, []float64{0.80, 0.84, 0.82, 0.83, 0.81}, 3)
	// quartiles 0.81 and 0.83: spread max(0.02, 4% of 0.82 = 0.0328); floor 0.82 - 3*0.0328.
	if g.Floor == nil || *g.Floor != 0.7216 || g.Median != 0.82 || g.Ceiling != nil {
		t.Errorf("floor bound %+v", g)
	}
	// One disturbed run moves neither the median nor the quartiles much.
	g = calibrateBound(d, []float64{0.80, 0.84, 0.82, 0.83, 0.40}, 3)
	if g.Floor == nil || *g.Floor < 0.7 {
		t.Errorf("an outlier run loosened the floor: %+v", g)
	}
	d = guardDef{name: "latency/p99/plain_vs_nginx", ceiling: true, minMargin: 0.30}
	g = calibrateBound(d, []float64{1.0, 1.1, 1.05}, 3)
	// spread max(iqr 0.05, 0.3*1.05=0.315): ceiling 1.05 + 3*0.315.
	if g.Ceiling == nil || *g.Ceiling != 1.995 || g.Floor != nil {
		t.Errorf("ceiling bound %+v", g)
	}
}

func TestRoundRate(t *testing.T) {
	for in, want := range map[float64]float64{25611: 25000, 999: 990, 42: 42, 3: 3, 0.2: 1} {
		if got := roundRate(in); got != want {
			t.Errorf("roundRate(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestBenchTokenIsHS256(t *testing.T) {
	tok := benchToken(time.Unix(1_800_000_000, 0))
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	mac := hmac.New(sha256.New, []byte(benchSecret))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if base64.RawURLEncoding.EncodeToString(mac.Sum(nil)) != parts[2] {
		t.Error("bad signature")
	}
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	json.Unmarshal(claims, &c)
	if c["exp"].(float64) != 1_800_000_000+86400 || c["scope"] != "products:read" || c["aud"] != "bench" {
		t.Errorf("claims %v", c)
	}
	// The config's secret is the one the token is signed with.
	cfg, _ := os.ReadFile("../../configs/pipeline.json")
	if !strings.Contains(string(cfg), `"secret": "`+benchSecret+`"`) {
		t.Error("pipeline.json secret differs from benchSecret")
	}
}

// TestWaitHTTPNoticesExit: waitHTTP gives up as soon as the child exits,
// quoting its log.
func TestWaitHTTPNoticesExit(t *testing.T) {
	p := newProcs(false, t.TempDir())
	defer p.KillAll()
	quick, err := p.Start("quick", "sh", "-c", "echo boom; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := procs.FreeAddr()
	err = waitHTTP(context.Background(), quick, addr, "/", 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("waitHTTP: %v", err)
	}
}
