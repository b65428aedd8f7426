package engine_test

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// edgeBench runs GET uri against a gateway on real loopback sockets (the
// edge stages look at the TCP peer) serving one route "r" on path /r with
// the given extra route keys, and reports allocations per request.
func edgeBench(b *testing.B, routeExtra string, header map[string]string, wantStatus int) {
	edgeBenchMethod(b, "GET", routeExtra, header, wantStatus)
}

// edgeBenchMethod is edgeBench with another method.
func edgeBenchMethod(b *testing.B, method, routeExtra string, header map[string]string, wantStatus int) {
	edgeBenchOn(b, fastUpstream(b), method, routeExtra, header, wantStatus)
}

// edgeBenchOn is edgeBenchMethod against the upstream at up.
func edgeBenchOn(b *testing.B, up, method, routeExtra string, header map[string]string, wantStatus int) {
	g := startGateway(b, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"s": {"targets": [%q]}, "s2": {"targets": [%q]}},
  "routes": [{"name": "r", "path": "/r", "service": "s"%s}]
}`, up, up, routeExtra))
	c := &fasthttp.HostClient{Addr: hostOf(g.url)}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req.SetRequestURI(g.url + "/r")
		req.Header.SetMethod(method)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if err := c.Do(req, resp); err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode() != wantStatus {
			b.Fatalf("status %d: %s", resp.StatusCode(), resp.Body())
		}
	}
}

func cidrList(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"10.%d.%d.0/25"`, i>>8&0xff, i&0xff)
	}
	return strings.Join(parts, ",")
}

// BenchmarkEdgeIPFilter: a route without ip_filter, and with 10 and 10,000
// deny entries (the loopback client passes them all: the full lookup runs).
func BenchmarkEdgeIPFilter(b *testing.B) {
	b.Run("off", func(b *testing.B) { edgeBench(b, "", nil, 200) })
	for _, n := range []int{10, 10000} {
		b.Run(fmt.Sprintf("deny=%d", n), func(b *testing.B) {
			edgeBench(b, `, "ip_filter": {"deny": [`+cidrList(n)+`]}`, nil, 200)
		})
	}
}

// BenchmarkEdgeCORS: a route without cors, a real request from an allowed
// origin, and a preflight answered at the edge.
func BenchmarkEdgeCORS(b *testing.B) {
	const c = `, "cors": {"allow_origins": ["https://app.example"], "allow_headers": ["Authorization"], "max_age": "10m"}`
	origin := map[string]string{"Origin": "https://app.example"}
	b.Run("off", func(b *testing.B) { edgeBench(b, "", origin, 200) })
	b.Run("actual", func(b *testing.B) { edgeBench(b, c, origin, 200) })
	b.Run("preflight", func(b *testing.B) {
		edgeBenchMethod(b, "OPTIONS", c, map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}, 204)
	})
}

// bigUpstream answers 8 KiB of JSON.
func bigUpstream(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var body []byte
	for i := 0; len(body) < 8<<10; i++ {
		body = fmt.Appendf(body, `{"sku":"sku-%06d","name":"Product %d","price":%d},`, i, i, i%500)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	}}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

// BenchmarkEdgeCompress: an 8 KiB JSON answer without compress, gzip and br
// on every answer, and a cached route's hits (stored compressed) with and
// without compress.
func BenchmarkEdgeCompress(b *testing.B) {
	for _, c := range []struct{ name, extra, ae string }{
		{"off", "", "gzip, br"},
		{"gzip", `, "compress": true`, "gzip"},
		{"br", `, "compress": true`, "br"},
		{"cached_hit_off", `, "cache": {"ttl": "1h"}`, "gzip, br"},
		{"cached_hit_br", `, "compress": true, "cache": {"ttl": "1h"}`, "gzip, br"},
	} {
		b.Run(c.name, func(b *testing.B) {
			edgeBenchOn(b, bigUpstream(b), "GET", c.extra, map[string]string{"Accept-Encoding": c.ae}, 200)
		})
	}
}
