package engine_test

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"
)

func basicConfig(up string) string {
	return cfgf(`{
  "server": {"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0", "access_log": "off",
             "max_header_bytes": 4096, "max_body_bytes": 1024, "trusted_proxies": ["10.9.9.0/24"]},
  "services": {
    "echo": {"targets": [%q], "timeout": "300ms"}
  },
  "routes": [
    {"name": "items", "path": "/api/items/{id}", "methods": ["GET", "POST"], "service": "echo", "strip_prefix": "/api",
     "request_headers": {"set": {"X-Added": "yes"}, "remove": ["X-Secret"]},
     "response_headers": {"set": {"X-Gateway": "sluice"}, "remove": ["X-Up-Drop"]}},
    {"name": "v2", "path": "/api/items/{id}", "methods": ["GET"], "headers": {"API-Version": "2"}, "service": "echo", "rewrite": "/v2/things/{id}"},
    {"name": "files", "path": "/files/{rest...}", "service": "echo"},
    {"name": "hosted", "path": "/hosted", "host": "Shop.Example", "service": "echo"},
    {"name": "orders", "path": "/orders", "methods": ["POST"], "service": "echo",
     "validate": {"required_headers": ["X-Client"], "json_body": true}},
    {"name": "star", "path": "/static/*", "service": "echo"}
  ]
}`, up)
}

