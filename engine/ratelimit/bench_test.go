package ratelimit

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkAllowIP is the stage's cost for one ip-keyed policy, headers included.
func BenchmarkAllowIP(b *testing.B) {
	s := compile(b, policies(PolicyOptions{Name: "p", Key: "ip", Requests: 1000000000, Per: time.Second}))
	rt := route(b, s, "r", "p")
	x := exchange(req{})
	ctx := x.Ctx
	ips := make([][]byte, 256)
	for i := range ips {
		ips[i] = []byte("10.0.0." + strconv.Itoa(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		x.Reset()
		x.Ctx = ctx
		x.ClientIP = append(x.ClientIP, ips[i&255]...)
		if !rt.Allow(x) {
			b.Fatal("rejected")
		}
	}
}

// BenchmarkAllowTwoPolicies is a route with an ip and a header policy.
func BenchmarkAllowTwoPolicies(b *testing.B) {
	s := compile(b, policies(
		PolicyOptions{Name: "p", Key: "ip", Requests: 1000000000, Per: time.Second},
		PolicyOptions{Name: "k", Key: "header:X-Api-Key", Requests: 1000000000, Per: time.Second}))
	rt := route(b, s, "r", "p", "k")
	x := exchange(req{headers: map[string]string{"X-Api-Key": "key-123"}})
	ctx := x.Ctx
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		x.Reset()
		x.Ctx = ctx
		x.ClientIP = append(x.ClientIP, "192.168.1.20"...)
		if !rt.Allow(x) {
			b.Fatal("rejected")
		}
	}
}
