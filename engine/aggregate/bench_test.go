package aggregate

import (
	"testing"
	"time"
)

// benchPlan is a plan of three backends on three real loopback upstreams.
func benchPlan(b *testing.B) *Plan {
	var addrs []string
	for i, body := range []string{
		`{"id":42,"name":"Alice Example","email":"alice@example.com","address":{"city":"Paris","zip":"75001"}}`,
		`[{"id":1,"title":"hello"},{"id":2,"title":"world"},{"id":3,"title":"again"}]`,
		`{"unread":3}`,
	} {
		u := startUpstream(b)
		u.set("bench", answer{})
		u.set("*", answer{body: body})
		addrs = append(addrs, u.addr)
		_ = i
	}
	return mustCompile(b, servicesAt(b, addrs...), Options{Timeout: 2 * time.Second, Backends: []BackendOptions{
		{Service: "s0", Path: "/users/{id}", Key: "profile"},
		{Service: "s1", Path: "/feed?lang={query.lang}", Key: "feed"},
		{Service: "s2", Path: "/count", Key: "notifications"}}}, "id")
}

func benchServe(b *testing.B, p *Plan, allow bool) {
	x := exchange("/home/42?lang=en", "X-Request-Id: 0123456789abcdef0123456789abcdef",
		"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "X-Forwarded-For: 127.0.0.1",
		"User-Agent: bench", "Accept: application/json")
	x.Params.Set("id", []byte("42"))
	b.ReportAllocs()
	for b.Loop() {
		x.Ctx.Response.Reset()
		x.LogExtra = x.LogExtra[:0]
		x.Start = time.Now()
		p.Serve(x)
		if st, _ := rejected(x); st != 0 || x.Ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d %s", st, x.Ctx.Response.Body())
		}
	}
}

// BenchmarkServe3 measures one aggregated request of three loopback
// backends: latency and the gateway-side allocations.
func BenchmarkServe3(b *testing.B) {
	benchServe(b, benchPlan(b), false)
}

func BenchmarkServe3Parallel(b *testing.B) {
	p := benchPlan(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		x := exchange("/home/42?lang=en", "X-Request-Id: 0123456789abcdef0123456789abcdef", "User-Agent: bench")
		x.Params.Set("id", []byte("42"))
		for pb.Next() {
			x.Ctx.Response.Reset()
			x.LogExtra = x.LogExtra[:0]
			x.Start = time.Now()
			p.Serve(x)
			if x.Ctx.Response.StatusCode() != 200 {
				b.Errorf("status %d", x.Ctx.Response.StatusCode())
				return
			}
		}
	})
}
