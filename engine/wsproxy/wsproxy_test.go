package wsproxy

import (
	"testing"

	"github.com/sluice-gw/sluice/engine/internal/enginetest"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

func TestIsUpgrade(t *testing.T) {
	cases := []struct {
		name    string
		x       *pipeline.Exchange
		upgrade bool
	}{
		{"canonical", enginetest.Exchange("GET", "/ws", "Connection: Upgrade", "Upgrade: websocket"), true},
		{"case and lists", enginetest.Exchange("GET", "/ws", "Connection: keep-alive, UPGRADE", "Upgrade:  WebSocket "), true},
		{"upgrade list", enginetest.Exchange("GET", "/ws", "Connection: upgrade", "Upgrade: foo/1, websocket"), true},
		{"POST", enginetest.Exchange("POST", "/ws", "Connection: Upgrade", "Upgrade: websocket"), false},
		{"HEAD", enginetest.Exchange("HEAD", "/ws", "Connection: Upgrade", "Upgrade: websocket"), false},
		{"no connection token", enginetest.Exchange("GET", "/ws", "Connection: keep-alive", "Upgrade: websocket"), false},
		{"token prefix only", enginetest.Exchange("GET", "/ws", "Connection: upgraded", "Upgrade: websocket"), false},
		{"h2c", enginetest.Exchange("GET", "/ws", "Connection: Upgrade", "Upgrade: h2c"), false},
		{"no upgrade header", enginetest.Exchange("GET", "/ws", "Connection: Upgrade"), false},
		{"plain", enginetest.Exchange("GET", "/ws"), false},
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
	ws := enginetest.Exchange("GET", "/ws", "Connection: keep-alive, Upgrade", "Upgrade: websocket")
	plain := enginetest.Exchange("GET", "/ws", "Accept: */*")
	b.ReportAllocs()
	for b.Loop() {
		if !IsUpgrade(ws) || IsUpgrade(plain) {
			b.Fatal("wrong answer")
		}
	}
}
