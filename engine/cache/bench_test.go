package cache

import (
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

// hitFixture is a route with one stored entry and a reusable request that
// hits it, driven the way the engine drives the stage: one pooled Exchange and
// RequestCtx per request, reset between requests.
type hitFixture struct {
	store *Store
	route *Route
	ctx   *fasthttp.RequestCtx
	x     *pipeline.Exchange
	p     Pending
	fetch func(*pipeline.Exchange)
	calls int
}

func newHitFixture(tb testing.TB) *hitFixture {
	tb.Helper()
	s, err := New(1<<20, metrics.NewSet())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	r, err := s.Route(Options{TTL: time.Hour, Vary: []string{"Accept-Language"}, PerConsumer: true}, true)
	if err != nil {
		tb.Fatal(err)
	}
	f := &hitFixture{store: s, route: r, ctx: &fasthttp.RequestCtx{}, x: &pipeline.Exchange{}}
	f.fetch = func(x *pipeline.Exchange) {
		f.calls++
		resp := &x.Ctx.Response
		resp.SetStatusCode(200)
		resp.Header.SetContentType("application/json")
		resp.Header.Set("ETag", `"v1"`)
		resp.Header.Set("X-Upstream", "catalog")
		resp.SetBodyString(`{"sku":"abc-123","name":"Widget","price":1999,"tags":["a","b","c"]}`)
	}
	f.serve()
	s.settle()
	f.serve()
	if f.calls != 1 || f.x.CacheResult != "hit" {
		tb.Fatalf("fixture: %d upstream calls, result %q", f.calls, f.x.CacheResult)
	}
	return f
}

// serve runs one request through the stage, reusing every buffer.
func (f *hitFixture) serve() {
	f.ctx.Request.Reset()
	f.ctx.Response.Reset()
	f.ctx.Request.Header.SetMethod("GET")
	f.ctx.Request.SetRequestURI("/api/products/abc-123?fields=name&currency=EUR&lang=en")
	f.ctx.Request.Header.SetHost("Shop.Example")
	f.ctx.Request.Header.Set("Accept-Language", "en-GB")
	x := f.x
	x.Reset()
	x.Ctx = f.ctx
	x.Path = append(x.Path, "/api/products/abc-123"...)
	x.Consumer = append(x.Consumer, "alice"...)
	serve(f.route, x, &f.p, f.fetch)
	x.ApplyResponseHeaders(&f.ctx.Response.Header)
}

func TestHitZeroAllocs(t *testing.T) {
	f := newHitFixture(t)
	allocs := testing.AllocsPerRun(1000, f.serve)
	if allocs != 0 && !raceEnabled {
		t.Fatalf("cache hit: %v allocs/op, want 0", allocs)
	}
	if f.calls != 1 || f.x.CacheResult != "hit" || string(f.ctx.Response.Header.Peek("X-Cache")) != "HIT" {
		t.Fatalf("not a hit: calls %d, %q", f.calls, f.ctx.Response.Header.Peek("X-Cache"))
	}
	if got := string(f.ctx.Response.Body()); got != `{"sku":"abc-123","name":"Widget","price":1999,"tags":["a","b","c"]}` {
		t.Fatalf("body %q", got)
	}
	if string(f.ctx.Response.Header.ContentType()) != "application/json" || string(f.ctx.Response.Header.Peek("ETag")) != `"v1"` {
		t.Fatalf("headers %s", f.ctx.Response.Header.String())
	}
}

func BenchmarkServeHit(b *testing.B) {
	f := newHitFixture(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f.serve()
	}
}

// BenchmarkServeHitOnly measures the stage alone, without the request set-up.
func BenchmarkServeHitOnly(b *testing.B) {
	f := newHitFixture(b)
	x := f.x
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		x.CacheResult = ""
		x.Reset()
		x.Ctx = f.ctx
		x.Path = append(x.Path, "/api/products/abc-123"...)
		x.Consumer = append(x.Consumer, "alice"...)
		serve(f.route, x, &f.p, f.fetch)
	}
}

func BenchmarkServeHitParallel(b *testing.B) {
	f := newHitFixture(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := &fasthttp.RequestCtx{}
		x := &pipeline.Exchange{}
		var p Pending
		for pb.Next() {
			ctx.Request.Reset()
			ctx.Request.SetRequestURI("/api/products/abc-123?currency=EUR&fields=name&lang=en")
			ctx.Request.Header.SetHost("shop.example")
			ctx.Request.Header.Set("Accept-Language", "en-GB")
			x.Reset()
			x.Ctx = ctx
			x.Path = append(x.Path, "/api/products/abc-123"...)
			x.Consumer = append(x.Consumer, "alice"...)
			serve(f.route, x, &p, f.fetch)
		}
	})
}
