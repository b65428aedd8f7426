package aggregate

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"github.com/sluice-gw/sluice/engine/upstream"
)

// servicesAt returns services s0, s1, ... on the given upstreams, without
// retries.
func servicesAt(t testing.TB, addrs ...string) map[string]*upstream.Service {
	t.Helper()
	var specs []testService
	for i, a := range addrs {
		specs = append(specs, testService{name: fmt.Sprintf("s%d", i), addr: a, noRetries: true})
	}
	return testServices(t, specs...)
}

// closedAddr returns a loopback address nobody listens on.
func closedAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestServeMergeTemplatesAndHeaders(t *testing.T) {
	u := startUpstream(t)
	u.set("/users/42", answer{body: `{"name":"alice","secret":"s","address":{"city":"Paris","zip":"1"}}` + "\n"})
	u.set("/feed/auth0|ü", answer{body: ` [1,2,3] `})
	u.set("/count", answer{body: `7`})
	p := mustCompile(t, servicesAt(t, u.addr), Options{Timeout: 2 * time.Second, Backends: []BackendOptions{
		{Service: "s0", Path: "/users/{id}", Key: "profile", Allow: []string{"name", "address.city"}},
		{Service: "s0", Path: "/feed/{claim.sub}?q={query.q}", Key: "feed"},
		{Service: "s0", Path: "/count", Key: "notifications"}}}, "id")

	x := exchange("/home/42?q=a+b/c?d&x=1", "X-Request-Id: rid-1", "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"X-Forwarded-For: 10.0.0.1", "X-User-Id: alice", "Accept-Encoding: gzip", "If-None-Match: \"e\"", "Content-Type: text/plain", "Cookie: a=b", "Connection: close")
	x.Ctx.Request.Header.SetMethod("POST")
	x.Ctx.Request.SetBodyString("ignored body")
	x.Params.Set("id", []byte("42"))
	x.Claims = mapClaims{"sub": "auth0|ü"}
	p.Serve(x)

	if st, code := rejected(x); st != 0 {
		t.Fatalf("rejected %d %s", st, code)
	}
	resp := &x.Ctx.Response
	want := `{"profile":{"name":"alice","address":{"city":"Paris"}},"feed":[1,2,3],"notifications":7}`
	if resp.StatusCode() != 200 || string(resp.Body()) != want || string(resp.Header.ContentType()) != "application/json" {
		t.Fatalf("answer %d %s %s", resp.StatusCode(), resp.Header.ContentType(), resp.Body())
	}
	if partial(x) {
		t.Error("partial on a full answer")
	}
	seen, ok := u.last("/feed/auth0|ü")
	if !ok {
		t.Fatal("feed backend not called")
	}
	if seen.uri != "/feed/auth0%7C%C3%BC?q=a%20b%2Fc%3Fd" || seen.method != "GET" {
		t.Errorf("feed request %s %s", seen.method, seen.uri)
	}
	for _, k := range []string{"x-request-id", "traceparent", "x-forwarded-for", "x-user-id", "cookie"} {
		if seen.headers[k] == "" {
			t.Errorf("header %s not forwarded (%v)", k, seen.headers)
		}
	}
	for _, k := range []string{"accept-encoding", "if-none-match", "content-type", "connection"} {
		if v, ok := seen.headers[k]; ok {
			t.Errorf("header %s forwarded: %q", k, v)
		}
	}
	if cl := seen.headers["content-length"]; cl != "" && cl != "0" {
		t.Errorf("content-length %q", cl)
	}
	if seen.headers["host"] != u.addr {
		t.Errorf("host %q", seen.headers["host"])
	}
	// The access log member is valid JSON with one entry per backend.
	var logged struct {
		Backends []struct {
			Key    string  `json:"key"`
			Status int     `json:"status"`
			MS     float64 `json:"ms"`
			Target string  `json:"target"`
			Error  string  `json:"error"`
		} `json:"backends"`
	}
	if err := json.Unmarshal([]byte("{"+string(x.LogExtra[1:])+"}"), &logged); err != nil {
		t.Fatalf("log %s: %v", x.LogExtra, err)
	}
	if len(logged.Backends) != 3 || logged.Backends[1].Key != "feed" || logged.Backends[1].Status != 200 ||
		logged.Backends[1].Target != u.addr || logged.Backends[1].Error != "" {
		t.Errorf("log %s", x.LogExtra)
	}
}

