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
	one := edgeRequester(b, up, method, routeExtra, header, wantStatus)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		one()
	}
}

// edgeRequester starts the gateway of edgeBench and returns a function
// making one request through it.
func edgeRequester(tb testing.TB, up, method, routeExtra string, header map[string]string, wantStatus int) func() {
	g := startGateway(tb, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"s": {"targets": [%q]}, "s2": {"targets": [%q]}},
  "routes": [{"name": "r", "path": "/r", "service": "s"%s}]
}`, up, up, routeExtra))
	c := &fasthttp.HostClient{Addr: hostOf(g.url)}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	tb.Cleanup(func() {
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	})
	return func() {
		req.SetRequestURI(g.url + "/r")
		req.Header.SetMethod(method)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if err := c.Do(req, resp); err != nil {
			tb.Fatal(err)
		}
		if resp.StatusCode() != wantStatus {
			tb.Fatalf("status %d: %s", resp.StatusCode(), resp.Body())
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

// BenchmarkEdgeSplit: a route without split, a random 50% split and a split
// by header.
func BenchmarkEdgeSplit(b *testing.B) {
	user := map[string]string{"X-User": "user-42"}
	b.Run("off", func(b *testing.B) { edgeBench(b, "", user, 200) })
	b.Run("random", func(b *testing.B) {
		edgeBench(b, `, "split": {"services": [{"service": "s2", "percent": 50}]}`, user, 200)
	})
	b.Run("header", func(b *testing.B) {
		edgeBench(b, `, "split": {"by": "header:X-User", "services": [{"service": "s2", "percent": 50}]}`, user, 200)
	})
}

// TestEdgeStagesAllocateNothing: a request through a route with every edge
// stage configured allocates no more than one through a route without them
// (counted over the whole process: client, gateway and upstream).
func TestEdgeStagesAllocateNothing(t *testing.T) {
	if edgeRaceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	up := startUpstream(t, "echo")
	const every = `, "ip_filter": {"deny": ["192.0.2.0/24"]}, "cors": {"allow_origins": ["https://app.example"]},
	  "compress": true, "split": {"by": "header:X-User", "services": [{"service": "s2", "percent": 50}]}`
	header := map[string]string{"Origin": "https://app.example", "X-User": "u1"}
	off := testing.AllocsPerRun(300, edgeRequester(t, up.addr, "GET", "", header, 200))
	on := testing.AllocsPerRun(300, edgeRequester(t, up.addr, "GET", every, header, 200))
	if on > off {
		t.Errorf("with every edge stage %v allocs a request, without %v", on, off)
	}
}
