package engine_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
	"github.com/sluice-gw/sluice/engine/tlsconf/tlstest"
)

// ppConfig is a gateway behind a balancer at trusted (a loopback address)
// with an `ip` rate limit of one request per client.
func ppConfig(mode, trusted, upAddr string, extra string) string {
	if !strings.Contains(extra, `"access_log"`) {
		extra += `, "access_log": "off"`
	}
	return cfgf(`{
  "server": {"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0",
             "proxy_protocol": %q, "trusted_proxies": [%q]%s},
  "services": {"s": {"targets": [%q]}},
  "rate_limits": {"per-ip": {"key": "ip", "requests": 1, "per": "1h", "burst": 1}},
  "routes": [{"name": "r", "path": "/r", "service": "s"},
             {"name": "limited", "path": "/limited", "service": "s", "rate_limits": ["per-ip"]}]
}`, mode, trusted, extra, upAddr)
}

// dialFrom connects to addr from the loopback address local.
func dialFrom(t testing.TB, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", local, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func v1Header(src string) string {
	return "PROXY TCP4 " + src + " 127.0.0.1 40000 80\r\n"
}

func v2Header(t testing.TB, src string, local bool) []byte {
	t.Helper()
	h := proxyproto.HeaderProxyFromAddrs(2,
		&net.TCPAddr{IP: net.ParseIP(src), Port: 40000}, &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 80})
	if local {
		h.Command = proxyproto.LOCAL
	}
	b, err := h.Format()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// roundTrip writes req on c and reads one answer.
func roundTrip(t testing.TB, c net.Conn, br *bufio.Reader, req string) (*http.Response, []byte) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body
}

// echoedXFF returns the X-Forwarded-For the upstream saw.
func echoedXFF(t testing.TB, body []byte) string {
	t.Helper()
	m := regexp.MustCompile(`"x-forwarded-for":"([^"]*)"`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no x-forwarded-for in %s", body)
	}
	return string(m[1])
}

// expectClosedSilently asserts the server closes c without sending a byte.
func expectClosedSilently(t testing.TB, c net.Conn, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	b := make([]byte, 256)
	n, err := c.Read(b)
	if n > 0 {
		t.Errorf("server answered %q, want a silent close", b[:n])
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("connection still open after %v", within)
	}
}

// metricValue reads one series from the admin /metrics.
func metricValue(t testing.TB, admin, series string) float64 {
	t.Helper()
	r := get(t, admin+"/metrics")
	for _, line := range strings.Split(string(r.body), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return v
		}
	}
	return 0
}

func ppErrors(t testing.TB, g *gateway, reason string) float64 {
	return metricValue(t, g.admin, `sluice_proxy_protocol_errors_total{reason="`+reason+`"}`)
}

func TestProxyProtocolConfigErrors(t *testing.T) {
	up := startUpstream(t, "echo")
	for _, tc := range []struct{ cfg, want string }{
		{ppConfig("sometimes", "127.0.0.1/32", up.addr, ""), `server.proxy_protocol: must be off, optional or required, got "sometimes"`},
		{cfgf(`{"server": {"proxy_protocol": "required"}, "services": {"s": {"targets": [%q]}}, "routes": [{"name": "r", "path": "/r", "service": "s"}]}`, up.addr),
			"server.proxy_protocol: needs server.trusted_proxies"},
		{ppConfig("required", "not-a-cidr", up.addr, ""), "server.trusted_proxies[0]: "},
	} {
		errs := strings.Join(compileErrors(t, tc.cfg), "\n")
		if !strings.Contains(errs, tc.want) {
			t.Errorf("errors %q, want one containing %q", errs, tc.want)
		}
	}
}

