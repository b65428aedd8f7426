package loadgen

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// serve starts a fasthttp server on 127.0.0.1:0 whose handler sleeps for the
// "ms" query parameter and answers the "status" one (default 200).
func serve(t *testing.T) (addr string, hits *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hits = new(atomic.Int64)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		hits.Add(1)
		if ms, _ := strconv.Atoi(string(ctx.QueryArgs().Peek("ms"))); ms > 0 {
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
		if st, _ := strconv.Atoi(string(ctx.QueryArgs().Peek("status"))); st > 0 {
			ctx.SetStatusCode(st)
		}
		ctx.SetBodyString("ok")
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String(), hits
}

// TestOpenLoopCountsQueueing overloads a server that takes 50ms per request
// with one connection and 100 requests/s scheduled: request i is sent when
// i-1 returns, so its latency from the intended send time is about
// 50ms + 40ms*i. A closed loop on the same server sees only the 50ms.
func TestOpenLoopCountsQueueing(t *testing.T) {
	addr, _ := serve(t)
	res, err := Run(context.Background(), Config{
		Addr: addr, Request: Request{Path: "/?ms=50"},
		Concurrency: 1, Rate: 100, Duration: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 30 || res.Unsent != 0 {
		t.Fatalf("requests %d unsent %d, want 30 and 0 (%s)", res.Requests, res.Unsent, res.FirstProblem)
	}
	// Request 29 is intended at 290ms and answered at about 30*50 = 1500ms.
	if max := res.Latency.PercentileDuration(100); max < 1100*time.Millisecond || max > 5*time.Second {
		t.Errorf("max latency %v, want about 1.21s", max)
	}
	if p50 := res.Latency.PercentileDuration(50); p50 < 500*time.Millisecond {
		t.Errorf("p50 %v hides the queueing (want about 650ms)", p50)
	}

	closed, err := Run(context.Background(), Config{
		Addr: addr, Request: Request{Path: "/?ms=50"}, Concurrency: 1, Duration: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if p99 := closed.Latency.PercentileDuration(99); p99 < 50*time.Millisecond || p99 > 200*time.Millisecond {
		t.Errorf("closed loop p99 %v, want about 50ms", p99)
	}
}

// TestOpenLoopKeepsRate checks that a server with capacity to spare gets the
// scheduled number of requests and low latencies.
func TestOpenLoopKeepsRate(t *testing.T) {
	addr, hits := serve(t)
	res, err := Run(context.Background(), Config{
		Addr: addr, Request: Request{Path: "/?ms=1"}, Concurrency: 8, Rate: 500, Duration: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 500 || hits.Load() != 500 {
		t.Errorf("requests %d, server hits %d, want 500", res.Requests, hits.Load())
	}
	if el := res.Elapsed; el < 990*time.Millisecond || el > 2500*time.Millisecond {
		t.Errorf("elapsed %v, want about 1s", el)
	}
	// A few ms on an idle machine; the bound leaves room for a busy CI box
	// while still far below what accumulated queueing would show (seconds).
	if p50 := res.Latency.PercentileDuration(50); p50 > 250*time.Millisecond {
		t.Errorf("p50 %v, want a few ms", p50)
	}
}

func TestClosedLoopCapAndStatus(t *testing.T) {
	addr, hits := serve(t)
	res, err := Run(context.Background(), Config{
		Addr: addr, Request: Request{Path: "/"}, Concurrency: 4, Duration: 10 * time.Second, MaxRequests: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 1000 || hits.Load() != 1000 || res.Latency.Count() != 1000 {
		t.Errorf("requests %d, hits %d, recorded %d, want 1000", res.Requests, hits.Load(), res.Latency.Count())
	}
	if res.Elapsed > 5*time.Second || res.Throughput() <= 0 {
		t.Errorf("elapsed %v throughput %v", res.Elapsed, res.Throughput())
	}

	res, err = Run(context.Background(), Config{
		Addr: addr, Request: Request{Path: "/?status=503"}, Duration: time.Second, MaxRequests: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 0 || res.BadStatus != 10 || res.FirstProblem == "" {
		t.Errorf("ok %d bad %d problem %q", res.Requests, res.BadStatus, res.FirstProblem)
	}
}

func TestTransportErrorsAndBadConfig(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	res, err := Run(context.Background(), Config{Addr: addr, Duration: time.Second, MaxRequests: 5, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 5 || res.Requests != 0 {
		t.Errorf("errors %d ok %d, want 5 and 0", res.Errors, res.Requests)
	}
	if _, err := Run(context.Background(), Config{Addr: addr}); err == nil {
		t.Error("missing duration accepted")
	}
	if _, err := Run(context.Background(), Config{Addr: addr, Duration: time.Second, Rate: -1}); err == nil {
		t.Error("negative rate accepted")
	}
}

func TestProgressAndCancel(t *testing.T) {
	addr, _ := serve(t)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var calls atomic.Int64
	res, err := Run(ctx, Config{
		Addr: addr, Request: Request{Path: "/?ms=5"}, Concurrency: 2, Duration: time.Minute,
		Progress: func(time.Duration, int64) { calls.Add(1) },
	})
	if err == nil || res.Elapsed > 3*time.Second {
		t.Errorf("err %v elapsed %v: cancel not honoured", err, res.Elapsed)
	}
	if calls.Load() < 1 {
		t.Error("progress never called")
	}
}

// BenchmarkClosedLoop measures the generator's cost per request against an
// in-process server (allocations include the server's, which are none).
func BenchmarkClosedLoop(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown()
	b.ReportAllocs()
	b.ResetTimer()
	res, err := Run(context.Background(), Config{
		Addr: ln.Addr().String(), Request: Request{Path: "/"}, Concurrency: 4,
		Duration: time.Minute, MaxRequests: int64(b.N),
	})
	if err != nil || res.Requests != int64(b.N) {
		b.Fatalf("requests %d of %d: %v", res.Requests, b.N, err)
	}
}

// TestRotationAndLimited: every request carries the rotation's next value
// (every 4th a fresh one), and answers with LimitedStatus count as answers.
func TestRotationAndLimited(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		v := string(ctx.Request.Header.Peek("X-Token"))
		mu.Lock()
		seen[v]++
		mu.Unlock()
		if v == "b" {
			ctx.SetStatusCode(429)
		}
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	rot := &Rotation{Header: "X-Token", Values: []string{"a", "b", "c"}, Fresh: []string{"f1", "f2", "f3", "f4"}, FreshEvery: 4}
	cfg := Config{Addr: ln.Addr().String(), Request: Request{Path: "/", Rotate: rot}, Concurrency: 3,
		Duration: 10 * time.Second, MaxRequests: 120, LimitedStatus: 429}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 120 || res.BadStatus != 0 || res.Limited != int64(seen["b"]) || res.Limited == 0 {
		t.Errorf("requests %d limited %d bad %d, seen %v", res.Requests, res.Limited, res.BadStatus, seen)
	}
	if rot.FreshUsed() != 30 || seen["f1"]+seen["f2"]+seen["f3"]+seen["f4"] != 30 || seen["f4"] == 0 {
		t.Errorf("fresh used %d, seen %v", rot.FreshUsed(), seen)
	}
	// A second run continues the rotation: no value is handed out twice in a row.
	cfg.MaxRequests = 4
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if rot.FreshUsed() != 31 {
		t.Errorf("second run: fresh used %d, want 31", rot.FreshUsed())
	}
	cfg.LimitedStatus, cfg.MaxRequests = 0, 30
	res, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.BadStatus == 0 || res.Limited != 0 {
		t.Errorf("without LimitedStatus a 429 is a bad status: bad %d limited %d", res.BadStatus, res.Limited)
	}
}
