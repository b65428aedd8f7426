package cors

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

func compile(t testing.TB, o Options, methods ...string) *Policy {
	t.Helper()
	p, err := New(o, methods)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAllowed(t *testing.T) {
	p := compile(t, Options{AllowOrigins: []string{"https://App.example", "https://*.shop.example", "http://localhost:3000", "null"}})
	for o, want := range map[string]bool{
		"https://app.example": true, "https://APP.example": true, "http://app.example": false,
		"https://a.shop.example": true, "https://a.b.shop.example": true, "https://shop.example": false,
		"https://evil.example/.shop.example": false, "http://a.shop.example": false,
		"http://localhost:3000": true, "http://localhost:3001": false, "null": true, "": false,
	} {
		if got := p.Allowed([]byte(o)); got != want {
			t.Errorf("%q: allowed=%v, want %v", o, got, want)
		}
	}
	if any := compile(t, Options{}); !any.Allowed([]byte("https://x.example")) || any.Allowed(nil) {
		t.Error("no allow_origins means any origin (but a request needs one)")
	}
}

func TestNewDefaultsAndValues(t *testing.T) {
	p := compile(t, Options{AllowOrigins: []string{"https://a.example"}, AllowHeaders: []string{"Authorization", "X-Client"},
		ExposeHeaders: []string{"X-Cache"}, MaxAge: 600 * time.Second}, "GET", "POST")
	if p.allowMethods != "GET, HEAD, POST" || p.allowHeaders != "Authorization, X-Client" || p.exposeHeaders != "X-Cache" || p.maxAge != "600" {
		t.Fatalf("%+v", p)
	}
	if d := compile(t, Options{}); d.allowMethods != defaultMethods || d.maxAge != "5" || d.allowHeaders != "" {
		t.Fatalf("defaults %+v", d)
	}
}

func TestNewErrors(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{AllowOrigins: []string{"*"}, AllowCredentials: true}, "allow_credentials: cannot be true with a wildcard origin"},
		{Options{AllowCredentials: true}, "allow_credentials: cannot be true with a wildcard origin"},
		{Options{AllowOrigins: []string{"https://ok.example", "app.example"}}, `allow_origins[1]: want "*" or scheme://host[:port]`},
		{Options{AllowOrigins: []string{"https://a.example/path"}}, `allow_origins[0]:`},
		{Options{AllowOrigins: []string{"https://a.*.example"}}, `allow_origins[0]:`},
		{Options{AllowMethods: []string{"GET", "get"}}, `allow_methods[1]: unknown method "get"`},
		{Options{AllowHeaders: []string{"Bad Header"}}, `allow_headers[0]: invalid header name "Bad Header"`},
		{Options{AllowOrigins: []string{"https://a.example"}, AllowCredentials: true, ExposeHeaders: []string{"*"}}, `expose_headers[0]: "*" is taken literally`},
		{Options{MaxAge: -time.Second}, "max_age: must not be negative"},
	} {
		_, err := New(c.o, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.o, err, c.want)
		}
	}
}

func exchange(method string, hdr ...string) (*pipeline.Exchange, *fasthttp.RequestCtx) {
	ctx := new(fasthttp.RequestCtx)
	ctx.Request.Header.SetMethod(method)
	for i := 0; i+1 < len(hdr); i += 2 {
		ctx.Request.Header.Set(hdr[i], hdr[i+1])
	}
	return &pipeline.Exchange{Ctx: ctx}, ctx
}

func TestRequestAllocatesNothing(t *testing.T) {
	p := compile(t, Options{AllowOrigins: []string{"https://a.example"}, AllowCredentials: true, ExposeHeaders: []string{"X-Cache"}})
	x, ctx := exchange("GET", "Origin", "https://a.example")
	pre, pctx := exchange("OPTIONS", "Origin", "https://a.example", HeaderRequestMethod, "PUT", HeaderRequestHeaders, "X-A")
	x.AddResponseHeaderString("warm", "up")
	for _, f := range []func(){
		func() { x.Reset(); x.Ctx = ctx; p.Request(x); p.Respond(x) },
		func() { pre.Reset(); pre.Ctx = pctx; p.Request(pre); p.Respond(pre) },
	} {
		if n := testing.AllocsPerRun(200, f); n != 0 {
			t.Errorf("allocates %v", n)
		}
	}
}

func BenchmarkRequest(b *testing.B) {
	p := compile(b, Options{AllowOrigins: []string{"https://a.example", "https://b.example"}, ExposeHeaders: []string{"X-Cache"}})
	run := func(name string, p *Policy, method string, hdr ...string) {
		b.Run(name, func(b *testing.B) {
			x, ctx := exchange(method, hdr...)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				x.Reset()
				x.Ctx = ctx
				p.Request(x)
				p.Respond(x)
			}
		})
	}
	run("not_configured", nil, "GET", "Origin", "https://b.example")
	run("actual", p, "GET", "Origin", "https://b.example")
	run("preflight", p, "OPTIONS", "Origin", "https://b.example", HeaderRequestMethod, "PUT")
}
