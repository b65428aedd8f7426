package ratelimit

import (
	"strconv"
	"testing"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

// testMetrics holds the series of every Set the tests compile, so that a
// test can sum what several instances counted.
var testMetrics = metrics.NewSet()

// compile compiles o, failing on errors.
func compile(t testing.TB, o Options) *Set {
	t.Helper()
	s, err := New(o, testMetrics)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// policies is the Options of one instance without a store.
func policies(ps ...PolicyOptions) Options { return Options{Policies: ps} }

// store validates r, failing on errors.
func store(t testing.TB, r RedisOptions) *Store {
	t.Helper()
	st, err := NewStore(r)
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	return st
}

func route(t testing.TB, s *Set, name string, policies ...string) *Route {
	t.Helper()
	r, err := s.Route(policies, name)
	if err != nil {
		t.Fatalf("route: %v", err)
	}
	return r
}

// claims is a fixed claim set.
type claims map[string]string

func (c claims) Claim(name string) ([]byte, bool) {
	v, ok := c[name]
	return []byte(v), ok
}

// req describes one client request.
type req struct {
	ip       string
	headers  map[string]string
	consumer string
	claims   claims
}

// answer is what the stage did with a request.
type answer struct {
	ok                                  bool
	status                              int
	code                                string
	limit, remaining, reset, retryAfter int // -1 when the header is absent
}

func exchange(r req) *pipeline.Exchange {
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.SetRequestURI("/x")
	for k, v := range r.headers {
		ctx.Request.Header.Set(k, v)
	}
	x := &pipeline.Exchange{Ctx: ctx, ClientIP: []byte(r.ip), Consumer: []byte(r.consumer)}
	if r.claims != nil {
		x.Claims = r.claims
	}
	return x
}

func do(rt *Route, r req) answer {
	x := exchange(r)
	ok := rt.Allow(x)
	x.ApplyResponseHeaders(&x.Ctx.Response.Header)
	h := func(name string) int {
		v := x.Ctx.Response.Header.Peek(name)
		if v == nil {
			return -1
		}
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return -2
		}
		return n
	}
	a := answer{ok: ok, limit: h(hLimit), remaining: h(hRemaining), reset: h(hReset), retryAfter: h(hRetryAfter)}
	if rej, failed := x.Rejected(); failed {
		a.status, a.code = rej.Status, rej.Code
	}
	return a
}

// admitted counts the admitted requests among n identical ones.
func admitted(rt *Route, r req, n int) int {
	c := 0
	for range n {
		if rt.Allow(exchange(r)) {
			c++
		}
	}
	return c
}
