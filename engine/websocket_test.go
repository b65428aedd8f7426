package engine_test

import (
	"bufio"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sluice-gw/sluice/engine/tlsconf/tlstest"
)

// wsUpstream is a real WebSocket echo server on 127.0.0.1 (gorilla on
// net/http). Plain requests get a JSON echo of what the server saw.
type wsUpstream struct {
	addr     string
	conns    atomic.Int64 // TCP connections accepted
	upgrades atomic.Int64
	greeting string // sent right after the upgrade, when set
	seen     chan *http.Request
	closed   chan error // read error of each upgraded connection, when it ends
}

func wsStartUpstream(t testing.TB, greeting string) *wsUpstream {
	t.Helper()
	return wsServe(t, greeting, nil)
}

// wsServe starts a wsUpstream, over TLS when cfg is set.
func wsServe(t testing.TB, greeting string, cfg *tls.Config) *wsUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	u := &wsUpstream{addr: ln.Addr().String(), greeting: greeting,
		seen: make(chan *http.Request, 64), closed: make(chan error, 64)}
	up := websocket.Upgrader{Subprotocols: []string{"chat.v2"}}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case u.seen <- r.Clone(r.Context()):
			default:
			}
			if !websocket.IsWebSocketUpgrade(r) {
				w.Header().Set("Content-Type", "application/json")
				json.NewEncoder(w).Encode(map[string]string{"plain": r.URL.RequestURI(), "upgrade": r.Header.Get("Upgrade")})
				return
			}
			c, err := up.Upgrade(w, r, http.Header{"X-Ws-Up": {"1"}})
			if err != nil {
				return
			}
			u.upgrades.Add(1)
			defer c.Close()
			if u.greeting != "" {
				c.WriteMessage(websocket.TextMessage, []byte(u.greeting))
			}
			for {
				typ, msg, err := c.ReadMessage()
				if err != nil {
					u.closed <- err
					return
				}
				if string(msg) == "bye" {
					c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
					u.closed <- nil
					return
				}
				if err := c.WriteMessage(typ, msg); err != nil {
					u.closed <- err
					return
				}
			}
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				u.conns.Add(1)
			}
		},
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return u
}