func TestProxyBasics(t *testing.T) {
	up := startUpstream(t, "echo-1")
	g := startGateway(t, basicConfig(up.addr))

	r := do(t, "GET", g.url+"/api/items/42?b=2&a=1", map[string]string{"X-Secret": "s", "X-Request-Id": "abc-123"}, "")
	if r.status != 200 {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
	var e echoed
	r.json(t, &e)
	if e.URI != "/items/42?b=2&a=1" {
		t.Errorf("upstream URI %q, want strip_prefix applied and query kept", e.URI)
	}
	if e.Host != up.addr {
		t.Errorf("upstream Host %q, want the target address %q", e.Host, up.addr)
	}
	if e.Headers["x-added"] != "yes" || e.Headers["x-secret"] != "" {
		t.Errorf("request_headers not applied: %v", e.Headers)
	}
	if e.Headers["x-request-id"] != "abc-123" || r.header.Get("X-Request-Id") != "abc-123" {
		t.Errorf("sane client request id not kept: upstream %q, client %q", e.Headers["x-request-id"], r.header.Get("X-Request-Id"))
	}
	if r.header.Get("X-Gateway") != "sluice" || r.header.Get("X-Up-Drop") != "" {
		t.Errorf("response_headers not applied: %v", r.header)
	}
	if e.Headers["x-forwarded-host"] != hostOf(g.url) || e.Headers["x-forwarded-proto"] != "http" {
		t.Errorf("X-Forwarded-Host/Proto: %v", e.Headers)
	}

	// Header versioning picks the more specific route and its rewrite.
	r = do(t, "GET", g.url+"/api/items/7", map[string]string{"API-Version": "2"}, "")
	r.json(t, &e)
	if e.URI != "/v2/things/7" {
		t.Errorf("versioned route URI %q, want /v2/things/7", e.URI)
	}

	// Catch-all parameters and duplicate slashes.
	r = get(t, g.url+"/files//a/b/../c.txt")
	r.json(t, &e)
	if r.status != 200 || e.URI != "/files/a/c.txt" {
		t.Errorf("normalised path %q (status %d), want /files/a/c.txt", e.URI, r.status)
	}
	// Characters that need escaping are re-encoded for the upstream.
	r = get(t, g.url+"/files/a%20b")
	r.json(t, &e)
	if e.URI != "/files/a%20b" {
		t.Errorf("escaped path %q, want /files/a%%20b", e.URI)
	}
	r = get(t, g.url+"/static/x/y")
	if r.status != 200 {
		t.Errorf("anonymous catch-all: status %d", r.status)
	}
}

func TestRequestIDs(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startGateway(t, basicConfig(up.addr))
	for _, bad := range []string{strings.Repeat("x", 129), "has space"} {
		r := do(t, "GET", g.url+"/api/items/1", map[string]string{"X-Request-Id": bad}, "")
		got := r.header.Get("X-Request-Id")
		if got == bad || got == "" || len(got) > 128 {
			t.Errorf("insane request id %q kept or missing: %q", bad, got)
		}
		var e echoed
		r.json(t, &e)
		if e.Headers["x-request-id"] != got {
			t.Errorf("upstream saw %q, client got %q", e.Headers["x-request-id"], got)
		}
	}
	ok := strings.Repeat("~", 128)
	if got := do(t, "GET", g.url+"/api/items/1", map[string]string{"X-Request-Id": ok}, "").header.Get("X-Request-Id"); got != ok {
		t.Errorf("128-char id not kept: %q", got)
	}
}

func TestTraceparent(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startGateway(t, basicConfig(up.addr))
	in := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	var e echoed
	do(t, "GET", g.url+"/api/items/1", map[string]string{"traceparent": in}, "").json(t, &e)
	out := e.Headers["traceparent"]
	if len(out) != 55 || out[:36] != in[:36] || out[36:52] == in[36:52] || out[52:] != "-01" {
		t.Errorf("kept traceparent %q -> %q: want same trace id and flags, new parent id", in, out)
	}
	do(t, "GET", g.url+"/api/items/1", map[string]string{"traceparent": in, "tracestate": "vendor=1"}, "").json(t, &e)
	if e.Headers["tracestate"] != "vendor=1" {
		t.Errorf("tracestate of a kept trace %q, want vendor=1", e.Headers["tracestate"])
	}
	e = echoed{}
	do(t, "GET", g.url+"/api/items/1", map[string]string{"traceparent": "garbage", "tracestate": "vendor=1"}, "").json(t, &e)
	if out := e.Headers["traceparent"]; len(out) != 55 || !strings.HasPrefix(out, "00-") {
		t.Errorf("started traceparent %q malformed", out)
	}
	if ts, ok := e.Headers["tracestate"]; ok {
		t.Errorf("tracestate %q forwarded with a new trace (the client's traceparent was invalid)", ts)
	}
}

func TestForwardedFromUntrustedClientIsReplaced(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startGateway(t, basicConfig(up.addr))
	var e echoed
	do(t, "GET", g.url+"/api/items/1", map[string]string{
		"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Host": "evil", "X-Forwarded-Proto": "https", "Forwarded": "for=6.6.6.6",
	}, "").json(t, &e)
	if e.Headers["x-forwarded-for"] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q, want only the peer 127.0.0.1", e.Headers["x-forwarded-for"])
	}
	if e.Headers["x-forwarded-host"] != hostOf(g.url) || e.Headers["x-forwarded-proto"] != "http" {
		t.Errorf("X-Forwarded-Host/Proto kept from an untrusted client: %v", e.Headers)
	}
	if f := e.Headers["forwarded"]; strings.Contains(f, "6.6.6.6") || !strings.Contains(f, "for=127.0.0.1") {
		t.Errorf("Forwarded %q, want replaced", f)
	}
}

func TestForwardedFromTrustedProxyIsExtended(t *testing.T) {
	up := startUpstream(t, "echo")
	cfg := strings.Replace(basicConfig(up.addr), `"10.9.9.0/24"`, `"127.0.0.1/32"`, 1)
	g := startGateway(t, cfg)
	var e echoed
	do(t, "GET", g.url+"/api/items/1", map[string]string{"X-Forwarded-For": "203.0.113.7"}, "").json(t, &e)
	if e.Headers["x-forwarded-for"] != "203.0.113.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q, want appended", e.Headers["x-forwarded-for"])
	}
}

func TestHopByHopHeaders(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startGateway(t, basicConfig(up.addr))
	r := do(t, "GET", g.url+"/api/items/1", map[string]string{
		"Connection": "X-Client-Hop", "X-Client-Hop": "1", "Keep-Alive": "timeout=1", "Proxy-Authorization": "x", "TE": "trailers",
	}, "")
	var e echoed
	r.json(t, &e)
	for _, h := range []string{"x-client-hop", "keep-alive", "proxy-authorization", "te"} {
		if _, ok := e.Headers[h]; ok {
			t.Errorf("hop-by-hop %s forwarded upstream", h)
		}
	}
	for _, h := range []string{"X-Up-Hop", "Keep-Alive", "Proxy-Foo"} {
		if r.header.Get(h) != "" {
			t.Errorf("hop-by-hop %s returned to the client", h)
		}
	}
	if r.header.Get("X-Served-By") != "echo" {
		t.Errorf("end-to-end header dropped")
	}
}

