package enginetest

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func get(t *testing.T, u *Upstream, path string) (int, string, error) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + u.Addr() + path)
	err := fasthttp.DoTimeout(req, resp, 2*time.Second)
	return resp.StatusCode(), string(resp.Body()), err
}

func TestUpstream(t *testing.T) {
	u := StartUpstream(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("hi " + string(ctx.Path())) })
	if st, body, err := get(t, u, "/a"); err != nil || st != 200 || body != "hi /a" {
		t.Fatalf("GET /a = %d %q %v", st, body, err)
	}
	u.Status.Store(503)
	if st, _, _ := get(t, u, "/b"); st != 503 {
		t.Fatalf("forced status: got %d", st)
	}
	u.Status.Store(0)
	u.Sick.Store(true)
	if st, _, _ := get(t, u, HealthPath); st != 500 {
		t.Fatalf("sick health: got %d", st)
	}
	if h, p := u.Hits.Load(), u.Probes.Load(); h != 2 || p != 1 {
		t.Fatalf("hits %d probes %d, want 2 and 1", h, p)
	}

	u.SetDelay(50 * time.Millisecond)
	start := time.Now()
	get(t, u, "/slow")
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("delay not applied: %v", d)
	}
	u.SetDelay(0)

	release := u.Hold()
	done := make(chan struct{})
	go func() { get(t, u, "/held"); close(done) }()
	select {
	case <-done:
		t.Fatal("held request answered before release")
	case <-time.After(100 * time.Millisecond):
	}
	release()
	<-done

	addr := u.Addr()
	u.Kill()
	if _, _, err := get(t, u, "/a"); err == nil {
		t.Fatal("killed upstream answered")
	}
	u.Revive()
	if u.Addr() != addr {
		t.Fatalf("revived on %s, want %s", u.Addr(), addr)
	}
	if st, _, err := get(t, u, "/a"); err != nil || st != 200 {
		t.Fatalf("revived: %d %v", st, err)
	}
}

func TestExchange(t *testing.T) {
	x := Exchange("POST", "/p/q?a=1", "X-Id: 7", "x-lower: v")
	if string(x.Ctx.Method()) != "POST" || string(x.Path) != "/p/q" || string(x.Ctx.QueryArgs().Peek("a")) != "1" {
		t.Fatalf("method %q path %q", x.Ctx.Method(), x.Path)
	}
	if string(x.Ctx.Request.Header.Peek("X-Id")) != "7" || string(x.Ctx.Request.Header.Peek("x-lower")) != "v" {
		t.Fatal("headers not set as written")
	}
	if x.Start.IsZero() {
		t.Fatal("Start not set")
	}
}
