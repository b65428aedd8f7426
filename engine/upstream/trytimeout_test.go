package upstream

import (
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/config"
)

// TestTryTimeout checks that with try_timeout a slow target's try is cut and
// an idempotent request retried on another target within the request's
// timeout; a POST is not retried; the timed-out try counts as a failure.
func TestTryTimeout(t *testing.T) {
	slow, fast := newTestServer(t, "slow"), newTestServer(t, "fast")
	slow.delay.Store(int64(3 * time.Second))
	s := compileOne(t, `{"targets": `+targetList(slow, fast)+`, "balancer": "round_robin", "timeout": "5s", "try_timeout": "300ms", "retries": 1,
		"circuit_breaker": {"min_requests": 1, "failure_ratio": 1, "window": "10s", "open_for": "10s"}}`)
	okFast := 0
	for i := 0; i < 4; i++ {
		status, body, err := call(s, "GET", 5*time.Second)
		if err != nil || status != 200 || body != "fast" {
			t.Fatalf("GET %d: %d %q %v, want fast's answer after a cut try", i, status, body, err)
		}
		okFast++
	}
	if slow.hits.Load() == 0 {
		t.Fatal("the slow target was never tried")
	}
	// The timed-out try opened the slow target's circuit (min_requests 1,
	// failure_ratio 1): a timeout is a failure.
	if st := s.targets[0].state.breaker.gauge(nanotime()); st != 1 {
		t.Errorf("slow target circuit state %v, want 1 (open)", st)
	}

	// A POST is never retried: it waits for one try only.
	s2 := compileOne(t, `{"targets": `+targetList(slow)+`, "timeout": "5s", "try_timeout": "300ms", "retries": 1}`)
	if _, _, err := call(s2, "POST", 5*time.Second); err != ErrTimeout {
		t.Errorf("POST to a slow target: %v, want a timeout", err)
	}
}

func TestTryTimeoutConfig(t *testing.T) {
	cfg, _ := config.Parse([]byte(`{"services": {"svc": {"targets": ["127.0.0.1:1"], "timeout": "1s", "try_timeout": "2s"}}}`))
	_, errs := Compile(cfg, metrics.NewSet())
	if !strings.Contains(errs.Error(), "services.svc.try_timeout: must not be longer than timeout") {
		t.Errorf("errors %v", errs)
	}
	s := compileOne(t, `{"targets": ["127.0.0.1:1"], "timeout": "2s"}`)
	if s.TryTimeout != 0 {
		t.Errorf("default try_timeout %v, want the whole timeout (0)", s.TryTimeout)
	}
}