// TestHTTP10ClientKeepsUpstreamConnection checks that a closing client
// (HTTP/1.0, or Connection: close) does not make the gateway send its own
// Connection: close upstream: that header is hop-by-hop, and the pooled
// upstream connection is not the client's to close.
func TestHTTP10ClientKeepsUpstreamConnection(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startGateway(t, basicConfig(up.addr))
	for _, req := range []string{
		"GET /api/items/1 HTTP/1.0\r\nHost: x\r\n\r\n",
		"GET /api/items/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	} {
		raw := rawRequest(t, hostOf(g.url), req)
		if !strings.HasPrefix(raw, "HTTP/1.1 200") || !strings.Contains(raw, "\r\nConnection: close\r\n") {
			t.Errorf("%q: want a 200 that closes the client connection, got %q", req, raw)
			continue
		}
		var e echoed
		if err := json.Unmarshal([]byte(raw[strings.Index(raw, "\r\n\r\n")+4:]), &e); err != nil {
			t.Fatalf("%q: echo body: %v", req, err)
		}
		for k, v := range e.Headers {
			if strings.EqualFold(k, "Connection") {
				t.Errorf("%q: upstream received Connection: %s", req, v)
			}
		}
	}
}

func TestRoutingStatuses(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startGateway(t, basicConfig(up.addr))

	get(t, g.url+"/nothing/here").wantError(t, 404, "not_found")
	get(t, g.url+"/api/items/1/").wantError(t, 404, "not_found") // trailing slash is another path

	r := do(t, "DELETE", g.url+"/api/items/1", nil, "")
	r.wantError(t, 405, "method_not_allowed")
	if a := r.header.Get("Allow"); a != "GET, HEAD, POST" {
		t.Errorf("Allow %q, want GET, HEAD, POST", a)
	}
	if r := do(t, "HEAD", g.url+"/api/items/1", nil, ""); r.status != 200 || len(r.body) != 0 {
		t.Errorf("HEAD on a GET route: %d %q", r.status, r.body)
	}

	// Host narrowing: case and port ignored; other hosts get 404.
	if r := do(t, "GET", g.url+"/hosted", map[string]string{"Host": "shop.example:8080"}, ""); r.status != 200 {
		t.Errorf("host match: status %d", r.status)
	}
	do(t, "GET", g.url+"/hosted", map[string]string{"Host": "other.example"}, "").wantError(t, 404, "not_found")

	// Paths that escape the root are a 400.
	raw := rawRequest(t, hostOf(g.url), "GET /api/../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(raw, "HTTP/1.1 400") || !strings.Contains(raw, `"code":"bad_request"`) {
		t.Errorf("escaping path: %q", raw)
	}
	raw = rawRequest(t, hostOf(g.url), "GET /files/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(raw, "HTTP/1.1 400") {
		t.Errorf("bad escape: %q", raw)
	}
}

func TestValidation(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startGateway(t, basicConfig(up.addr))
	do(t, "POST", g.url+"/orders", nil, `{"a":1}`).wantError(t, 400, "bad_request")
	do(t, "POST", g.url+"/orders", map[string]string{"X-Client": "t"}, `{"a":`).wantError(t, 400, "bad_request")
	do(t, "POST", g.url+"/orders", map[string]string{"X-Client": "t"}, ``).wantError(t, 400, "bad_request")
	before := up.Hits.Load()
	if r := do(t, "POST", g.url+"/orders", map[string]string{"X-Client": "t"}, `{"a":1}`); r.status != 200 {
		t.Fatalf("valid request: %d %s", r.status, r.body)
	}
	if up.Hits.Load() != before+1 {
		t.Errorf("rejected requests reached the upstream")
	}
}