// TestProxyProtocolClientAddress: the address a v1 or v2 header carries is
// the client address for X-Forwarded-For and `ip` rate limits, on every
// request of a keep-alive connection; a v2 LOCAL header keeps the TCP peer.
func TestProxyProtocolClientAddress(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startGateway(t, ppConfig("required", "127.0.0.1/32", up.addr, ""))
	addr := hostOf(g.url)
	req := "GET /r HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"

	for name, header := range map[string][]byte{
		"v1": []byte(v1Header("203.0.113.7")),
		"v2": v2Header(t, "203.0.113.7", false),
	} {
		c := dialFrom(t, "127.0.0.1", addr)
		c.Write(header)
		br := bufio.NewReader(c)
		for i := range 2 {
			resp, body := roundTrip(t, c, br, req)
			if resp.StatusCode != 200 {
				t.Fatalf("%s request %d: status %d", name, i, resp.StatusCode)
			}
			if xff := echoedXFF(t, body); xff != "203.0.113.7" {
				t.Errorf("%s request %d: X-Forwarded-For %q, want the carried 203.0.113.7", name, i, xff)
			}
		}
	}

	// v2 LOCAL (the balancer's own health check) keeps the TCP peer, which
	// is trusted, so its X-Forwarded-For is believed.
	c := dialFrom(t, "127.0.0.1", addr)
	c.Write(v2Header(t, "203.0.113.9", true))
	resp, body := roundTrip(t, c, bufio.NewReader(c), req)
	if resp.StatusCode != 200 || echoedXFF(t, body) != "6.6.6.6, 127.0.0.1" {
		t.Errorf("LOCAL: status %d, X-Forwarded-For %q, want the TCP peer's", resp.StatusCode, echoedXFF(t, body))
	}

	// `ip` rate limits key on the carried address.
	limited := func(src string) int {
		c := dialFrom(t, "127.0.0.1", addr)
		c.Write([]byte(v1Header(src)))
		resp, _ := roundTrip(t, c, bufio.NewReader(c), "GET /limited HTTP/1.1\r\nHost: x\r\n\r\n")
		return resp.StatusCode
	}
	if s := limited("198.51.100.1"); s != 200 {
		t.Errorf("first request of 198.51.100.1: %d", s)
	}
	if s := limited("198.51.100.1"); s != 429 {
		t.Errorf("second request of 198.51.100.1: %d, want 429", s)
	}
	if s := limited("198.51.100.2"); s != 200 {
		t.Errorf("first request of 198.51.100.2: %d, want 200 (its own bucket)", s)
	}
}

