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
	"syscall"
	"testing"
	"time"
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
		out := render(data, map[string]string{"UPSTREAM": "127.0.0.1:1", "LISTEN": "127.0.0.1:2", "ADMIN": "127.0.0.1:3"})
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if strings.Contains(string(out), "{{") {
			t.Errorf("%s: placeholder left: %s", f, out)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	out := []byte(`goos: linux
BenchmarkLookup-2          	 1000000	      1033 ns/op	       0 B/op	       0 allocs/op
BenchmarkServe/hit-2       	  500000	      2400 ns/op	      64 B/op	       2 allocs/op
BenchmarkNoProcs           	  500000	      2400 ns/op	      64 B/op	      11 allocs/op
BenchmarkNoMem-2           	  500000	      2400 ns/op
PASS`)
	got := parseAllocs(out)
	want := map[string]int64{"BenchmarkLookup": 0, "BenchmarkServe/hit": 2, "BenchmarkNoProcs": 11}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
	if v, ok := worstOf(map[string]int64{"BenchmarkServe/hit": 2, "BenchmarkServe/miss": 5, "BenchmarkServex": 9}, "BenchmarkServe"); !ok || v != 5 {
		t.Errorf("worstOf sub-benchmarks: %d %v", v, ok)
	}
	if _, ok := worstOf(got, "BenchmarkAbsent"); ok {
		t.Error("absent benchmark found")
	}
	if d, n, ok := splitKey("engine/cache.BenchmarkServe/hit"); !ok || d != "engine/cache" || n != "BenchmarkServe/hit" {
		t.Errorf("splitKey: %q %q %v", d, n, ok)
	}
	if _, _, ok := splitKey("nodot"); ok {
		t.Error("bad key accepted")
	}
}

func TestBaselineRejectsUnknownRatio(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "b.json")
	os.WriteFile(bad, []byte(`{"allocs_per_op":{},"ratio_floors":{"plain_vs_nothing":0.5}}`), 0o644)
	if _, err := loadBaseline(bad); err == nil || !strings.Contains(err.Error(), "plain_vs_nothing") {
		t.Errorf("err %v", err)
	}
	os.WriteFile(bad, []byte(`{"allocs":{}}`), 0o644)
	if _, err := loadBaseline(bad); err == nil {
		t.Error("unknown key accepted")
	}
	if _, err := loadBaseline("../../baseline.json"); err != nil {
		t.Errorf("committed baseline: %v", err)
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

// TestProcsKillAll starts real children (one with a grandchild) and checks
// that killAll leaves none behind, and that waitHTTP notices an early exit.
func TestProcsKillAll(t *testing.T) {
	p := newProcs(false, t.TempDir())
	a, err := p.start("sleeper", "sleep", "60")
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.start("shell", "sh", "-c", "sleep 60 & wait")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	p.killAll()
	if time.Since(start) > 5*time.Second {
		t.Error("killAll slow")
	}
	for _, c := range []*child{a, b} {
		select {
		case <-c.done:
		default:
			t.Errorf("%s still running", c.label)
		}
		// The whole process group is gone (the grandchild sleep too), once
		// the orphans are reaped.
		gone := false
		for range 100 {
			if syscall.Kill(-c.cmd.Process.Pid, 0) != nil {
				gone = true
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if !gone {
			t.Errorf("%s: process group still alive", c.label)
		}
	}

	quick, err := p.start("quick", "sh", "-c", "echo boom; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := freeAddr()
	err = waitHTTP(context.Background(), quick, addr, "/", 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("waitHTTP: %v", err)
	}
	p.killAll()
}
