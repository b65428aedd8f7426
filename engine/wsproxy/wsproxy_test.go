package wsproxy

import (
	"testing"

	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

func exchange(method string, headers ...string) *pipeline.Exchange {
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI("/ws")
	for i := 0; i+1 < len(headers); i += 2 {
		ctx.Request.Header.Add(headers[i], headers[i+1])
	}
	return &pipeline.Exchange{Ctx: ctx}
}

func TestIsUpgrade(t *testing.T) {
	cases := []struct {
		name    string
		x       *pipeline.Exchange
		upgrade bool
	}{
		{"canonical", exchange("GET", "Connection", "Upgrade", "Upgrade", "websocket"), true},
		{"case and lists", exchange("GET", "Connection", "keep-alive, UPGRADE", "Upgrade", " WebSocket "), true},
		{"upgrade list", exchange("GET", "Connection", "upgrade", "Upgrade", "foo/1, websocket"), true},
		{"POST", exchange("POST", "Connection", "Upgrade", "Upgrade", "websocket"), false},
		{"HEAD", exchange("HEAD", "Connection", "Upgrade", "Upgrade", "websocket"), false},
		{"no connection token", exchange("GET", "Connection", "keep-alive", "Upgrade", "websocket"), false},
		{"token prefix only", exchange("GET", "Connection", "upgraded", "Upgrade", "websocket"), false},
		{"h2c", exchange("GET", "Connection", "Upgrade", "Upgrade", "h2c"), false},
		{"no upgrade header", exchange("GET", "Connection", "Upgrade"), false},
		{"plain", exchange("GET"), false},
	}
	for _, c := range cases {
		if got := IsUpgrade(c.x); got != c.upgrade {
			t.Errorf("%s: IsUpgrade = %v, want %v", c.name, got, c.upgrade)
		}
	}
}

func TestSwitchedHeaders(t *testing.T) {
	var h fasthttp.ResponseHeader
	h.SetStatusCode(101)
	h.Set("Connection", "Upgrade, X-Hop")
	h.Set("X-Hop", "1")
	h.Set("Keep-Alive", "timeout=5")
	h.Set("Proxy-Connection", "x")
	h.Set("Sec-WebSocket-Accept", "abc")
	h.Set("Upgrade", "websocket")
	switched(&h)
	for _, gone := range []string{"X-Hop", "Keep-Alive", "Proxy-Connection"} {
		if len(h.Peek(gone)) != 0 {
			t.Errorf("%s kept", gone)
		}
	}
	if string(h.Peek("Connection")) != "Upgrade" || string(h.Peek("Upgrade")) != "websocket" || string(h.Peek("Sec-WebSocket-Accept")) != "abc" {
		t.Errorf("switch headers lost:\n%s", h.Header())
	}
}

func BenchmarkIsUpgrade(b *testing.B) {
	ws := exchange("GET", "Connection", "keep-alive, Upgrade", "Upgrade", "websocket")
	plain := exchange("GET", "Accept", "*/*")
	b.ReportAllocs()
	for b.Loop() {
		if !IsUpgrade(ws) || IsUpgrade(plain) {
			b.Fatal("wrong answer")
		}
	}
}
