package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/tlsconf/tlstest"
	"golang.org/x/net/http2"
)

// tlsGateway is a gateway on a TLS listener with one client per protocol.
type tlsGateway struct {
	*gateway
	ca     *tlstest.CA
	h1, h2 *http.Client
}

// startTLSGateway starts cfg (a template whose first %s is the server block's
// extra keys ending with a comma, e.g. `"http2": false,`) on TLS.
func startTLSGateway(t testing.TB, serverExtra, rest string) *tlsGateway {
	t.Helper()
	ca := tlstest.NewCA(t, "h2-ca")
	pair := ca.Server(t, []string{"127.0.0.1", "localhost"}, tlstest.Options{})
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off", %s
    "tls": {"certificates": [{"cert_file": %q, "key_file": %q}]}},
  %s}`, serverExtra, pair.CertFile, pair.KeyFile, rest))
	g.url = strings.Replace(g.url, "http://", "https://", 1)
	tg := &tlsGateway{gateway: g, ca: ca}
	tg.h1 = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool, NextProtos: []string{"http/1.1"}},
		TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{},
	}}
	tg.h2 = &http.Client{Timeout: 20 * time.Second, Transport: &http2.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool},
	}}
	t.Cleanup(func() {
		tg.h1.CloseIdleConnections()
		tg.h2.CloseIdleConnections()
	})
	return tg
}

// protoCase runs one request with the client of a protocol.
type protoClient struct {
	name  string
	major int
	c     *http.Client
}

func (g *tlsGateway) clients() []protoClient {
	return []protoClient{{"http1.1", 1, g.h1}, {"h2", 2, g.h2}}
}

func (pc protoClient) do(t testing.TB, method, url string, header map[string]string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := pc.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s %s: %v", pc.name, method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s %s: read body: %v", pc.name, method, url, err)
	}
	if resp.ProtoMajor != pc.major {
		t.Fatalf("%s: answered over %s", pc.name, resp.Proto)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// TestEndToEndOverBothProtocols runs a representative set of the engine's
// end-to-end checks over HTTP/1.1 and HTTP/2 on the same TLS listener: every
// route and stage must behave the same.
func TestEndToEndOverBothProtocols(t *testing.T) {
	up := startUpstream(t, "echo")
	agg := aggStartBackend(t)
	agg.set("/users/7", aggAnswer{status: 200, body: `{"name":"ann"}`})
	agg.set("/orders/7", aggAnswer{status: 200, body: `[1,2]`})
	g := startTLSGateway(t, `"max_body_bytes": 262144, "max_header_bytes": 4096,`, cfgf(`
  "services": {"s": {"targets": [%q]}, "b": {"targets": [%q]}},
  "auth": {"keys": {"type": "api_key", "keys": {"acme": "sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"}}},
  "rate_limits": {"per-client": {"key": "header:X-Client", "requests": 2, "per": "1m"}},
  "routes": [
    {"name": "echo", "path": "/api/echo/{id}", "methods": ["GET", "POST"], "service": "s", "strip_prefix": "/api",
     "request_headers": {"set": {"X-Added": "yes"}, "remove": ["X-Drop"]},
     "response_headers": {"set": {"X-Resp": "r"}, "remove": ["X-Served-By"]}},
    {"name": "v2", "path": "/versioned", "headers": {"API-Version": "2"}, "service": "s"},
    {"name": "secure", "path": "/secure", "service": "s", "auth": "keys"},
    {"name": "limited", "path": "/limited", "service": "s", "rate_limits": ["per-client"]},
    {"name": "cached", "path": "/cached/{id}", "service": "s", "cache": {"ttl": "1m"}},
    {"name": "home", "path": "/home/{id}", "aggregate": {"timeout": "2s", "backends": [
      {"service": "b", "path": "/users/{id}", "key": "user"},
      {"service": "b", "path": "/orders/{id}", "key": "orders"}]}}
  ]`, up.addr, agg.addr))

	for _, pc := range g.clients() {
		t.Run(pc.name, func(t *testing.T) {
			// Routing, strip_prefix, request and response headers, forwarding.
			r := pc.do(t, "GET", g.url+"/api/echo/1?q=x", map[string]string{"X-Drop": "1", "X-Request-Id": "rid-" + pc.name}, nil)
			if r.status != 200 {
				t.Fatalf("echo: %d %s", r.status, r.body)
			}
			var e echoed
			r.json(t, &e)
			if e.URI != "/echo/1?q=x" || e.Headers["x-added"] != "yes" || e.Headers["x-drop"] != "" ||
				e.Headers["x-forwarded-proto"] != "https" || e.Headers["x-forwarded-for"] != "127.0.0.1" ||
				e.Headers["x-request-id"] != "rid-"+pc.name || e.Host != up.addr {
				t.Fatalf("upstream saw %+v", e)
			}
			if r.header.Get("X-Resp") != "r" || r.header.Get("X-Served-By") != "" || r.header.Get("X-Request-Id") != "rid-"+pc.name ||
				r.header.Get("X-Up-Hop") != "" || r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("response headers %v", r.header)
			}
			// HEAD on a GET route: headers, no body.
			if r := pc.do(t, "HEAD", g.url+"/api/echo/1", nil, nil); r.status != 200 || len(r.body) != 0 {
				t.Fatalf("HEAD: %d %q", r.status, r.body)
			}
			// 404, 405 with Allow, header-matched route.
			pc.do(t, "GET", g.url+"/nope", nil, nil).wantError(t, 404, "not_found")
			r = pc.do(t, "DELETE", g.url+"/api/echo/1", nil, nil)
			r.wantError(t, 405, "method_not_allowed")
			if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "HEAD") || !strings.Contains(allow, "POST") {
				t.Fatalf("Allow %q", allow)
			}
			pc.do(t, "GET", g.url+"/versioned", nil, nil).wantError(t, 404, "not_found")
			if r := pc.do(t, "GET", g.url+"/versioned", map[string]string{"API-Version": "2"}, nil); r.status != 200 {
				t.Fatalf("versioned: %d", r.status)
			}
			// Auth.
			r = pc.do(t, "GET", g.url+"/secure", nil, nil)
			r.wantError(t, 401, "unauthorized")
			if r.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			if r := pc.do(t, "GET", g.url+"/secure", map[string]string{"X-API-Key": "secret"}, nil); r.status != 200 {
				t.Fatalf("with key: %d", r.status)
			}
			// Rate limit: 2 then 429 with the headers.
			client := map[string]string{"X-Client": pc.name}
			for i := 0; i < 2; i++ {
				if r := pc.do(t, "GET", g.url+"/limited", client, nil); r.status != 200 || r.header.Get("RateLimit-Limit") != "2" {
					t.Fatalf("limited %d: %d %v", i, r.status, r.header)
				}
			}
			r = pc.do(t, "GET", g.url+"/limited", client, nil)
			r.wantError(t, 429, "rate_limited")
			if r.header.Get("Retry-After") == "" || r.header.Get("RateLimit-Remaining") != "0" {
				t.Fatalf("429 headers %v", r.header)
			}
			// Cache: MISS then HIT.
			if r := pc.do(t, "GET", g.url+"/cached/"+pc.name, nil, nil); r.header.Get("X-Cache") != "MISS" {
				t.Fatalf("first: %q", r.header.Get("X-Cache"))
			}
			if r := pc.do(t, "GET", g.url+"/cached/"+pc.name, nil, nil); r.header.Get("X-Cache") != "HIT" || r.status != 200 {
				t.Fatalf("second: %d %q", r.status, r.header.Get("X-Cache"))
			}
			// Aggregate.
			r = pc.do(t, "GET", g.url+"/home/7", nil, nil)
			var home map[string]json.RawMessage
			r.json(t, &home)
			if r.status != 200 || string(home["user"]) != `{"name":"ann"}` || string(home["orders"]) != `[1,2]` {
				t.Fatalf("aggregate: %d %s", r.status, r.body)
			}
			// Bodies: small buffered, large streamed both ways, unknown
			// length, over the limit (declared and undeclared).
			small := strings.Repeat("s", 500)
			r = pc.do(t, "POST", g.url+"/api/echo/1", nil, strings.NewReader(small))
			r.json(t, &e)
			if r.status != 200 || e.Body != small {
				t.Fatalf("small body: %d %d bytes", r.status, len(e.Body))
			}
			large := strings.Repeat("L", 200<<10)
			r = pc.do(t, "POST", g.url+"/api/echo/1", nil, strings.NewReader(large))
			r.json(t, &e)
			if r.status != 200 || e.Body != large {
				t.Fatalf("large body: %d %d bytes", r.status, len(e.Body))
			}
			r = pc.do(t, "POST", g.url+"/api/echo/1", nil, io.MultiReader(strings.NewReader(small), strings.NewReader(small)))
			r.json(t, &e)
			if r.status != 200 || e.Body != small+small {
				t.Fatalf("unknown-length body: %d %d bytes", r.status, len(e.Body))
			}
			tooLarge := strings.Repeat("x", 300<<10)
			for _, body := range []func() io.Reader{
				func() io.Reader { return strings.NewReader(tooLarge) },                 // declared length
				func() io.Reader { return io.MultiReader(strings.NewReader(tooLarge)) }, // unknown length
			} {
				if pc.major == 1 {
					// HTTP/1.1 answers 413 and closes while the client may
					// still be writing: the client can see the reset first.
					req, _ := http.NewRequest("POST", g.url+"/api/echo/1", body())
					resp, err := pc.c.Do(req)
					if err != nil {
						continue
					}
					resp.Body.Close()
					if resp.StatusCode != 413 {
						t.Fatalf("over the limit: %d", resp.StatusCode)
					}
					continue
				}
				pc.do(t, "POST", g.url+"/api/echo/1", nil, body()).wantError(t, 413, "payload_too_large")
			}
			// Headers over max_header_bytes.
			pc.do(t, "GET", g.url+"/api/echo/1", map[string]string{"X-Big": strings.Repeat("b", 5000)}, nil).wantError(t, 431, "headers_too_large")
		})
	}
}

// TestHTTP2Off: with "http2": false only http/1.1 is offered by ALPN.
func TestHTTP2Off(t *testing.T) {
	up := startUpstream(t, "echo")
	for _, c := range []struct {
		extra string
		want  string
	}{{`"http2": false,`, "http/1.1"}, {``, "h2"}} {
		g := startTLSGateway(t, c.extra, cfgf(`"services": {"s": {"targets": [%q]}}, "routes": [{"name": "r", "path": "/r", "service": "s"}]`, up.addr))
		conn, err := tls.Dial("tcp", strings.TrimPrefix(g.url, "https://"), &tls.Config{RootCAs: g.ca.Pool, NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		got := conn.ConnectionState().NegotiatedProtocol
		conn.Close()
		if got != c.want {
			t.Fatalf("%q: negotiated %q, want %q", c.extra, got, c.want)
		}
	}
}

// TestHTTP2ManyStreamsOneConnection: concurrent streams on one connection
// all get their own answers.
func TestHTTP2ManyStreamsOneConnection(t *testing.T) {
	up := startUpstream(t, "echo")
	up.SetDelay(20 * time.Millisecond)
	g := startTLSGateway(t, ``, cfgf(`"services": {"s": {"targets": [%q]}}, "routes": [{"name": "r", "path": "/r/{id}", "service": "s"}]`, up.addr))
	pc := g.clients()[1]
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := strings.Repeat("i", i%7+1) + string(rune('a'+i%26))
			req, _ := http.NewRequest("GET", g.url+"/r/"+id, nil)
			resp, err := pc.c.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			var e echoed
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.URI != "/r/"+id || resp.ProtoMajor != 2 {
				errs <- "bad answer for " + id
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestHTTP2Shutdown: a request in flight on an h2 connection finishes when
// the gateway shuts down, and Shutdown reports a clean drain.
func TestHTTP2Shutdown(t *testing.T) {
	up := startUpstream(t, "echo")
	up.SetDelay(300 * time.Millisecond)
	g := startTLSGateway(t, `"shutdown_timeout": "10s",`, cfgf(`"services": {"s": {"targets": [%q]}}, "routes": [{"name": "r", "path": "/r", "service": "s"}]`, up.addr))
	pc := g.clients()[1]
	done := make(chan response, 1)
	go func() { done <- pc.do(t, "GET", g.url+"/r", nil, nil) }()
	// The request is in flight once the upstream has it (a fixed sleep is
	// not enough on a loaded machine: the TLS and h2 set-up come first).
	for deadline := time.Now().Add(5 * time.Second); up.Hits.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the request never reached the upstream")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !g.server.Shutdown() {
		t.Fatal("shutdown cut requests off")
	}
	select {
	case r := <-done:
		if r.status != 200 {
			t.Fatalf("in-flight request: %d", r.status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight request never finished")
	}
}

// TestHTTP2StreamedAnswerTruncated: an upstream answer cut short (fewer
// bytes than its Content-Length, or a chunked body that breaks off) reaches
// an h2 client as a reset stream, never as a complete body.
func TestHTTP2StreamedAnswerTruncated(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		addr := truncatingUpstream(t, chunked)
		g := startTLSGateway(t, ``, cfgf(`"services": {"s": {"targets": [%q], "retries": 0}}, "routes": [{"name": "r", "path": "/r", "service": "s"}]`, addr))
		req, _ := http.NewRequestWithContext(context.Background(), "GET", g.url+"/r", nil)
		resp, err := g.h2.Do(req)
		if err != nil {
			continue // refused before the answer began: also never complete
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Fatalf("chunked %v: truncated answer read as complete (%d: %d bytes)", chunked, resp.StatusCode, len(b))
		}
	}
}

// truncatingUpstream answers every request with a 200 that promises 1 MB
// (or, chunked, a chunked body without its last chunk) and sends 100 KiB
// before closing the connection.
func truncatingUpstream(t testing.TB, chunked bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				buf := make([]byte, 4096)
				_, _ = c.Read(buf)
				if chunked {
					_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"))
					for i := 0; i < 10; i++ {
						_, _ = c.Write([]byte("2800\r\n" + strings.Repeat("x", 10<<10) + "\r\n"))
					}
					return
				}
				_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n"))
				_, _ = c.Write(bytes.Repeat([]byte("x"), 100<<10))
			}(c)
		}
	}()
	return ln.Addr().String()
}

// TestHTTP2MutualTLSConsumer: over HTTP/2 the client certificate is the
// consumer, exactly as over HTTP/1.1 (auth mtls, a limit keyed on it).
func TestHTTP2MutualTLSConsumer(t *testing.T) {
	ca := tlstest.NewCA(t, "mtls-ca")
	server := ca.Server(t, []string{"127.0.0.1"}, tlstest.Options{})
	up := startUpstream(t, "echo")
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off",
             "tls": {"certificates": [{"cert_file": %q, "key_file": %q}], "client_ca_file": %q, "client_auth": "request"}},
  "services": {"s": {"targets": [%q]}},
  "auth": {"machines": {"type": "mtls"}},
  "rate_limits": {"per-machine": {"key": "consumer", "requests": 1, "per": "1m"}},
  "routes": [{"name": "m", "path": "/m", "service": "s", "auth": "machines", "rate_limits": ["per-machine"]}]
}`, server.CertFile, server.KeyFile, ca.CertFile, up.addr))
	url := strings.Replace(g.url, "http://", "https://", 1) + "/m"
	for _, proto := range []string{"h1", "h2"} {
		clientFor := func(cn string) protoClient {
			tc := &tls.Config{RootCAs: ca.Pool}
			if cn != "" {
				tc.Certificates = []tls.Certificate{ca.Client(t, cn, tlstest.Options{}).TLS}
			}
			if proto == "h2" {
				return protoClient{proto, 2, &http.Client{Timeout: 10 * time.Second, Transport: &http2.Transport{TLSClientConfig: tc}}}
			}
			tc.NextProtos = []string{"http/1.1"}
			return protoClient{proto, 1, &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}}
		}
		pc := clientFor("alice-" + proto)
		if r := pc.do(t, "GET", url, nil, nil); r.status != 200 {
			t.Fatalf("%s first: %d %s", proto, r.status, r.body)
		}
		pc.do(t, "GET", url, nil, nil).wantError(t, 429, "rate_limited")
		if r := clientFor("bob-"+proto).do(t, "GET", url, nil, nil); r.status != 200 {
			t.Fatalf("%s other consumer: %d", proto, r.status)
		}
		clientFor("").do(t, "GET", url, nil, nil).wantError(t, 401, "unauthorized")
	}
}

