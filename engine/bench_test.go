package engine_test

import (
	"net"
	"testing"

	"github.com/sluice-gw/sluice/engine"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// benchGateway serves cfg's engine on an in-memory listener and returns a
// client dialing it; the upstreams behind it are real loopback servers.
func benchGateway(b *testing.B, cfg string) *fasthttp.HostClient {
	b.Helper()
	e, errs := engine.Load([]byte(cfg))
	if len(errs) > 0 {
		b.Fatalf("compile: %v", errs)
	}
	if err := e.Start(); err != nil {
		b.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: e.Handle, NoDefaultServerHeader: true}
	go srv.Serve(ln)
	b.Cleanup(func() {
		srv.Shutdown()
		e.Close()
	})
	return &fasthttp.HostClient{Addr: "gateway", Dial: func(string) (net.Conn, error) { return ln.Dial() }}
}

// fastUpstream is a minimal fasthttp upstream answering a small JSON body.
func fastUpstream(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"sku":"abc","name":"thing","price":12.5}`)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	}}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

func runProxyBench(b *testing.B, c *fasthttp.HostClient, uri string, header map[string]string) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req.SetRequestURI(uri)
		req.Header.SetHost("gateway")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if err := c.Do(req, resp); err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode() != 200 {
			b.Fatalf("status %d: %s", resp.StatusCode(), resp.Body())
		}
	}
}

// BenchmarkProxy is the plain proxy path end to end in one process:
// in-memory client connection → engine → loopback upstream.
func BenchmarkProxy(b *testing.B) {
	up := fastUpstream(b)
	c := benchGateway(b, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"catalog": {"targets": [%q]}},
  "routes": [{"name": "product", "path": "/api/products/{sku}", "methods": ["GET"], "service": "catalog", "strip_prefix": "/api"}]
}`, up))
	runProxyBench(b, c, "http://gateway/api/products/abc?x=1", nil)
}

// BenchmarkProxyFeatures adds header rules, validation and a rewrite.
func BenchmarkProxyFeatures(b *testing.B) {
	up := fastUpstream(b)
	c := benchGateway(b, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"catalog": {"targets": [%q]}},
  "routes": [{"name": "product", "path": "/api/products/{sku}", "methods": ["GET"], "service": "catalog",
              "rewrite": "/catalog/{sku}", "validate": {"required_headers": ["X-Client"]},
              "request_headers": {"set": {"X-Via": "sluice"}, "remove": ["Cookie"]},
              "response_headers": {"set": {"X-Gateway": "sluice"}}}]
}`, up))
	runProxyBench(b, c, "http://gateway/api/products/abc", map[string]string{"X-Client": "bench", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
}

// BenchmarkNotFound is the cheapest gateway-made answer.
func BenchmarkNotFound(b *testing.B) {
	up := fastUpstream(b)
	c := benchGateway(b, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"catalog": {"targets": [%q]}},
  "routes": [{"name": "product", "path": "/api/products/{sku}", "service": "catalog"}]
}`, up))
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		req.SetRequestURI("http://gateway/nope")
		if err := c.Do(req, resp); err != nil || resp.StatusCode() != 404 {
			b.Fatalf("%v %d", err, resp.StatusCode())
		}
	}
}