func TestSizeLimits(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startGateway(t, basicConfig(up.addr))
	r := do(t, "POST", g.url+"/api/items/1", nil, strings.Repeat("x", 2000))
	r.wantError(t, 413, "payload_too_large")
	r = do(t, "GET", g.url+"/api/items/1", map[string]string{"X-Big": strings.Repeat("a", 5000)}, "")
	r.wantError(t, 431, "headers_too_large")
	if up.Hits.Load() != 0 {
		t.Errorf("oversized requests reached the upstream")
	}
	// max_header_bytes (4096 here) counts the request line and the whole block.
	block := func(size int) string {
		head := "GET /api/items/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: "
		return head + strings.Repeat("p", size-len(head)-4) + "\r\n\r\n"
	}
	if raw := rawRequest(t, hostOf(g.url), block(4096)); !strings.HasPrefix(raw, "HTTP/1.1 200") {
		t.Errorf("header block of exactly max_header_bytes: %.40q", raw)
	}
	if raw := rawRequest(t, hostOf(g.url), block(4097)); !strings.HasPrefix(raw, "HTTP/1.1 431") {
		t.Errorf("header block one byte over: %.40q", raw)
	}
}

func TestSmugglingRefused(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startGateway(t, basicConfig(up.addr))
	for _, req := range []string{
		"POST /api/items/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST /api/items/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
		"POST /api/items/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x",
	} {
		raw := rawRequest(t, hostOf(g.url), req)
		if !strings.HasPrefix(raw, "HTTP/1.1 400") {
			t.Errorf("smuggling request answered %q", raw)
		}
	}
	if up.Hits.Load() != 0 {
		t.Errorf("a smuggling request reached the upstream")
	}
}

func TestUpstreamFailures(t *testing.T) {
	// A port nobody listens on: connection refused → 502.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	// A server answering garbage → 502.
	garbage, _ := net.Listen("tcp", "127.0.0.1:0")
	defer garbage.Close()
	go func() {
		for {
			c, err := garbage.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 4096)
				c.Read(buf)
				c.Write([]byte("NOT HTTP AT ALL\r\n\r\n"))
				c.Close()
			}()
		}
	}()
	slow := startUpstream(t, "slow")
	slow.SetDelay(time.Second)
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "services": {
    "dead": {"targets": [%q], "timeout": "1s", "retries": 0},
    "garbage": {"targets": [%q], "timeout": "1s"},
    "slow": {"targets": [%q], "timeout": "200ms"}
  },
  "routes": [
    {"name": "dead", "path": "/dead", "service": "dead"},
    {"name": "garbage", "path": "/garbage", "service": "garbage"},
    {"name": "slow", "path": "/slow", "service": "slow"}
  ]
}`, dead, garbage.Addr().String(), slow.addr))
	get(t, g.url+"/dead").wantError(t, 502, "bad_gateway")
	get(t, g.url+"/garbage").wantError(t, 502, "bad_gateway")
	start := time.Now()
	get(t, g.url+"/slow").wantError(t, 504, "upstream_timeout")
	if d := time.Since(start); d > 800*time.Millisecond {
		t.Errorf("504 took %v, want about the 200ms timeout", d)
	}
}

// TestUserAgentPassedThrough: the upstream sees the client's User-Agent as
// sent, and none when the client sent none (the gateway adds no name of its
// own).
func TestUserAgentPassedThrough(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startGateway(t, basicConfig(up.addr))
	for _, ua := range []string{"", "curl/8.5.0"} {
		req := "GET /api/items/1 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n"
		if ua != "" {
			req += "User-Agent: " + ua + "\r\n"
		}
		raw := rawRequest(t, hostOf(g.url), req+"\r\n")
		i := strings.Index(raw, "\r\n\r\n")
		if !strings.HasPrefix(raw, "HTTP/1.1 200") || i < 0 {
			t.Fatalf("answer: %q", raw)
		}
		var e echoed
		if err := json.Unmarshal([]byte(raw[i+4:]), &e); err != nil {
			t.Fatalf("echo body %q: %v", raw[i+4:], err)
		}
		if got, sent := e.Headers["user-agent"]; got != ua || (ua == "" && sent) {
			t.Errorf("client User-Agent %q reached the upstream as %q (present %v)", ua, got, sent)
		}
	}
}
