package cors

import (
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

func compile(t testing.TB, c config.CORS, methods ...string) *Policy {
	t.Helper()
	p, errs := Compile(&c, methods, "routes[0].cors")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return p
}

func TestAllowed(t *testing.T) {
	p := compile(t, config.CORS{AllowOrigins: []string{"https://App.example", "https://*.shop.example", "http://localhost:3000", "null"}})
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
	if any := compile(t, config.CORS{}); !any.Allowed([]byte("https://x.example")) || any.Allowed(nil) {
		t.Error("no allow_origins means any origin (but a request needs one)")
	}
}

func TestCompileDefaultsAndValues(t *testing.T) {
	p := compile(t, config.CORS{AllowOrigins: []string{"https://a.example"}, AllowHeaders: []string{"Authorization", "X-Client"},
		ExposeHeaders: []string{"X-Cache"}, MaxAge: config.Duration(600e9)}, "GET", "POST")
	if p.allowMethods != "GET, HEAD, POST" || p.allowHeaders != "Authorization, X-Client" || p.exposeHeaders != "X-Cache" || p.maxAge != "600" {
		t.Fatalf("%+v", p)
	}
	if d := compile(t, config.CORS{}); d.allowMethods != defaultMethods || d.maxAge != "5" || d.allowHeaders != "" {
		t.Fatalf("defaults %+v", d)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  config.CORS
		want string
	}{
		{config.CORS{AllowOrigins: []string{"*"}, AllowCredentials: true}, "routes[0].cors.allow_credentials: cannot be true with a wildcard origin"},
		{config.CORS{AllowCredentials: true}, "routes[0].cors.allow_credentials: cannot be true with a wildcard origin"},
		{config.CORS{AllowOrigins: []string{"https://ok.example", "app.example"}}, `routes[0].cors.allow_origins[1]: want "*" or scheme://host[:port]`},
		{config.CORS{AllowOrigins: []string{"https://a.example/path"}}, `routes[0].cors.allow_origins[0]:`},
		{config.CORS{AllowOrigins: []string{"https://a.*.example"}}, `routes[0].cors.allow_origins[0]:`},
		{config.CORS{AllowMethods: []string{"GET", "get"}}, `routes[0].cors.allow_methods[1]: unknown method "get"`},
		{config.CORS{AllowHeaders: []string{"Bad Header"}}, `routes[0].cors.allow_headers[0]: invalid header name "Bad Header"`},
		{config.CORS{AllowOrigins: []string{"https://a.example"}, AllowCredentials: true, ExposeHeaders: []string{"*"}}, `routes[0].cors.expose_headers[0]: "*" is taken literally`},
		{config.CORS{MaxAge: config.Duration(-1e9)}, "routes[0].cors.max_age: must not be negative"},
	} {
		_, errs := Compile(&c.cfg, nil, "routes[0].cors")
		if !strings.Contains(errs.Error(), c.want) {
			t.Errorf("%+v: got %q, want %q", c.cfg, errs.Error(), c.want)
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
	p := compile(t, config.CORS{AllowOrigins: []string{"https://a.example"}, AllowCredentials: true, ExposeHeaders: []string{"X-Cache"}})
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
	p := compile(b, config.CORS{AllowOrigins: []string{"https://a.example", "https://b.example"}, ExposeHeaders: []string{"X-Cache"}})
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