// TestHTTP2EventStream: a streamed answer reaches an h2 client event by
// event (the first before the upstream has written the last), and an
// upload streams to the upstream while the client still holds the rest.
func TestHTTP2EventStream(t *testing.T) {
	got := make(chan int, 1)
	g := startTLSGateway(t, `"max_body_bytes": 4194304,`, cfgf(`"services": {"s": {"targets": [%q], "timeout": "5s"}}, "routes": [{"name": "s", "path": "/*", "service": "s"}]`, streamUpstream(t, got)))
	resp, err := g.h2.Get(g.url + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%s %v", resp.Proto, resp.Header)
	}
	rd := bufio.NewReader(resp.Body)
	line, err := rd.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "data: 0 ") {
		t.Fatalf("first line %q: %v", line, err)
	}
	// The upstream writes event 4 at least 400ms after event 0: reading
	// event 0 must not have waited for it.
	var sent int64
	fmt.Sscanf(strings.TrimPrefix(strings.TrimSpace(line), "data: 0 "), "%d", &sent)
	rest, _ := io.ReadAll(rd)
	if n := strings.Count(string(rest), "data: "); n != 4 {
		t.Fatalf("got %d more events, want 4", n)
	}
	last := strings.Fields(strings.Split(strings.TrimSpace(string(rest)), "\n\n")[3])
	var lastSent int64
	fmt.Sscanf(last[len(last)-1], "%d", &lastSent)
	if lastSent-sent < int64(300*time.Millisecond) {
		t.Fatalf("events written %v apart", time.Duration(lastSent-sent))
	}

	// Upload: 1 MiB whose second half waits until the upstream saw the first.
	pr, pw := io.Pipe()
	buffered := make(chan bool, 1)
	go func() {
		pw.Write(bytes.Repeat([]byte("u"), 512<<10))
		select {
		case <-got:
			buffered <- false
		case <-time.After(10 * time.Second):
			buffered <- true
		}
		pw.Write(bytes.Repeat([]byte("u"), 512<<10))
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", g.url+"/upload", pr)
	req.ContentLength = 1 << 20
	up, err := g.h2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(up.Body)
	up.Body.Close()
	if up.StatusCode != 200 || string(body) != strconv.Itoa(1<<20) {
		t.Fatalf("upload: %d %q", up.StatusCode, body)
	}
	if <-buffered {
		t.Fatal("the upstream saw nothing of the upload before the client sent all of it")
	}
}

