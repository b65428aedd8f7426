package upstream

import (
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/fielderr"
)

const sec = int64(time.Second)

func TestRingSlides(t *testing.T) {
	var r ring
	r.init(10 * time.Second)
	for i := int64(0); i < 10; i++ {
		r.add(i*sec, 1, 2)
	}
	if a, b := r.sum(9 * sec); a != 10 || b != 20 {
		t.Fatalf("sum = %d,%d, want 10,20", a, b)
	}
	// Two seconds later the two oldest buckets have left the window.
	if a, _ := r.sum(11 * sec); a != 8 {
		t.Fatalf("after sliding: %d, want 8", a)
	}
	r.add(11*sec, 5, 0) // recycles bucket 1
	if a, _ := r.sum(11 * sec); a != 13 {
		t.Fatalf("after recycle: %d, want 13", a)
	}
	r.reset()
	if a, b := r.sum(11 * sec); a != 0 || b != 0 {
		t.Fatalf("after reset: %d,%d", a, b)
	}
}

func TestRetryBudget(t *testing.T) {
	var b retryBudget
	b.init()
	now := 100 * sec
	for i := 0; i < 100; i++ {
		b.request(now)
	}
	// 20% of 100 requests plus 3/s × 10 s.
	allowed := 0
	for i := 0; i < 1000; i++ {
		if b.allow(now) {
			allowed++
		}
	}
	if allowed != 20+30 {
		t.Fatalf("allowed %d retries for 100 requests, want 50", allowed)
	}
	// Ten seconds on, the old counts are gone and the budget is back.
	if !b.allow(now + 10*sec) {
		t.Fatal("budget did not refill")
	}
	// Without traffic only the reserve remains.
	var idle retryBudget
	idle.init()
	allowed = 0
	for i := 0; i < 100; i++ {
		if idle.allow(now) {
			allowed++
		}
	}
	if allowed != 30 {
		t.Fatalf("reserve allowed %d, want 30", allowed)
	}
}

func TestEjectionBackoff(t *testing.T) {
	var e ejector
	now := 100 * sec
	fail := func(n int) {
		for i := 0; i < n; i++ {
			e.record(now, true)
		}
	}
	fail(ejectAfter - 1)
	if e.ejected(now) {
		t.Fatal("ejected before ejectAfter failures")
	}
	e.record(now, false) // a success resets the streak
	fail(ejectAfter - 1)
	if e.ejected(now) {
		t.Fatal("a success did not reset the failure streak")
	}
	fail(1)
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i, w := range want {
		if i > 0 {
			fail(ejectAfter)
		}
		d := time.Duration(e.until.Load() - now)
		if d != w*time.Second {
			t.Fatalf("ejection %d lasted %v, want %vs", i+1, d, w)
		}
		if !e.ejected(now) || e.ejected(e.until.Load()) {
			t.Fatalf("ejection %d: wrong window", i+1)
		}
		now = e.until.Load() // re-admitted on its own when the back-off ends
	}
	// Healthy for longer than ejectMax: the next ejection starts over at 1s.
	now += int64(ejectMax)
	fail(ejectAfter)
	if d := time.Duration(e.until.Load() - now); d != time.Second {
		t.Fatalf("after a quiet spell the ejection lasted %v, want 1s", d)
	}
}

