package upstream

import (
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// TestTryTimeout checks that with try_timeout a slow target's try is cut and
// an idempotent request retried on another target within the request's
// timeout; a POST is not retried; the timed-out try counts as a failure.
func TestTryTimeout(t *testing.T) {
	slow, fast := newTestServer(t, "slow"), newTestServer(t, "fast")
	slow.SetDelay(3 * time.Second)
	s := compileOne(t, ServiceOptions{Targets: targetList(slow, fast), Balancer: "round_robin", Timeout: 5 * time.Second, TryTimeout: 300 * time.Millisecond, Retries: ptr(1),
		CircuitBreaker: &BreakerOptions{MinRequests: ptr(1), FailureRatio: ptr(1.0), Window: 10 * time.Second, OpenFor: 10 * time.Second}})
	okFast := 0
	for i := 0; i < 4; i++ {
		status, body, err := call(s, "GET", 5*time.Second)
		if err != nil || status != 200 || body != "fast" {
			t.Fatalf("GET %d: %d %q %v, want fast's answer after a cut try", i, status, body, err)
		}
		okFast++
	}
	if slow.Hits.Load() == 0 {
		t.Fatal("the slow target was never tried")
	}
	// The timed-out try opened the slow target's circuit (min_requests 1,
	// failure_ratio 1): a timeout is a failure.
	if st := s.targets[0].state.breaker.gauge(nanotime()); st != 1 {
		t.Errorf("slow target circuit state %v, want 1 (open)", st)
	}

	// A POST is never retried: it waits for one try only.
	s2 := compileOne(t, ServiceOptions{Targets: targetList(slow), Timeout: 5 * time.Second, TryTimeout: 300 * time.Millisecond, Retries: ptr(1)})
	if _, _, err := call(s2, "POST", 5*time.Second); err != ErrTimeout {
		t.Errorf("POST to a slow target: %v, want a timeout", err)
	}
}

func TestTryTimeoutConfig(t *testing.T) {
	_, err := New("svc", ServiceOptions{Targets: addrs("127.0.0.1:1"), Timeout: time.Second, TryTimeout: 2 * time.Second}, metrics.NewSet())
	if err == nil || !strings.Contains(err.Error(), "try_timeout: must not be longer than timeout") {
		t.Errorf("errors %v", err)
	}
	s := compileOne(t, ServiceOptions{Targets: addrs("127.0.0.1:1"), Timeout: 2 * time.Second})
	if s.TryTimeout != 0 {
		t.Errorf("default try_timeout %v, want the whole timeout (0)", s.TryTimeout)
	}
}