// TestProxyProtocolAccessLog: the access log's client_ip is the carried
// address.
func TestProxyProtocolAccessLog(t *testing.T) {
	up := startUpstream(t, "echo")
	logFile := filepath.Join(t.TempDir(), "access.log")
	g := startGateway(t, ppConfig("required", "127.0.0.1/32", up.addr, cfgf(`, "access_log": %q`, logFile)))
	c := dialFrom(t, "127.0.0.1", hostOf(g.url))
	c.Write([]byte(v1Header("203.0.113.77")))
	if resp, _ := roundTrip(t, c, bufio.NewReader(c), "GET /r HTTP/1.1\r\nHost: x\r\n\r\n"); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(logFile)
		if strings.Contains(string(data), `"client_ip":"203.0.113.77"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("access log %q has no client_ip 203.0.113.77", data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestProxyProtocolRequired: required closes, without an answer, connections
// without a header and connections from an untrusted peer.
func TestProxyProtocolRequired(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startGateway(t, ppConfig("required", "127.0.0.2/32", up.addr, ""))
	addr := hostOf(g.url)
	req := "GET /r HTTP/1.1\r\nHost: x\r\n\r\n"

	missing, untrusted := ppErrors(t, g, "missing"), ppErrors(t, g, "untrusted")
	c := dialFrom(t, "127.0.0.2", addr)
	c.Write([]byte(req))
	expectClosedSilently(t, c, 5*time.Second)

	c = dialFrom(t, "127.0.0.1", addr)
	c.Write([]byte(v1Header("203.0.113.7") + req))
	expectClosedSilently(t, c, 5*time.Second)

	if d := ppErrors(t, g, "missing") - missing; d != 1 {
		t.Errorf("missing errors +%v, want +1", d)
	}
	if d := ppErrors(t, g, "untrusted") - untrusted; d != 1 {
		t.Errorf("untrusted errors +%v, want +1", d)
	}

	// The trusted balancer is served.
	c = dialFrom(t, "127.0.0.2", addr)
	c.Write([]byte(v1Header("203.0.113.7")))
	if resp, body := roundTrip(t, c, bufio.NewReader(c), req); resp.StatusCode != 200 || echoedXFF(t, body) != "203.0.113.7" {
		t.Errorf("trusted balancer: %d %q", resp.StatusCode, echoedXFF(t, body))
	}
}

// TestProxyProtocolOptional: optional serves a trusted peer with or without a
// header, and never believes a header from an untrusted peer.
func TestProxyProtocolOptional(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startGateway(t, ppConfig("optional", "127.0.0.2/32", up.addr, ""))
	addr := hostOf(g.url)
	req := "GET /r HTTP/1.1\r\nHost: x\r\n\r\n"

	c := dialFrom(t, "127.0.0.2", addr)
	if resp, body := roundTrip(t, c, bufio.NewReader(c), req); resp.StatusCode != 200 || echoedXFF(t, body) != "127.0.0.2" {
		t.Errorf("trusted peer without header: %d %q", resp.StatusCode, echoedXFF(t, body))
	}
	c = dialFrom(t, "127.0.0.2", addr)
	c.Write(v2Header(t, "2001:db8::7", false))
	if resp, body := roundTrip(t, c, bufio.NewReader(c), req); resp.StatusCode != 200 || echoedXFF(t, body) != "2001:db8::7" {
		t.Errorf("trusted peer with v2 IPv6 header: %d %q", resp.StatusCode, echoedXFF(t, body))
	}
	// From an untrusted peer the header is not parsed: it is not HTTP.
	c = dialFrom(t, "127.0.0.1", addr)
	c.Write([]byte(v1Header("203.0.113.7")))
	if resp, _ := roundTrip(t, c, bufio.NewReader(c), req); resp.StatusCode != 400 {
		t.Errorf("untrusted peer's header: status %d, want 400", resp.StatusCode)
	}
}

// TestProxyProtocolBadHeaders: garbage, oversized and never-finishing headers
// close their connection without an answer within read_timeout and are
// counted; while many of them stall, other clients are served.
func TestProxyProtocolBadHeaders(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startGateway(t, ppConfig("optional", "127.0.0.1/32", up.addr, `, "read_timeout": "6s"`))
	addr := hostOf(g.url)
	req := "GET /r HTTP/1.1\r\nHost: x\r\n\r\n"

	before := map[string]float64{}
	for _, r := range []string{"malformed", "oversized", "timeout"} {
		before[r] = ppErrors(t, g, r)
	}
	// Stalled headers first: each holds a connection but nothing else. A
	// cut v1 line is refused at once (the spec has senders write it in one
	// piece, and go-proxyproto does not wait for the rest); a cut v2 header
	// waits for read_timeout.
	const stalled = 40
	slow := make([]net.Conn, stalled)
	for i := range slow {
		slow[i] = dialFrom(t, "127.0.0.1", addr)
		if i%2 == 0 {
			slow[i].Write([]byte("PROXY TCP4 203.0.113."))
		} else {
			slow[i].Write(v2Header(t, "203.0.113.7", false)[:14])
		}
	}
	// Garbage and oversized headers.
	bad := map[string][]byte{
		"garbage v1":   []byte("PROXY TCP4 not-an-address 127.0.0.1 1 2\r\n" + req),
		"no CRLF v1":   []byte("PROXY TCP4 " + strings.Repeat("1", 200) + req),
		"garbage v2":   append(append([]byte{}, proxyproto.SIGV2...), 0x21, 0x99, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12),
		"oversized v2": append(append([]byte{}, proxyproto.SIGV2...), 0x21, 0x11, 0xff, 0x00),
	}
	for name, data := range bad {
		c := dialFrom(t, "127.0.0.1", addr)
		c.Write(data)
		t.Run(name, func(t *testing.T) { expectClosedSilently(t, c, 10*time.Second) })
	}
	// A trusted peer that sends nothing is closed at read_timeout like any
	// idle connection, without counting a header error.
	silent := dialFrom(t, "127.0.0.1", addr)
	// Other clients are served while the stalled ones wait.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dialFrom(t, "127.0.0.1", addr)
			c.Write([]byte(v1Header("198.51.100." + strconv.Itoa(i+1))))
			resp, _ := roundTrip(t, c, bufio.NewReader(c), req)
			if resp.StatusCode != 200 {
				t.Errorf("client %d: status %d", i, resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	// The stalled connections were still open while those were served
	// (the header read did not block the accept loop), and then close
	// without an answer at read_timeout.
	open := 0
	for i := 1; i < len(slow); i += 2 {
		c := slow[i]
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				open++
			}
		}
	}
	if open == 0 {
		t.Errorf("no stalled connection was still open when the others had been served")
	}
	for _, c := range append(slow, silent) {
		expectClosedSilently(t, c, 15*time.Second)
	}
	want := map[string]float64{"malformed": 2 + stalled/2, "oversized": 2, "timeout": stalled / 2}
	for r, n := range want {
		if d := ppErrors(t, g, r) - before[r]; d != n {
			t.Errorf("%s errors +%v, want +%v", r, d, n)
		}
	}
}

// TestProxyProtocolBeforeTLS: the header comes before the TLS handshake.
func TestProxyProtocolBeforeTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "pp-ca")
	srv := ca.Server(t, []string{"127.0.0.1"}, tlstest.Options{})
	up := startUpstream(t, "echo")
	g := startGateway(t, ppConfig("required", "127.0.0.1/32", up.addr,
		cfgf(`, "tls": {"certificates": [{"cert_file": %q, "key_file": %q}]}`, srv.CertFile, srv.KeyFile)))
	raw := dialFrom(t, "127.0.0.1", hostOf(g.url))
	raw.Write(v2Header(t, "203.0.113.44", false))
	c := tls.Client(raw, &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1"})
	resp, body := roundTrip(t, c, bufio.NewReader(c), "GET /r HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 200 || echoedXFF(t, body) != "203.0.113.44" {
		t.Errorf("TLS after header: %d %q", resp.StatusCode, echoedXFF(t, body))
	}
}

// TestDrainClosesKeepAlive: once draining starts (during drain_delay) every
// answer carries Connection: close, except a WebSocket's 101.
func TestDrainClosesKeepAlive(t *testing.T) {
	up := startUpstream(t, "echo")
	ws := wsStartUpstream(t, "")
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0", "access_log": "off", "drain_delay": "3s"},
  "services": {"s": {"targets": [%q]}, "chat": {"targets": [%q]}},
  "routes": [{"name": "r", "path": "/r", "service": "s"},
             {"name": "ws", "path": "/ws/{room}", "service": "chat", "websocket": true}]
}`, up.addr, ws.addr))
	c := dialFrom(t, "127.0.0.1", hostOf(g.url))
	br := bufio.NewReader(c)
	req := "GET /r HTTP/1.1\r\nHost: x\r\n\r\n"
	if resp, _ := roundTrip(t, c, br, req); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("before the drain: %d close=%v", resp.StatusCode, resp.Close)
	}
	go g.server.Shutdown()
	deadline := time.Now().Add(5 * time.Second)
	for get(t, g.admin+"/readyz").status != 503 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if resp, _ := roundTrip(t, c, br, req); resp.StatusCode != 200 || !resp.Close {
		t.Errorf("during the drain: %d close=%v, want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	wc, _ := wsDial(t, wsURL(g, "/ws/lobby"), nil)
	wsEcho(t, wc, 1, "still upgrading while draining")
}
