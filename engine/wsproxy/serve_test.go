package wsproxy

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/gorilla/websocket"
	"github.com/sluice-gw/sluice/engine/forward"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/sluice-gw/sluice/engine/upstream"
	"github.com/valyala/fasthttp"
)

// echoServer is a gorilla WebSocket echo server on 127.0.0.1.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var up websocket.Upgrader
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil || c.WriteMessage(typ, msg) != nil {
				return
			}
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// proxy serves Serve on a fasthttp server on 127.0.0.1, the way the engine
// calls it (hop-by-hop headers removed first).
func proxy(t *testing.T, svc *upstream.Service) string { return proxyClosing(t, svc, false) }

// proxyClosing is proxy; with closeConn the response asks to close the
// connection, which makes fasthttp skip the hijack (as a draining engine does).
func proxyClosing(t *testing.T, svc *upstream.Service, closeConn bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		x := &pipeline.Exchange{Ctx: ctx}
		if !IsUpgrade(x) {
			ctx.SetStatusCode(400)
			return
		}
		forward.RemoveHopByHop(&ctx.Request.Header, nil)
		Serve(x, svc)
		if rej, failed := x.Rejected(); failed {
			ctx.SetStatusCode(rej.Status)
		}
		if closeConn {
			ctx.SetConnectionClose()
		}
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

func compileService(t *testing.T, target, timeout string) *upstream.Service {
	t.Helper()
	d, err := time.ParseDuration(timeout)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := upstream.New("chat", upstream.ServiceOptions{Targets: []upstream.TargetOptions{{Addr: target}}, Timeout: d}, metrics.NewSet())
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestCloseTunnels(t *testing.T) {
	svc := compileService(t, echoServer(t), "10s")
	other := compileService(t, echoServer(t), "10s")
	addr, otherAddr := proxy(t, svc), proxy(t, other)
	dial := func(addr string) *websocket.Conn {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := c.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "ping" {
			t.Fatalf("echo %q, %v", msg, err)
		}
		return c
	}
	a, b, kept := dial(addr), dial(addr), dial(otherAddr)
	if got := svc.Targets()[0].InFlight(); got != 2 {
		t.Fatalf("target in flight %d, want 2 open tunnels", got)
	}
	if n := CloseTunnels(svc); n != 2 {
		t.Fatalf("closed %d tunnels, want 2", n)
	}
	for _, c := range []*websocket.Conn{a, b} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := c.ReadMessage(); err == nil {
			t.Fatal("tunnel still open after CloseTunnels")
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("tunnel not closed by CloseTunnels")
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for svc.Targets()[0].InFlight() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := svc.Targets()[0].InFlight(); got != 0 {
		t.Fatalf("target in flight %d after close, want 0", got)
	}
	// Another service's tunnel is untouched.
	if err := kept.WriteMessage(websocket.TextMessage, []byte("still")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := kept.ReadMessage(); err != nil || string(msg) != "still" {
		t.Fatalf("other service's tunnel: %q, %v", msg, err)
	}
}

// When fasthttp skips the hijack handler, the orphan guard closes the
// upstream side instead of leaking it.
func TestOrphanedTunnelCloses(t *testing.T) {
	old := orphanAfter
	orphanAfter = 100 * time.Millisecond
	t.Cleanup(func() { orphanAfter = old })
	svc := compileService(t, echoServer(t), "10s")
	addr := proxyClosing(t, svc, true)
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	if err == nil {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := c.ReadMessage(); err == nil {
			t.Fatal("a tunnel opened although the response closed the connection")
		}
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for svc.Targets()[0].InFlight() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := svc.Targets()[0].InFlight(); got != 0 {
		t.Fatalf("upstream connection leaked: %d in flight", got)
	}
}
