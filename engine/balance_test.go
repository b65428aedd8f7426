package engine_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"
)

func balanceConfig(balancer string, targets string) string {
	return cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"pool": {"targets": %s, "balancer": %q, "timeout": "2s"}},
  "routes": [{"name": "pool", "path": "/p", "service": "pool"}]
}`, targets, balancer)
}

func servedBy(t *testing.T, url string, n int) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		r := get(t, url)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		counts[r.header.Get("X-Served-By")]++
	}
	return counts
}

func TestRoundRobinSpread(t *testing.T) {
	a, b, c := startUpstream(t, "a"), startUpstream(t, "b"), startUpstream(t, "c")
	g := startGateway(t, balanceConfig("round_robin", fmt.Sprintf("[%q, %q, %q]", a.addr, b.addr, c.addr)))
	counts := servedBy(t, g.url+"/p", 300)
	for _, name := range []string{"a", "b", "c"} {
		if counts[name] != 100 {
			t.Errorf("round robin counts %v, want 100 each", counts)
		}
	}
}

func TestWeightedSpread(t *testing.T) {
	a, b := startUpstream(t, "a"), startUpstream(t, "b")
	targets, _ := json.Marshal([]any{a.addr, map[string]any{"addr": b.addr, "weight": 3}})
	g := startGateway(t, balanceConfig("weighted", string(targets)))
	counts := servedBy(t, g.url+"/p", 400)
	if counts["a"] != 100 || counts["b"] != 300 {
		t.Errorf("weighted counts %v, want a=100 b=300", counts)
	}
}

// TestBusyAwareBalancers checks that least_conn and p2c steer new requests
// away from a target that is holding slow requests.
func TestBusyAwareBalancers(t *testing.T) {
	for _, bal := range []string{"least_conn", "p2c"} {
		t.Run(bal, func(t *testing.T) {
			slow, fast := startUpstream(t, "slow"), startUpstream(t, "fast")
			slow.SetDelay(300 * time.Millisecond)
			g := startGateway(t, balanceConfig(bal, fmt.Sprintf("[%q, %q]", slow.addr, fast.addr)))
			var wg sync.WaitGroup
			var mu sync.Mutex
			counts := map[string]int{}
			// Bounded by time as well as count: a client stuck on the slow
			// target makes at most a few requests there while the others
			// keep the fast one busy, so the counts stay far apart even when
			// a loaded machine slows the fast requests down. A balancer that
			// ignores load (round robin, random) gives about equal counts.
			deadline := time.Now().Add(1500 * time.Millisecond)
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 500 && time.Now().Before(deadline); i++ {
						r := get(t, g.url+"/p")
						mu.Lock()
						counts[r.header.Get("X-Served-By")]++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if counts["fast"] < 3*counts["slow"] {
				t.Errorf("%s counts %v: the busy target should get far fewer requests", bal, counts)
			}
		})
	}
}

func TestRetryGoesToAnotherTarget(t *testing.T) {
	down, up := startUpstream(t, "down"), startUpstream(t, "up")
	down.Status.Store(503)
	g := startGateway(t, balanceConfig("round_robin", fmt.Sprintf("[%q, %q]", down.addr, up.addr)))
	for i := 0; i < 4; i++ {
		if r := get(t, g.url+"/p"); r.status != 200 || r.header.Get("X-Served-By") != "up" {
			t.Fatalf("GET %d: status %d from %q, want a retry to the healthy target", i, r.status, r.header.Get("X-Served-By"))
		}
	}
	// POST is not idempotent: no retry, the 503 comes back as it is.
	saw503 := false
	for i := 0; i < 4; i++ {
		r := do(t, "POST", g.url+"/p", nil, "{}")
		saw503 = saw503 || r.status == 503
	}
	if !saw503 {
		t.Errorf("POST was retried")
	}
}
