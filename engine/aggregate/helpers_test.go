package aggregate

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/fielderr"
	"github.com/sluice-gw/sluice/engine/internal/enginetest"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/sluice-gw/sluice/engine/upstream"
	"github.com/valyala/fasthttp"
)

// testUpstream is the shared fake upstream (enginetest) whose answer per
// path is set by the test; it records the last request URI and headers per
// path.
type testUpstream struct {
	*enginetest.Upstream
	addr string

	mu      sync.Mutex
	answers map[string]answer
	seen    map[string]seenRequest
}

type answer struct {
	status int
	body   string
	delay  time.Duration
	ctype  string
}

type seenRequest struct {
	uri     string
	method  string
	headers map[string]string // lower-case name → value
}

func startUpstream(t testing.TB) *testUpstream {
	t.Helper()
	u := &testUpstream{answers: map[string]answer{}, seen: map[string]seenRequest{}}
	u.Upstream = enginetest.StartUpstream(t, u.handle)
	u.addr = u.Addr()
	return u
}

func (u *testUpstream) set(path string, a answer) {
	u.mu.Lock()
	u.answers[path] = a
	u.mu.Unlock()
}

func (u *testUpstream) last(path string) (seenRequest, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	s, ok := u.seen[path]
	return s, ok
}

func (u *testUpstream) handle(ctx *fasthttp.RequestCtx) {
	u.mu.Lock()
	a, ok := u.answers[string(ctx.Path())] // no allocation for a map index
	if !ok {
		a = u.answers["*"]
	}
	if _, bench := u.answers["bench"]; !bench {
		path := string(ctx.Path())
		s := seenRequest{uri: string(ctx.RequestURI()), method: string(ctx.Method()), headers: map[string]string{}}
		for k, v := range ctx.Request.Header.All() {
			s.headers[strings.ToLower(string(k))] = string(v)
		}
		u.seen[path] = s
	}
	u.mu.Unlock()
	if a.delay > 0 {
		time.Sleep(a.delay)
	}
	if a.status == 0 {
		a.status = 200
	}
	if a.ctype == "" {
		a.ctype = "application/json"
	}
	ctx.SetStatusCode(a.status)
	ctx.SetContentType(a.ctype)
	ctx.SetBodyString(a.body)
}

// compileTest compiles o against services, for a route whose path has the
// parameters params.
func compileTest(t testing.TB, services map[string]*upstream.Service, o Options, params ...string) (*Plan, fielderr.List) {
	t.Helper()
	p, err := New(o, services, params)
	var errs fielderr.List
	if err != nil && !errors.As(err, &errs) {
		t.Fatalf("error %v is not a fielderr.List", err)
	}
	return p, errs
}

func mustCompile(t testing.TB, services map[string]*upstream.Service, o Options, params ...string) *Plan {
	t.Helper()
	p, errs := compileTest(t, services, o, params...)
	if len(errs) > 0 {
		t.Fatalf("compile: %v", errs)
	}
	return p
}

// mapClaims is a pipeline.Claims over a map.
type mapClaims map[string]string

func (m mapClaims) Claim(name string) ([]byte, bool) {
	v, ok := m[name]
	return []byte(v), ok
}

// exchange builds an Exchange for a GET of uri with headers ("Name: value").
func exchange(uri string, headers ...string) *pipeline.Exchange {
	return enginetest.Exchange("GET", uri, headers...)
}

func rejected(x *pipeline.Exchange) (int, string) {
	r, ok := x.Rejected()
	if !ok {
		return 0, ""
	}
	return r.Status, r.Code
}

// partial reports whether x queued X-Partial-Response: true.
func partial(x *pipeline.Exchange) bool {
	var h fasthttp.ResponseHeader
	x.ApplyResponseHeaders(&h)
	return string(h.Peek(HeaderPartial)) == "true"
}
