package engine_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawUpstream is a raw TCP upstream that answers each request path with a
// scripted, possibly cut-short answer, then closes (or resets) the connection.
type rawUpstream struct {
	addr string
	hits atomic.Int64
}

const fullJSON = `{"ok":true,"pad":"0123456789"}`

func startRawUpstream(t *testing.T) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go u.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return u
}

func (u *rawUpstream) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	io.Copy(io.Discard, req.Body)
	u.hits.Add(1)
	big := strings.Repeat("x", 100<<10)
	w := func(s string) { c.Write([]byte(s)) }
	switch req.URL.Path {
	case "/ok":
		w("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(fullJSON)) + "\r\nConnection: close\r\n\r\n" + fullJSON)
	case "/short": // Content-Length 1000, 10 bytes, close
		w("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"a\":12345")
	case "/shorthdr": // cut short, with headers that must not reach the 502
		w("HTTP/1.1 200 Fine\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nSet-Cookie: s=1\r\nCache-Control: max-age=60\r\nX-Up: 1\r\n\r\n{\"a\":12345")
	case "/short14": // as long as fasthttp's "unexpected EOF" error text
		w("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{\"a\"")
	case "/reset": // Content-Length 1000, 10 bytes, then a TCP reset
		w("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"a\":12345")
		time.Sleep(20 * time.Millisecond)
		c.(*net.TCPConn).SetLinger(0)
	case "/chunked": // a chunked answer that breaks after one chunk
		w("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n")
	case "/big": // over the stream threshold, cut half way
		w("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(2*len(big)) + "\r\n\r\n" + big)
	case "/bigfull": // over the stream threshold, whole
		w("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(big)) + "\r\n\r\n" + big)
	case "/chunkedfull": // a whole chunked answer
		w("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	case "/slow": // a long answer, slowly, until the gateway goes away
		w("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000000\r\n\r\n")
		for i := 0; i < 2000; i++ {
			if _, err := c.Write([]byte(big[:4096])); err != nil {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	case "/bigchunked": // a chunked stream of 100 KiB that breaks
		w("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" + strconv.FormatInt(int64(len(big)), 16) + "\r\n" + big + "\r\n")
	}
}

func truncGateway(t *testing.T, up *rawUpstream, echo string) *gateway {
	return startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0", "access_log": "off", "read_timeout": "2s"},
  "services": {"raw": {"targets": [%q], "timeout": "5s", "retries": 0},
               "echo": {"targets": [%q], "timeout": "5s"}},
  "routes": [
    {"name": "cached", "path": "/cached/{p}", "service": "raw", "rewrite": "/{p}", "cache": {"ttl": "1m"}},
    {"name": "agg", "path": "/agg/{p}", "aggregate": {"timeout": "3s", "backends": [
        {"service": "raw", "path": "/ok", "key": "good"},
        {"service": "raw", "path": "/{p}", "key": "cut"}]}},
    {"name": "aggopt", "path": "/aggopt/{p}", "aggregate": {"timeout": "3s", "backends": [
        {"service": "raw", "path": "/ok", "key": "good"},
        {"service": "raw", "path": "/{p}", "key": "cut", "optional": true}]}},
    {"name": "echo", "path": "/echo", "methods": ["POST"], "service": "echo"},
    {"name": "echojson", "path": "/echojson", "methods": ["POST"], "service": "echo", "validate": {"json_body": true}},
    {"name": "raw", "path": "/*", "service": "raw"}
  ]
}`, up.addr, echo))
}

func truncatedCount(t *testing.T, g *gateway) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^sluice_upstream_truncated_total\{service="raw"\} (\d+)$`).FindStringSubmatch(string(get(t, g.admin+"/metrics").body))
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestTruncatedAnswerIs502 checks that an answer cut short before the gateway
// answered is a 502, never a complete 200, and is counted.
func TestTruncatedAnswerIs502(t *testing.T) {
	up := startRawUpstream(t)
	g := truncGateway(t, up, closedAddr(t))
	if r := get(t, g.url+"/ok"); r.status != 200 || string(r.body) != fullJSON {
		t.Fatalf("/ok: %d %q", r.status, r.body)
	}
	before := truncatedCount(t, g)
	for _, p := range []string{"/short", "/short14", "/reset"} {
		get(t, g.url+p).wantError(t, 502, "bad_gateway")
	}
	if n := truncatedCount(t, g) - before; n != 3 {
		t.Errorf("sluice_upstream_truncated_total grew by %d, want 3", n)
	}
}

// TestTruncatedAnswerDropsUpstreamHeaders checks that the 502 for a cut
// answer is the gateway's own: no status text, cookie, cache directive or
// other header of the failed upstream answer leaks into it.
func TestTruncatedAnswerDropsUpstreamHeaders(t *testing.T) {
	up := startRawUpstream(t)
	g := truncGateway(t, up, closedAddr(t))
	for _, p := range []string{"/shorthdr", "/cached/shorthdr"} {
		resp, err := http.Get(g.url + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Status != "502 Bad Gateway" {
			t.Errorf("%s: status line %q, want \"502 Bad Gateway\"", p, resp.Status)
		}
		for _, h := range []string{"Set-Cookie", "Cache-Control", "X-Up"} {
			if v := resp.Header.Get(h); v != "" {
				t.Errorf("%s: the 502 carries the upstream's %s: %q", p, h, v)
			}
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", p, ct)
		}
	}
}

// TestTruncatedAnswerNeverCached checks that a cut answer is not stored: the
// next request goes upstream again.
func TestTruncatedAnswerNeverCached(t *testing.T) {
	up := startRawUpstream(t)
	g := truncGateway(t, up, closedAddr(t))
	for _, p := range []string{"short", "short14"} {
		h0 := up.hits.Load()
		for i := 0; i < 3; i++ {
			r := get(t, g.url+"/cached/"+p)
			r.wantError(t, 502, "bad_gateway")
		}
		if n := up.hits.Load() - h0; n != 3 {
			t.Errorf("%s: upstream hit %d times for 3 requests: a cut answer was cached", p, n)
		}
	}
	h0 := up.hits.Load()
	get(t, g.url+"/cached/ok")
	if r := get(t, g.url+"/cached/ok"); r.status != 200 || r.header.Get("X-Cache") != "HIT" || up.hits.Load()-h0 != 1 {
		t.Errorf("a whole answer is cached: status %d X-Cache %q hits %d", r.status, r.header.Get("X-Cache"), up.hits.Load()-h0)
	}
}

// TestTruncatedAggregateBackend checks that a cut backend answer never merges
// as valid JSON: a required backend fails the request, an optional one is
// dropped.
func TestTruncatedAggregateBackend(t *testing.T) {
	up := startRawUpstream(t)
	g := truncGateway(t, up, closedAddr(t))
	for _, p := range []string{"short", "short14", "reset", "chunked"} {
		r := get(t, g.url+"/agg/"+p)
		if r.status != 502 {
			t.Errorf("/agg/%s: status %d body %s, want 502", p, r.status, r.body)
		}
		r = get(t, g.url+"/aggopt/"+p)
		if r.status != 200 || r.header.Get("X-Partial-Response") != "true" || strings.Contains(string(r.body), `"cut"`) {
			t.Errorf("/aggopt/%s: status %d partial %q body %s, want 200 without \"cut\"", p, r.status, r.header.Get("X-Partial-Response"), r.body)
		}
	}
}

// TestTruncatedStreamClosesClient checks that an answer cut after the gateway
// started streaming it (chunked, or over the buffering threshold) ends the
// client connection before the message ends.
func TestTruncatedStreamClosesClient(t *testing.T) {
	up := startRawUpstream(t)
	g := truncGateway(t, up, closedAddr(t))
	// Whole streamed answers pass and are not counted.
	before := truncatedCount(t, g)
	for _, p := range []string{"/bigfull", "/chunkedfull"} {
		for i := 0; i < 3; i++ {
			if r := get(t, g.url+p); r.status != 200 || len(r.body) < 5 {
				t.Fatalf("%s: %d, %d bytes", p, r.status, len(r.body))
			}
		}
	}
	if n := truncatedCount(t, g) - before; n != 0 {
		t.Errorf("whole streamed answers counted %d times as truncated", n)
	}
	for _, p := range []string{"/big", "/bigchunked", "/chunked"} {
		for i := 0; i < 3; i++ {
			c, err := net.Dial("tcp", hostOf(g.url))
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write([]byte("GET " + p + " HTTP/1.1\r\nHost: a\r\n\r\n"))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				if err == nil && resp.StatusCode == 200 {
					t.Errorf("%s: the client read a complete 200 of a cut answer", p)
				}
			}
			c.Close()
		}
	}
	// The cut is counted once the server's read of the stream fails.
	deadline := time.Now().Add(5 * time.Second)
	for truncatedCount(t, g)-before < 9 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := truncatedCount(t, g) - before; n != 9 {
		t.Errorf("sluice_upstream_truncated_total grew by %d for 9 cut streams", n)
	}
}

// TestShortRequestBodyNeverForwarded checks that a client that sends less
// than its declared body (and closes, stalls or breaks its chunked stream)
// causes no upstream request with a different body.
func TestShortRequestBodyNeverForwarded(t *testing.T) {
	echo := startUpstream(t, "echo")
	g := truncGateway(t, startRawUpstream(t), echo.addr)
	cases := []struct {
		name, head, body string
		stall            bool
	}{
		// A route that reads the body whole (JSON validation) before going upstream.
		{"json-big-close", "Content-Length: 200000", "[" + strings.Repeat("1,", 50000) + "1]", false},
		{"short-close", "Content-Length: 100", strings.Repeat("a", 50), false},
		{"short-stall", "Content-Length: 100", strings.Repeat("a", 50), true},
		// Larger than fasthttp reads ahead, within the buffering threshold.
		{"mid-close", "Content-Length: 40000", strings.Repeat("m", 20000), false},
		{"mid-stall", "Content-Length: 40000", strings.Repeat("m", 20000), true},
		{"chunked-close", "Transfer-Encoding: chunked", "5\r\nhello\r\n3\r\nwo", false},
		{"chunked-stall", "Transfer-Encoding: chunked", "5\r\nhello\r\n", true},
		{"big-close", "Content-Length: 200000", strings.Repeat("b", 100000), false},
		{"big-stall", "Content-Length: 200000", strings.Repeat("b", 100000), true},
	}
	for _, c := range cases {
		conn, err := net.Dial("tcp", hostOf(g.url))
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(15 * time.Second))
		path := "/echo"
		if strings.HasPrefix(c.name, "json") {
			path = "/echojson"
		}
		conn.Write([]byte("POST " + path + " HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\n" + c.head + "\r\n\r\n" + c.body))
		if !c.stall {
			conn.(*net.TCPConn).CloseWrite()
		}
		out, _ := io.ReadAll(conn) // until the gateway closes (read_timeout 2s for a stall)
		conn.Close()
		if strings.HasPrefix(string(out), "HTTP/1.1 200") {
			t.Errorf("%s: answered %q", c.name, out)
		}
		// A broken streamed upload is the client's fault, not the upstream's.
		if strings.HasPrefix(c.name, "big") && !strings.HasPrefix(string(out), "HTTP/1.1 400") {
			t.Errorf("%s: answered %q, want a 400", c.name, firstLine(string(out)))
		}
	}
	// The echo upstream (a buffering server) runs its handler only for a
	// whole request: any hit means a request with another body went out.
	time.Sleep(200 * time.Millisecond)
	if n := echo.Hits.Load(); n != 0 {
		t.Errorf("the upstream got %d requests from clients that never sent their whole body", n)
	}
	if r := do(t, "POST", g.url+"/echo", nil, "whole"); r.status != 200 || echo.Hits.Load() != 1 {
		t.Errorf("a whole body: status %d hits %d", r.status, echo.Hits.Load())
	}
	metrics := string(get(t, g.admin+"/metrics").body)
	if strings.Contains(metrics, `sluice_upstream_requests_total{service="echo",target="`+echo.addr+`",status="error"}`) {
		t.Errorf("broken uploads counted as upstream errors")
	}
}

// TestClientLeavingStreamIsNoTruncation checks that a client hanging up
// during a streamed answer is not counted as an upstream truncation.
func TestClientLeavingStreamIsNoTruncation(t *testing.T) {
	up := startRawUpstream(t)
	g := truncGateway(t, up, closedAddr(t))
	before := truncatedCount(t, g)
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", hostOf(g.url))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"))
		buf := make([]byte, 64<<10)
		if _, err := io.ReadAtLeast(c, buf, 32<<10); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	time.Sleep(time.Second)
	if n := truncatedCount(t, g) - before; n != 0 {
		t.Errorf("clients leaving counted %d upstream truncations", n)
	}
}
