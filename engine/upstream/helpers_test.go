package upstream

import (
	"strconv"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/internal/enginetest"
	"github.com/valyala/fasthttp"
)

// testServer is the shared fake upstream (enginetest) answering its name:
// tests flip its behaviour with atomics, kill it (listener and every
// connection closed at once) and revive it on the same port.
type testServer struct {
	*enginetest.Upstream
	name string
	addr string
}

func newTestServer(t testing.TB, name string) *testServer {
	t.Helper()
	s := &testServer{name: name}
	s.Upstream = enginetest.StartUpstream(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(name) })
	s.addr = s.Addr()
	return s
}

// compileOne builds the service "svc" from o.
func compileOne(t testing.TB, o ServiceOptions) *Service {
	t.Helper()
	s, err := New("svc", o, metrics.NewSet())
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return s
}

// addrs lists targets by address, each of weight 0 (1).
func addrs(list ...string) []TargetOptions {
	out := make([]TargetOptions, len(list))
	for i, a := range list {
		out[i] = TargetOptions{Addr: a}
	}
	return out
}

// ptr returns a pointer to v, for options where unset differs from zero.
func ptr[T any](v T) *T { return &v }

// startChecks runs the service's health checks until the test ends.
func startChecks(t testing.TB, services ...*Service) {
	stop := make(chan struct{})
	m := map[string]*Service{}
	for i, s := range services {
		m[strconv.Itoa(i)] = s
	}
	Start(m, stop)
	t.Cleanup(func() { close(stop) })
}

// targetList lists the servers as targets.
func targetList(servers ...*testServer) []TargetOptions {
	out := make([]TargetOptions, len(servers))
	for i, s := range servers {
		out[i] = TargetOptions{Addr: s.addr}
	}
	return out
}

// call sends one request through s and reports its outcome.
func call(s *Service, method string, timeout time.Duration) (status int, body string, err error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("/x")
	idem := method == "GET"
	_, err = s.Do(req, resp, time.Now().Add(timeout), idem)
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode(), string(resp.Body()), nil
}

// waitFor polls cond every 5ms up to limit and returns how long it took.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not after %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}
