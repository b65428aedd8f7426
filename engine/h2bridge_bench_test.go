package engine

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"
)

// benchWriter is a reusable http.ResponseWriter that keeps nothing.
type benchWriter struct {
	h      http.Header
	status int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *benchWriter) WriteHeader(s int)           { w.status = s }

// BenchmarkH2Bridge measures what the HTTP/2 bridge adds to the engine's own
// work for one request (a 404 answered by the engine, no upstream): "fasthttp"
// is the engine's handler on a parsed fasthttp request, "h2-bridge" the same
// request arriving as a net/http request on an h2 stream (net/http's own
// per-stream objects and x/net's framing are not included).
func BenchmarkH2Bridge(b *testing.B) {
	e, server, tc := bridgeFixture(b)

	b.Run("fasthttp", func(b *testing.B) {
		var ctx fasthttp.RequestCtx
		ctx.Init2(server, quietLogger{}, false)
		b.ReportAllocs()
		for b.Loop() {
			ctx.Request.Header.SetMethod("GET")
			ctx.Request.SetRequestURI("/nope?x=1")
			ctx.Request.Header.SetHost("gateway")
			ctx.Request.Header.Set("User-Agent", "bench")
			ctx.Request.Header.Set("Accept", "application/json")
			e.Handle(&ctx)
			ctx.Request.Reset()
			ctx.Response.Reset()
		}
	})
	b.Run("h2-bridge", func(b *testing.B) {
		bridge, req, w := bridgeRequest(e, tc)
		b.ReportAllocs()
		for b.Loop() {
			bridge.ServeHTTP(w, req)
			if w.status != 404 {
				b.Fatalf("status %d", w.status)
			}
			clear(w.h)
		}
	})
}

// bridgeFixture compiles an engine with one route and makes a loopback TCP
// connection pair; the server side, wrapped in TLS, stands for an h2
// connection (its addresses are all the bridge uses).
func bridgeFixture(tb testing.TB) (*Engine, net.Conn, *tls.Conn) {
	e, errs := Load([]byte(`{"server": {"access_log": "off"}, "services": {"s": {"targets": ["127.0.0.1:9"]}},
	  "routes": [{"name": "r", "path": "/r", "service": "s"}]}`))
	if len(errs) > 0 {
		tb.Fatal(errs)
	}
	tb.Cleanup(e.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { client.Close() })
	server, err := ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { server.Close() })
	return e, server, tls.Server(server, &tls.Config{})
}

// bridgeRequest is a bridge and a GET the engine answers with 404.
func bridgeRequest(e *Engine, tc *tls.Conn) (*h2Bridge, *http.Request, *benchWriter) {
	bridge := &h2Bridge{e: e, conn: tc, streams: &sync.Pool{}}
	req, _ := http.NewRequest("GET", "https://gateway/nope?x=1", http.NoBody)
	req.RequestURI = "/nope?x=1"
	req.Header.Set("User-Agent", "bench")
	req.Header.Set("Accept", "application/json")
	return bridge, req, &benchWriter{h: http.Header{}}
}