// TestHTTP2DrainGoAway: once draining starts, an h2 client is told to leave
// its connection (GOAWAY) and its next request, during drain_delay, is
// served on a new connection.
func TestHTTP2DrainGoAway(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startTLSGateway(t, `"drain_delay": "1500ms",`, cfgf(`"services": {"s": {"targets": [%q]}}, "routes": [{"name": "r", "path": "/r", "service": "s"}]`, up.addr))
	conns := map[string]bool{}
	get := func() {
		t.Helper()
		var local string
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { local = i.Conn.LocalAddr().String() }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", g.url+"/r", nil)
		resp, err := g.h2.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Fatalf("%s %d", resp.Proto, resp.StatusCode)
		}
		conns[local] = true
	}
	get()
	get()
	if len(conns) != 1 {
		t.Fatalf("%d connections before the drain, want 1", len(conns))
	}
	done := make(chan bool, 1)
	go func() { done <- g.server.Shutdown() }()
	time.Sleep(500 * time.Millisecond) // draining, within drain_delay
	get()
	if len(conns) != 2 {
		t.Fatalf("%d connections: the request during the drain reused the old one", len(conns))
	}
	if !<-done {
		t.Fatal("shutdown cut requests off")
	}
}

// TestHTTP2ProxyProtocolClientAddress: behind an L4 balancer speaking the
// PROXY protocol, an h2 request's client address is the header's source, as
// on HTTP/1.1.
func TestHTTP2ProxyProtocolClientAddress(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startTLSGateway(t, `"proxy_protocol": "required", "trusted_proxies": ["127.0.0.1/32"],`,
		cfgf(`"services": {"s": {"targets": [%q]}}, "routes": [{"name": "r", "path": "/r", "service": "s"}]`, up.addr))
	raw, err := net.Dial("tcp", strings.TrimPrefix(g.url, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Write([]byte("PROXY TCP4 203.0.113.7 127.0.0.1 5555 443\r\n")); err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(raw, &tls.Config{RootCAs: g.ca.Pool, ServerName: "127.0.0.1", NextProtos: []string{"h2"}})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	cc, err := (&http2.Transport{}).NewClientConn(tc)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", g.url+"/r", nil)
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e echoed
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 || e.Headers["x-forwarded-for"] != "203.0.113.7" {
		t.Fatalf("%s: upstream saw X-Forwarded-For %q", resp.Proto, e.Headers["x-forwarded-for"])
	}
}