func TestServeMissingInput(t *testing.T) {
	u := startUpstream(t)
	u.set("*", answer{body: `{"ok":true}`})
	// Required backend with an absent claim: 400, nothing called.
	p := mustCompile(t, servicesAt(t, u.addr), Options{Backends: []BackendOptions{
		{Service: "s0", Path: "/a", Key: "a"},
		{Service: "s0", Path: "/u/{claim.sub}", Key: "u"}}})
	x := exchange("/home")
	p.Serve(x)
	if st, code := rejected(x); st != 400 || code != "bad_request" {
		t.Fatalf("got %d %s", st, code)
	}
	if _, called := u.last("/a"); called {
		t.Error("a backend was called although the request failed before")
	}
	if !strings.Contains(string(x.LogExtra), `"error":"missing_input"`) {
		t.Errorf("log %s", x.LogExtra)
	}
	// Optional backend with an absent query parameter: dropped, partial.
	p = mustCompile(t, servicesAt(t, u.addr), Options{Backends: []BackendOptions{
		{Service: "s0", Path: "/a", Key: "a"},
		{Service: "s0", Path: "/s?q={query.q}", Key: "s", Optional: true}}})
	x = exchange("/home?other=1")
	p.Serve(x)
	if st, _ := rejected(x); st != 0 || string(x.Ctx.Response.Body()) != `{"a":{"ok":true}}` || !partial(x) {
		t.Fatalf("got %d %s partial=%v", st, x.Ctx.Response.Body(), partial(x))
	}
	if cc := string(x.Ctx.Response.Header.Peek("Cache-Control")); cc != "no-store" {
		t.Errorf("partial answer Cache-Control %q", cc)
	}
}

func TestServeBackendFailures(t *testing.T) {
	u := startUpstream(t)
	u.set("/ok", answer{body: `{"ok":1}`})
	u.set("/500", answer{status: 500, body: `{"error":"x"}`})
	u.set("/404", answer{status: 404, body: `{}`})
	u.set("/html", answer{body: `<html></html>`, ctype: "text/html"})
	u.set("/empty", answer{body: ``})
	u.set("/204", answer{status: 204})
	u.set("/slow", answer{body: `{}`, delay: 400 * time.Millisecond})
	down := closedAddr(t)
	cases := []struct {
		name, svc, path string
		status          int
		code, logErr    string
	}{
		{"5xx", "s0", "/500", 502, "bad_gateway", "status"},
		{"404", "s0", "/404", 502, "bad_gateway", "status"},
		{"html", "s0", "/html", 502, "bad_gateway", "not_json"},
		{"empty", "s0", "/empty", 502, "bad_gateway", "not_json"},
		{"refused", "s1", "/ok", 502, "bad_gateway", "connect"},
		{"slow", "s0", "/slow", 504, "upstream_timeout", "timeout"},
	}
	for _, c := range cases {
		for _, optional := range []bool{false, true} {
			p := mustCompile(t, servicesAt(t, u.addr, down), Options{Timeout: 150 * time.Millisecond, Backends: []BackendOptions{
				{Service: "s0", Path: "/ok", Key: "ok"},
				{Service: c.svc, Path: c.path, Key: "bad", Optional: optional}}})
			x := exchange("/home")
			p.Serve(x)
			st, code := rejected(x)
			if optional {
				if st != 0 || string(x.Ctx.Response.Body()) != `{"ok":{"ok":1}}` || !partial(x) {
					t.Errorf("%s optional: %d %s partial=%v", c.name, st, x.Ctx.Response.Body(), partial(x))
				}
			} else if st != c.status || code != c.code {
				t.Errorf("%s required: got %d %s, want %d %s", c.name, st, code, c.status, c.code)
			}
			if !strings.Contains(string(x.LogExtra), `"error":"`+c.logErr+`"`) {
				t.Errorf("%s: log %s lacks error %s", c.name, x.LogExtra, c.logErr)
			}
		}
	}
	// 204 counts as null.
	p := mustCompile(t, servicesAt(t, u.addr), Options{Backends: []BackendOptions{{Service: "s0", Path: "/204", Key: "n"}}})
	x := exchange("/home")
	p.Serve(x)
	if string(x.Ctx.Response.Body()) != `{"n":null}` {
		t.Errorf("204: %s", x.Ctx.Response.Body())
	}
}