func TestBreakerStates(t *testing.T) {
	cfg := &breakerSettings{window: 10 * time.Second, minRequests: 10, ratio: 0.5, openFor: 5 * sec}
	var b breaker
	b.init(cfg)
	now := 50 * sec
	// Nine failures: below min_requests, stays closed.
	for i := 0; i < 9; i++ {
		b.record(now, false, true)
	}
	if b.state.Load() != circuitClosed {
		t.Fatal("opened below min_requests")
	}
	b.record(now, false, false) // 10 requests, 9 failures
	if b.state.Load() != circuitClosed {
		t.Fatal("opened on a success")
	}
	b.record(now, false, true) // 11 requests, 10 failures ≥ 0.5
	if b.state.Load() != circuitOpen || b.gauge(now) != 1 {
		t.Fatal("did not open")
	}
	if _, ok := b.admit(now + 4*sec); ok || b.allows(now+4*sec) {
		t.Fatal("admitted while open")
	}
	now += 5 * sec
	if b.gauge(now) != 2 || !b.allows(now) {
		t.Fatal("not half-open after open_for")
	}
	// Half-open: three trials, the fourth is refused.
	for i := 0; i < halfOpenTrials; i++ {
		if trial, ok := b.admit(now); !ok || !trial {
			t.Fatalf("trial %d refused", i)
		}
	}
	if _, ok := b.admit(now); ok {
		t.Fatal("admitted more than halfOpenTrials")
	}
	// One failed trial reopens.
	b.record(now, true, true)
	if b.state.Load() != circuitOpen {
		t.Fatal("failed trial did not reopen")
	}
	now += 5 * sec
	for i := 0; i < halfOpenTrials; i++ {
		if _, ok := b.admit(now); !ok {
			t.Fatal("trial refused after reopen")
		}
		b.record(now, true, false)
	}
	if b.state.Load() != circuitClosed || b.gauge(now) != 0 {
		t.Fatal("successful trials did not close")
	}
	// Closing starts a fresh window: one failure does not reopen.
	b.record(now, false, true)
	if b.state.Load() != circuitClosed {
		t.Fatal("old failures survived closing")
	}
	// Old failures slide out of the window (nine so far, one short).
	for i := 0; i < 8; i++ {
		b.record(now, false, true)
	}
	now += 11 * sec
	b.record(now, false, true)
	if b.state.Load() != circuitClosed {
		t.Fatal("failures outside the window counted")
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		o    ServiceOptions
		want string
	}{
		{"failure_ratio 1.5", ServiceOptions{CircuitBreaker: &BreakerOptions{FailureRatio: ptr(1.5)}}, "circuit_breaker.failure_ratio: must be within (0,1]"},
		{"failure_ratio -0.1", ServiceOptions{CircuitBreaker: &BreakerOptions{FailureRatio: ptr(-0.1)}}, "circuit_breaker.failure_ratio: must be within (0,1]"},
		{"failure_ratio 0", ServiceOptions{CircuitBreaker: &BreakerOptions{FailureRatio: ptr(0.0)}}, "circuit_breaker.failure_ratio: must be within (0,1]"},
		{"window -1s", ServiceOptions{CircuitBreaker: &BreakerOptions{Window: -time.Second}}, "circuit_breaker.window: "},
		{"open_for -1s", ServiceOptions{CircuitBreaker: &BreakerOptions{OpenFor: -time.Second}}, "circuit_breaker.open_for: "},
		{"min_requests -1", ServiceOptions{CircuitBreaker: &BreakerOptions{MinRequests: ptr(-1)}}, "circuit_breaker.min_requests: must not be negative"},
		{"fallback status 99", ServiceOptions{CircuitBreaker: &BreakerOptions{Fallback: &Fallback{Status: 99}}}, "circuit_breaker.fallback.status: must be between 200 and 599"},
		{"health path", ServiceOptions{HealthCheck: &HealthCheckOptions{Path: "healthz"}}, "health_check.path: must start with \"/\""},
		{"interval -2s", ServiceOptions{HealthCheck: &HealthCheckOptions{Interval: -2 * time.Second}}, "health_check.interval: "},
		{"healthy_after -1", ServiceOptions{HealthCheck: &HealthCheckOptions{HealthyAfter: -1}}, "health_check.healthy_after: must be at least 1"},
		{"unhealthy_after -3", ServiceOptions{HealthCheck: &HealthCheckOptions{UnhealthyAfter: -3}}, "health_check.unhealthy_after: must be at least 1"},
		{"max_conns_per_target -1", ServiceOptions{MaxConnsPerTarget: -1}, "max_conns_per_target: must not be negative"},
		{"retries -1", ServiceOptions{Retries: ptr(-1)}, "retries: must not be negative"},
	}
	for _, c := range cases {
		c.o.Targets = addrs("127.0.0.1:1")
		_, err := New("svc", c.o, metrics.NewSet())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

// TestExplicitZeroHonoured checks that min_requests: 0 is kept, not turned
// into the default.
func TestExplicitZeroHonoured(t *testing.T) {
	s := compileOne(t, ServiceOptions{Targets: addrs("127.0.0.1:1"), CircuitBreaker: &BreakerOptions{MinRequests: ptr(0), FailureRatio: ptr(1.0)}})
	if b := s.res.breaker; b.minRequests != 0 || b.ratio != 1 {
		t.Errorf("breaker settings %+v: want min_requests 0 and failure_ratio 1 as written", *b)
	}
}

func TestDefaultsAndFallback(t *testing.T) {
	s := compileOne(t, ServiceOptions{Targets: addrs("127.0.0.1:1"), HealthCheck: &HealthCheckOptions{},
		CircuitBreaker: &BreakerOptions{Fallback: &Fallback{Body: []byte(`{"message": "catalog unavailable"}`)}}})
	h, b := s.res.health, s.res.breaker
	if h.path != "/" || h.interval != 2*time.Second || h.timeout != time.Second || h.healthyAfter != 2 || h.unhealthyAfter != 3 {
		t.Errorf("health defaults: %+v", *h)
	}
	if b.window != 10*time.Second || b.minRequests != 20 || b.ratio != 0.5 || b.openFor != int64(5*time.Second) {
		t.Errorf("breaker defaults: %+v", *b)
	}
	if s.Fallback == nil || s.Fallback.Status != 503 || string(s.Fallback.Body) != `{"message": "catalog unavailable"}` {
		t.Errorf("fallback: %+v", s.Fallback)
	}
	if s2 := compileOne(t, ServiceOptions{Targets: addrs("127.0.0.1:1"), CircuitBreaker: &BreakerOptions{}}); s2.Fallback != nil {
		t.Errorf("fallback without config: %+v", s2.Fallback)
	}
}

func TestHealthTimeoutCappedAtInterval(t *testing.T) {
	var errs fielderr.List
	h := compileHealth(&HealthCheckOptions{Interval: time.Second, Timeout: 2 * time.Second}, "health_check", "services.svc.health_check", &errs)
	if len(errs) > 0 || h.timeout != time.Second {
		t.Fatalf("timeout %v, errors %v: want the timeout capped at the 1s interval", h.timeout, errs)
	}
}

// TestStatusLabels: sluice_upstream_requests_total labels a call without an
// answer (status 0, or a status out of range) "error", never "0".
func TestStatusLabels(t *testing.T) {
	set := metrics.NewSet()
	svc, err := New("svc", ServiceOptions{Targets: addrs("127.0.0.1:9")}, set)
	if err != nil {
		t.Fatal(err)
	}
	tg := svc.Targets()[0]
	for _, s := range []int{0, -1, 600, 503, 200, 200} {
		tg.CountStatus(s)
	}
	var sb strings.Builder
	set.WritePrometheus(&sb)
	prefix := `sluice_upstream_requests_total{service="svc",target="127.0.0.1:9",status=`
	for _, want := range []string{prefix + `"error"} 3`, prefix + `"503"} 1`, prefix + `"200"} 2`} {
		if !strings.Contains(sb.String(), want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, sb.String())
		}
	}
	if strings.Contains(sb.String(), `status="0"`) {
		t.Errorf("a status 0 label:\n%s", sb.String())
	}
}
