package upstream

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// benchService is a two-target service with health checks and a circuit
// breaker, so that Do walks every resilience hook.
func benchService(tb testing.TB) *Service {
	a, b := newTestServer(tb, "a"), newTestServer(tb, "b")
	s := compileOne(tb, ServiceOptions{Targets: targetList(a, b), Timeout: 2 * time.Second, Balancer: "least_conn",
		HealthCheck: &HealthCheckOptions{Path: "/health", Interval: time.Second}, CircuitBreaker: &BreakerOptions{}})
	startChecks(tb, s)
	return s
}

func BenchmarkDo(b *testing.B) {
	s := benchService(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		req.Header.SetMethod("GET")
		req.SetRequestURI("/bench")
		for pb.Next() {
			if _, err := s.Do(req, resp, time.Now().Add(2*time.Second), true); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The proxy path allocates nothing per request once pools are warm.
func TestDoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	s := benchService(t)
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	req.Header.SetMethod("GET")
	req.SetRequestURI("/bench")
	do := func() {
		if _, err := s.Do(req, resp, time.Now().Add(2*time.Second), true); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 100; i++ {
		do()
	}
	if n := testing.AllocsPerRun(500, do); n > 0 {
		t.Errorf("Do allocates %.2f times per request, want 0", n)
	}
}

// BenchmarkResilienceOverhead is the per-request cost of the hooks alone:
// retry-budget count, pick (health, ejection, circuit), admit and the
// outcome's ejection and breaker bookkeeping, with no network.
func BenchmarkResilienceOverhead(b *testing.B) {
	s := compileOne(b, ServiceOptions{Targets: addrs("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"), CircuitBreaker: &BreakerOptions{}})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var buf [maxExclude]*Target
		for pb.Next() {
			now := nanotime()
			s.res.onRequest(now)
			t, trial, err := s.pick(now, buf[:0])
			if err != nil {
				b.Fatal(err)
			}
			t.onResult(now, trial, nil, 200)
		}
	})
}
