package engine_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/valyala/fasthttp"
)

// aggBenchBackends starts three quiet loopback backends answering the home
// screen's three paths after delay.
func aggBenchBackends(b *testing.B, delay time.Duration) []string {
	addrs, bs := aggHome(b)
	for i, p := range []string{"/users/42", "/feed", "/count"} {
		bs[i].quiet = true
		a := bs[i].answers[p]
		a.delay = delay
		bs[i].set(p, a)
	}
	return addrs
}

// BenchmarkAggregateHandle runs aggregated requests of three real loopback
// backends through the engine's handler in-process (no client socket):
// allocations per aggregated request, gateway and backends included.
func BenchmarkAggregateHandle(b *testing.B) {
	addrs := aggBenchBackends(b, 0)
	c, err := config.Parse([]byte(aggConfig(addrs, "", aggHomeRoute)))
	if err != nil {
		b.Fatal(err)
	}
	e, errs := engine.Compile(c)
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	if err := e.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.Close)

	var tmpl fasthttp.Request
	tmpl.Header.DisableNormalizing()
	tmpl.SetRequestURI("/home/42?lang=en")
	tmpl.Header.SetHost("gateway.test")
	tmpl.Header.Set("User-Agent", "bench")
	tmpl.Header.Set("Accept", "application/json")
	var ctx fasthttp.RequestCtx
	ctx.Init(&tmpl, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	b.ReportAllocs()
	for b.Loop() {
		tmpl.CopyTo(&ctx.Request)
		ctx.Response.Reset()
		e.Handle(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}

// BenchmarkAggregateLoopback compares, over loopback sockets, one client
// request aggregating three backends through the gateway with the same
// client calling the three backends one after the other.
func BenchmarkAggregateLoopback(b *testing.B) {
	for _, delay := range []time.Duration{0, 2 * time.Millisecond} {
		addrs := aggBenchBackends(b, delay)
		_, url := aggGateway(b, aggConfig(addrs, "", aggHomeRoute))
		gw := &fasthttp.HostClient{Addr: url[len("http://"):]}
		direct := make([]*fasthttp.HostClient, len(addrs))
		for i, a := range addrs {
			direct[i] = &fasthttp.HostClient{Addr: a}
		}
		paths := []string{"/users/42", "/feed?lang=en", "/count"}
		get := func(c *fasthttp.HostClient, uri string) {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.SetRequestURI(uri)
			req.SetHost(c.Addr)
			if err := c.DoTimeout(req, resp, 5*time.Second); err != nil || resp.StatusCode() != 200 {
				b.Fatalf("GET %s: %v %d", uri, err, resp.StatusCode())
			}
			fasthttp.ReleaseRequest(req)
			fasthttp.ReleaseResponse(resp)
		}
		b.Run(fmt.Sprintf("delay=%v/aggregate", delay), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				get(gw, "/home/42?lang=en")
			}
		})
		b.Run(fmt.Sprintf("delay=%v/sequential", delay), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for i, c := range direct {
					get(c, paths[i])
				}
			}
		})
	}
}