func TestServePerBackendTimeout(t *testing.T) {
	u := startUpstream(t)
	u.set("/ok", answer{body: `1`})
	u.set("/slow", answer{body: `2`, delay: 150 * time.Millisecond})
	p := mustCompile(t, servicesAt(t, u.addr), Options{Timeout: time.Second, Backends: []BackendOptions{
		{Service: "s0", Path: "/ok", Key: "ok"},
		{Service: "s0", Path: "/slow", Key: "slow", Optional: true, Timeout: 50 * time.Millisecond}}})
	x := exchange("/home")
	start := time.Now()
	p.Serve(x)
	if d := time.Since(start); d > 120*time.Millisecond {
		t.Errorf("took %v despite the 50ms backend timeout", d)
	}
	if string(x.Ctx.Response.Body()) != `{"ok":1}` || !partial(x) {
		t.Errorf("got %s partial=%v", x.Ctx.Response.Body(), partial(x))
	}
}

func TestServeAnswersAtOnceWhenRequiredFails(t *testing.T) {
	u := startUpstream(t)
	u.set("/slow", answer{body: `{}`, delay: 500 * time.Millisecond})
	u.set("/bad", answer{status: 500})
	p := mustCompile(t, servicesAt(t, u.addr), Options{Timeout: 2 * time.Second, Backends: []BackendOptions{
		{Service: "s0", Path: "/slow", Key: "slow"},
		{Service: "s0", Path: "/bad", Key: "bad"}}})
	x := exchange("/home")
	start := time.Now()
	p.Serve(x)
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("waited %v for the slow backend after the required one failed", d)
	}
	if st, _ := rejected(x); st != 502 {
		t.Errorf("status %d", st)
	}
	if !strings.Contains(string(x.LogExtra), `"key":"slow","ms":`) || !strings.Contains(string(x.LogExtra), `"error":"abandoned"`) {
		t.Errorf("log %s", x.LogExtra)
	}
}

// TestServeConcurrentReuse hammers one plan with early failures and slow
// stragglers so pooled states are reused while old calls still run (run it
// with -race).
func TestServeConcurrentReuse(t *testing.T) {
	u := startUpstream(t)
	u.set("/a", answer{body: `{"a":1}`})
	u.set("/slow", answer{body: `{"s":1}`, delay: 20 * time.Millisecond})
	u.set("/bad", answer{status: 503})
	p := mustCompile(t, servicesAt(t, u.addr), Options{Timeout: time.Second, Backends: []BackendOptions{
		{Service: "s0", Path: "/a", Key: "a"},
		{Service: "s0", Path: "/slow", Key: "slow", Optional: true},
		{Service: "s0", Path: "/{id}", Key: "c"}}}, "id")
	var wg sync.WaitGroup
	deadline := time.Now().Add(2 * time.Second)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 40 && time.Now().Before(deadline); i++ {
				x := exchange("/home")
				good := (g+i)%2 == 0
				if good {
					x.Params.Set("id", []byte("a"))
				} else {
					x.Params.Set("id", []byte("bad"))
				}
				p.Serve(x)
				st, _ := rejected(x)
				if good && (st != 0 || string(x.Ctx.Response.Body()) != `{"a":{"a":1},"slow":{"s":1},"c":{"a":1}}`) {
					t.Errorf("good: %d %s", st, x.Ctx.Response.Body())
					return
				}
				if !good && st != 502 {
					t.Errorf("bad: %d", st)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}