func wsConfig(target, timeout string) string {
	digest := sha256.Sum256([]byte("k-123"))
	return cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"chat": {"targets": [%q], "timeout": %q}},
  "auth": {"partners": {"type": "api_key", "header": "X-API-Key", "keys": {"acme": "sha256:%s"}}},
  "routes": [
    {"name": "ws", "path": "/api/ws/{room}", "service": "chat", "websocket": true, "strip_prefix": "/api",
     "response_headers": {"set": {"X-Gateway": "sluice"}}},
    {"name": "private", "path": "/private/ws", "service": "chat", "websocket": true, "auth": "partners"}
  ]
}`, target, timeout, hex.EncodeToString(digest[:]))
}

func wsURL(g *gateway, path string) string { return "ws://" + hostOf(g.url) + path }

func wsDial(t testing.TB, url string, h http.Header) (*websocket.Conn, *http.Response) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, Subprotocols: []string{"chat.v2"}}
	c, resp, err := d.Dial(url, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, status)
	}
	t.Cleanup(func() { c.Close() })
	return c, resp
}

func wsEcho(t testing.TB, c *websocket.Conn, typ int, msg string) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := c.WriteMessage(typ, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	gt, got, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if gt != typ || string(got) != msg {
		t.Fatalf("echo %d %q, want %d %q", gt, got, typ, msg)
	}
}

func TestWebSocketEcho(t *testing.T) {
	up := wsStartUpstream(t, "")
	g := startGateway(t, wsConfig(up.addr, "5s"))

	c, resp := wsDial(t, wsURL(g, "/api/ws/lobby?x=1"), http.Header{"X-Request-Id": {"ws-req-1"}})
	if c.Subprotocol() != "chat.v2" {
		t.Errorf("subprotocol %q, want chat.v2 (Sec-WebSocket-Protocol passed both ways)", c.Subprotocol())
	}
	if resp.Header.Get("X-Request-Id") != "ws-req-1" || resp.Header.Get("X-Gateway") != "sluice" || resp.Header.Get("X-Ws-Up") != "1" {
		t.Errorf("101 headers %v: want X-Request-Id, response_headers and the upstream's own", resp.Header)
	}
	r := <-up.seen
	if r.URL.RequestURI() != "/ws/lobby?x=1" || r.Host != up.addr {
		t.Errorf("upstream saw %s (Host %s), want /ws/lobby?x=1 and Host %s", r.URL.RequestURI(), r.Host, up.addr)
	}
	if r.Header.Get("X-Request-Id") != "ws-req-1" || r.Header.Get("X-Forwarded-For") != "127.0.0.1" ||
		r.Header.Get("X-Forwarded-Host") != hostOf(g.url) || r.Header.Get("Traceparent") == "" {
		t.Errorf("upstream headers %v: want X-Request-Id, X-Forwarded-* and traceparent", r.Header)
	}

	wsEcho(t, c, websocket.TextMessage, "hello")
	wsEcho(t, c, websocket.BinaryMessage, "\x00\x01\x02")
	wsEcho(t, c, websocket.TextMessage, strings.Repeat("large-", 50000)) // 300 kB, many reads
	for i := range 50 {
		wsEcho(t, c, websocket.TextMessage, fmt.Sprint("msg-", i))
	}

	// The upstream closes: the client sees the close frame, then the end.
	c.WriteMessage(websocket.TextMessage, []byte("bye"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("after bye: %v, want a normal close", err)
	}
}

func TestWebSocketConcurrent(t *testing.T) {
	up := wsStartUpstream(t, "")
	g := startGateway(t, wsConfig(up.addr, "5s"))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _ := wsDial(t, wsURL(g, fmt.Sprint("/api/ws/r", i)), nil)
			for j := range 30 {
				wsEcho(t, c, websocket.TextMessage, fmt.Sprint(i, "-", j))
			}
		}()
	}
	wg.Wait()
	if n := up.upgrades.Load(); n != 8 {
		t.Fatalf("%d upgrades upstream, want 8", n)
	}
}

func TestWebSocketClientCloseReachesUpstream(t *testing.T) {
	up := wsStartUpstream(t, "")
	g := startGateway(t, wsConfig(up.addr, "5s"))
	c, _ := wsDial(t, wsURL(g, "/api/ws/a"), nil)
	wsEcho(t, c, websocket.TextMessage, "x")
	c.Close() // TCP close without a close frame
	select {
	case err := <-up.closed:
		if err == nil {
			t.Fatal("upstream saw no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("upstream connection still open 5s after the client left")
	}
}

// The upstream's first frame arrives in the same segment as its 101: the
// gateway must forward the bytes it read past the handshake.
func TestWebSocketDataRightAfterSwitch(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		greeting := "welcome"
		// One write: the 101 and an unmasked text frame.
		c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n" +
			"\x81" + string(rune(len(greeting))) + greeting))
		io.Copy(io.Discard, c)
	}()
	g := startGateway(t, wsConfig(ln.Addr().String(), "5s"))
	c, _, err := websocket.DefaultDialer.Dial(wsURL(g, "/api/ws/a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, msg, err := c.ReadMessage()
	if err != nil || string(msg) != "welcome" {
		t.Fatalf("first message %q, %v; want the greeting sent with the 101", msg, err)
	}
}

func TestWebSocketGreetingThroughGateway(t *testing.T) {
	up := wsStartUpstream(t, "hi there")
	g := startGateway(t, wsConfig(up.addr, "5s"))
	c, _ := wsDial(t, wsURL(g, "/api/ws/a"), nil)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "hi there" {
		t.Fatalf("greeting %q, %v", msg, err)
	}
	wsEcho(t, c, websocket.TextMessage, "after greeting")
}

func TestWebSocketAuthEnforced(t *testing.T) {
	up := wsStartUpstream(t, "")
	g := startGateway(t, wsConfig(up.addr, "5s"))
	upgrade := map[string]string{"Connection": "Upgrade", "Upgrade": "websocket",
		"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
	r := do(t, "GET", g.url+"/private/ws", upgrade, "")
	r.wantError(t, 401, "unauthorized")
	upgrade["X-API-Key"] = "wrong"
	r = do(t, "GET", g.url+"/private/ws", upgrade, "")
	r.wantError(t, 401, "unauthorized")
	if n := up.conns.Load(); n != 0 {
		t.Fatalf("upstream got %d connections for rejected upgrades", n)
	}
	c, _ := wsDial(t, wsURL(g, "/private/ws"), http.Header{"X-API-Key": {"k-123"}})
	wsEcho(t, c, websocket.TextMessage, "authorised")
}

func TestWebSocketUpstreamRefuses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	g := startGateway(t, wsConfig(dead, "2s"))
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	_, resp, err := d.Dial(wsURL(g, "/api/ws/a"), nil)
	if err == nil || resp == nil || resp.StatusCode != 502 {
		t.Fatalf("dial: %v, response %v; want a 502", err, resp)
	}
	r := do(t, "GET", g.url+"/api/ws/a", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket",
		"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, "")
	r.wantError(t, 502, "bad_gateway")
}

// An upstream that declines the upgrade answers like any proxied request.
func TestWebSocketUpstreamDeclines(t *testing.T) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Secret-Hop")
		w.Header().Set("X-Secret-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.WriteHeader(403)
		io.WriteString(w, `{"why":"room closed"}`)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	g := startGateway(t, wsConfig(ln.Addr().String(), "2s"))
	r := do(t, "GET", g.url+"/api/ws/a", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket",
		"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, "")
	if r.status != 403 || string(r.body) != `{"why":"room closed"}` {
		t.Fatalf("status %d body %s, want the upstream's 403", r.status, r.body)
	}
	if r.header.Get("X-Secret-Hop") != "" || r.header.Get("Keep-Alive") != "" || r.header.Get("X-Request-Id") == "" {
		t.Fatalf("headers %v: hop-by-hop must go, X-Request-Id must be set", r.header)
	}
	// The gateway answers further requests on the same client connection.
	if r := get(t, g.url+"/api/ws/a"); r.status != 403 {
		t.Fatalf("next request: %d", r.status)
	}
}

func TestWebSocketRoutePlainRequest(t *testing.T) {
	up := wsStartUpstream(t, "")
	g := startGateway(t, wsConfig(up.addr, "5s"))
	r := get(t, g.url+"/api/ws/lobby?q=1")
	var body map[string]string
	r.json(t, &body)
	if r.status != 200 || body["plain"] != "/ws/lobby?q=1" || body["upgrade"] != "" {
		t.Fatalf("plain request: %d %v", r.status, body)
	}
	// An Upgrade to something else is not a WebSocket: proxied as plain
	// HTTP, hop-by-hop Upgrade removed.
	r = do(t, "GET", g.url+"/api/ws/lobby", map[string]string{"Connection": "Upgrade", "Upgrade": "h2c"}, "")
	r.json(t, &body)
	if r.status != 200 || body["upgrade"] != "" {
		t.Fatalf("h2c upgrade: %d %v", r.status, body)
	}
	if up.upgrades.Load() != 0 {
		t.Fatal("a plain request was upgraded")
	}
}

func TestWebSocketIdleTimeout(t *testing.T) {
	up := wsStartUpstream(t, "")
	g := startGateway(t, wsConfig(up.addr, "300ms"))

	// Traffic every 100ms keeps the tunnel open well past the timeout.
	busy, _ := wsDial(t, wsURL(g, "/api/ws/busy"), nil)
	for i := range 10 {
		wsEcho(t, busy, websocket.TextMessage, fmt.Sprint("tick ", i))
		time.Sleep(100 * time.Millisecond)
	}

	// Silence in both directions closes it.
	idle, _ := wsDial(t, wsURL(g, "/api/ws/idle"), nil)
	wsEcho(t, idle, websocket.TextMessage, "once")
	start := time.Now()
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := idle.ReadMessage()
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("idle tunnel: err %v after %v, want closed by the gateway", err, time.Since(start))
	}
	var ne net.Error
	if errAs(err, &ne) && ne.Timeout() {
		t.Fatalf("idle tunnel was not closed by the gateway: %v", err)
	}
}

func errAs(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
}

// BenchmarkWebSocketEcho is one 1 KiB message round trip through an open
// tunnel (client and upstream allocations included).
func BenchmarkWebSocketEcho(b *testing.B) {
	up := wsStartUpstream(b, "")
	g := startGateway(b, wsConfig(up.addr, "30s"))
	c, _ := wsDial(b, wsURL(g, "/api/ws/bench"), nil)
	msg := strings.Repeat("x", 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		wsEcho(b, c, websocket.TextMessage, msg)
	}
}

// BenchmarkWebSocketHandshake is one upgrade through the gateway, dial to close.
func BenchmarkWebSocketHandshake(b *testing.B) {
	up := wsStartUpstream(b, "")
	g := startGateway(b, wsConfig(up.addr, "30s"))
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	url := wsURL(g, "/api/ws/bench")
	b.ReportAllocs()
	for b.Loop() {
		c, _, err := d.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

func TestWebSocketHTTPSUpstream(t *testing.T) {
	ca := tlstest.NewCA(t, "ws-ca")
	leaf := ca.Server(t, []string{"127.0.0.1"}, tlstest.Options{})
	up := wsServe(t, "secure hello", &tls.Config{Certificates: []tls.Certificate{leaf.TLS}})
	cfg := func(caFile string) string {
		return cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"chat": {"protocol": "https", "targets": [%q], "timeout": "2s", "tls": {"ca_file": %q}}},
  "routes": [{"name": "ws", "path": "/ws", "service": "chat", "websocket": true}]
}`, up.addr, caFile)
	}
	g := startGateway(t, cfg(ca.CertFile))
	c, _ := wsDial(t, wsURL(g, "/ws"), nil)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "secure hello" {
		t.Fatalf("greeting over TLS: %q, %v", msg, err)
	}
	wsEcho(t, c, websocket.TextMessage, "over tls")

	// An upstream certificate the gateway cannot verify is a 502.
	other := tlstest.NewCA(t, "other-ca")
	g2 := startGateway(t, cfg(other.CertFile))
	r := do(t, "GET", g2.url+"/ws", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket",
		"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, "")
	r.wantError(t, 502, "bad_gateway")
}

// A refused connection is retried on another target, as for proxied GETs.
func TestWebSocketRetriesAnotherTarget(t *testing.T) {
	up := wsStartUpstream(t, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"chat": {"targets": [%q, %q], "timeout": "2s", "retries": 1}},
  "routes": [{"name": "ws", "path": "/ws", "service": "chat", "websocket": true}]
}`, dead, up.addr))
	for range 4 {
		c, _ := wsDial(t, wsURL(g, "/ws"), nil)
		wsEcho(t, c, websocket.TextMessage, "via retry")
		c.Close()
	}
}
