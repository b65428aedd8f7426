package engine_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/valyala/fasthttp"
)

// aggBackend is a real fasthttp server on 127.0.0.1 answering per path with
// a set body, status and delay, and recording each request it saw.
type aggBackend struct {
	addr string
	srv  *fasthttp.Server

	mu      sync.Mutex
	answers map[string]aggAnswer
	seen    map[string]aggSeen
	quiet   bool // do not record (benchmarks)
}

type aggAnswer struct {
	status int
	body   string
	delay  time.Duration
}

type aggSeen struct {
	method, uri string
	headers     map[string]string // lower-case names
}

func aggStartBackend(t testing.TB) *aggBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &aggBackend{addr: ln.Addr().String(), answers: map[string]aggAnswer{}, seen: map[string]aggSeen{}}
	b.srv = &fasthttp.Server{Handler: b.handle, DisableHeaderNamesNormalizing: true}
	go func() { _ = b.srv.Serve(ln) }()
	t.Cleanup(func() { _ = b.srv.Shutdown() })
	return b
}

func (b *aggBackend) set(path string, a aggAnswer) {
	b.mu.Lock()
	b.answers[path] = a
	b.mu.Unlock()
}

func (b *aggBackend) last(path string) (aggSeen, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.seen[path]
	return s, ok
}

func (b *aggBackend) handle(ctx *fasthttp.RequestCtx) {
	b.mu.Lock()
	a, ok := b.answers[string(ctx.Path())]
	if !ok {
		a = aggAnswer{status: 404, body: `{"error":"no such path"}`}
	}
	if !b.quiet {
		s := aggSeen{method: string(ctx.Method()), uri: string(ctx.RequestURI()), headers: map[string]string{}}
		for k, v := range ctx.Request.Header.All() {
			s.headers[strings.ToLower(string(k))] = string(v)
		}
		b.seen[string(ctx.Path())] = s
	}
	b.mu.Unlock()
	if a.delay > 0 {
		time.Sleep(a.delay)
	}
	if a.status != 0 {
		ctx.SetStatusCode(a.status)
	}
	ctx.SetContentType("application/json")
	ctx.SetBodyString(a.body)
}

// aggGateway compiles cfg and serves it on loopback until the test ends.
func aggGateway(t testing.TB, cfg string) (*engine.Engine, string) {
	t.Helper()
	g := startGateway(t, cfg)
	return g.engine, g.url
}

// aggCompileErrors returns the config's compile errors, one a string.
func aggCompileErrors(t testing.TB, cfg string) []string {
	t.Helper()
	c, err := config.Parse([]byte(cfg))
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	e, errs := engine.Compile(c)
	if len(errs) == 0 {
		e.Close()
		return nil
	}
	var out []string
	for _, err := range errs {
		out = append(out, err.Error())
	}
	return out
}

type aggResponse struct {
	status int
	header http.Header
	body   string
}

var aggClient = &http.Client{Timeout: 10 * time.Second}

func aggGet(t testing.TB, url string, headers ...string) aggResponse {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := aggClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return aggResponse{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// wantError checks the contract's error answer.
func (r aggResponse) wantError(t testing.TB, status int, code string) {
	t.Helper()
	var e struct {
		Error struct {
			Status int    `json:"status"`
			Code   string `json:"code"`
		} `json:"error"`
	}
	if r.status != status || r.header.Get("Content-Type") != "application/json" ||
		json.Unmarshal([]byte(r.body), &e) != nil || e.Error.Status != status || e.Error.Code != code {
		t.Fatalf("got %d %q %s, want %d %s", r.status, r.header.Get("Content-Type"), r.body, status, code)
	}
}

// aggConfig is a gateway config with services s0..sN on addrs, extra
// top-level members, and the given routes.
func aggConfig(addrs []string, extra, routes string) string {
	var svcs []string
	for i, a := range addrs {
		svcs = append(svcs, fmt.Sprintf(`"s%d": {"targets": [%q], "retries": 0}`, i, a))
	}
	if extra != "" {
		extra += ","
	}
	return `{"server": {"listen": "127.0.0.1:0", "access_log": "off"}, "services": {` + strings.Join(svcs, ",") + `}, ` +
		extra + `"routes": [` + routes + `]}`
}

func aggHome(t testing.TB) (addrs []string, bs []*aggBackend) {
	t.Helper()
	for i := 0; i < 3; i++ {
		b := aggStartBackend(t)
		bs = append(bs, b)
		addrs = append(addrs, b.addr)
	}
	bs[0].set("/users/42", aggAnswer{body: `{"id":42,"name":"Alice","email":"a@example.com","address":{"city":"Paris","zip":"75001"}}`})
	bs[1].set("/feed", aggAnswer{body: `[{"id":1,"title":"hello","raw":"x"},{"id":2,"title":"world","raw":"y"}]`})
	bs[2].set("/count", aggAnswer{body: `{"unread":3}`})
	return addrs, bs
}

const aggHomeRoute = `{"name": "home", "path": "/home/{id}", "aggregate": {"timeout": "2s", "backends": [
	{"service": "s0", "path": "/users/{id}", "key": "profile"},
	{"service": "s1", "path": "/feed?lang={query.lang}", "key": "feed"},
	{"service": "s2", "path": "/count", "key": "notifications"}]}}`

func TestAggregateMergesThree(t *testing.T) {
	addrs, bs := aggHome(t)
	_, url := aggGateway(t, aggConfig(addrs, "", aggHomeRoute))
	r := aggGet(t, url+"/home/42?lang=fr", "X-Request-Id: agg-req-1", "Accept-Encoding: gzip",
		"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	want := `{"profile":{"id":42,"name":"Alice","email":"a@example.com","address":{"city":"Paris","zip":"75001"}},` +
		`"feed":[{"id":1,"title":"hello","raw":"x"},{"id":2,"title":"world","raw":"y"}],"notifications":{"unread":3}}`
	if r.status != 200 || r.body != want {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if r.header.Get("X-Partial-Response") != "" {
		t.Error("X-Partial-Response on a full answer")
	}
	if r.header.Get("X-Request-Id") != "agg-req-1" {
		t.Errorf("X-Request-Id %q", r.header.Get("X-Request-Id"))
	}
	for i, path := range []string{"/users/42", "/feed", "/count"} {
		s, ok := bs[i].last(path)
		if !ok {
			t.Fatalf("backend %d not called", i)
		}
		if s.method != "GET" || s.headers["x-request-id"] != "agg-req-1" || s.headers["x-forwarded-for"] != "127.0.0.1" ||
			s.headers["x-forwarded-proto"] != "http" || s.headers["x-forwarded-host"] == "" || s.headers["host"] != addrs[i] {
			t.Errorf("backend %d saw %s %v", i, s.method, s.headers)
		}
		if tp := s.headers["traceparent"]; !strings.HasPrefix(tp, "00-0af7651916cd43dd8448eb211c80319c-") || tp == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" {
			t.Errorf("backend %d traceparent %q", i, tp)
		}
		if _, ok := s.headers["accept-encoding"]; ok {
			t.Errorf("backend %d got Accept-Encoding", i)
		}
	}
	if s, _ := bs[1].last("/feed"); s.uri != "/feed?lang=fr" {
		t.Errorf("feed uri %q", s.uri)
	}
	// A required template value missing from the request: 400, nothing called.
	aggGet(t, url+"/home/42").wantError(t, 400, "bad_request")
}

func TestAggregateQueryEncoding(t *testing.T) {
	b := aggStartBackend(t)
	b.set("/search/a b/c?d é", aggAnswer{body: `{"path":1}`})
	b.set("/q", aggAnswer{body: `{"query":1}`})
	_, url := aggGateway(t, aggConfig([]string{b.addr}, "", `{"name": "s", "path": "/s/{id}", "aggregate": {"backends": [
		{"service": "s0", "path": "/search/{query.q}", "key": "p"},
		{"service": "s0", "path": "/q?q={query.q}&id={id}", "key": "q"}]}}`))
	// q = "a b/c?d é"; id = "x y" (decoded by the router).
	r := aggGet(t, url+"/s/x%20y?q=a+b%2Fc%3Fd+%C3%A9")
	if r.status != 200 || r.body != `{"p":{"path":1},"q":{"query":1}}` {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	if s, _ := b.last("/search/a b/c?d é"); s.uri != "/search/a%20b%2Fc%3Fd%20%C3%A9" {
		t.Errorf("path template uri %q", s.uri)
	}
	if s, _ := b.last("/q"); s.uri != "/q?q=a%20b%2Fc%3Fd%20%C3%A9&id=x%20y" {
		t.Errorf("query template uri %q", s.uri)
	}
}

func TestAggregateClaims(t *testing.T) {
	const secret = "agg-test-secret-0123456789abcdef"
	b := aggStartBackend(t)
	b.set("/users/auth0|alice", aggAnswer{body: `{"name":"alice"}`})
	b.set("/tenants/acme", aggAnswer{body: `{"plan":"gold"}`})
	auth := `"auth": {"users": {"type": "jwt", "algorithms": ["HS256"], "secret": "` + secret + `",
		"issuer": "https://issuer.example", "audience": ["shop"], "forward_claims": {"sub": "X-User-Id"}}}`
	_, url := aggGateway(t, aggConfig([]string{b.addr}, auth, `{"name": "me", "path": "/me", "auth": "users", "aggregate": {"backends": [
		{"service": "s0", "path": "/users/{claim.sub}", "key": "profile"},
		{"service": "s0", "path": "/tenants/{claim.tenant}", "key": "tenant", "optional": true}]}}`))

	token := func(claims map[string]any) string {
		now := time.Now().Unix()
		c := map[string]any{"iss": "https://issuer.example", "aud": "shop", "iat": now, "exp": now + 600}
		for k, v := range claims {
			c[k] = v
		}
		payload, _ := json.Marshal(c)
		tok, err := jws.Sign(payload, jws.WithKey(jwa.HS256(), []byte(secret)))
		if err != nil {
			t.Fatal(err)
		}
		return "Authorization: Bearer " + string(tok)
	}
	r := aggGet(t, url+"/me", token(map[string]any{"sub": "auth0|alice", "tenant": "acme"}), "X-User-Id: forged")
	if r.status != 200 || r.body != `{"profile":{"name":"alice"},"tenant":{"plan":"gold"}}` {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	s, _ := b.last("/users/auth0|alice")
	if s.uri != "/users/auth0%7Calice" || s.headers["x-user-id"] != "auth0|alice" {
		t.Errorf("backend saw %s with X-User-Id %q", s.uri, s.headers["x-user-id"])
	}
	if s, _ := b.last("/tenants/acme"); s.headers["x-user-id"] != "auth0|alice" {
		t.Errorf("optional backend X-User-Id %q", s.headers["x-user-id"])
	}
	// No tenant claim: the optional backend is dropped.
	r = aggGet(t, url+"/me", token(map[string]any{"sub": "auth0|alice"}))
	if r.status != 200 || r.body != `{"profile":{"name":"alice"}}` || r.header.Get("X-Partial-Response") != "true" {
		t.Fatalf("got %d %s partial=%q", r.status, r.body, r.header.Get("X-Partial-Response"))
	}
	// No sub claim: the required backend cannot be called.
	aggGet(t, url+"/me", token(map[string]any{"tenant": "acme"})).wantError(t, 400, "bad_request")
	// No token: auth rejects before any backend.
	aggGet(t, url+"/me").wantError(t, 401, "unauthorized")
}

func TestAggregateAllow(t *testing.T) {
	addrs, _ := aggHome(t)
	_, url := aggGateway(t, aggConfig(addrs, "", `{"name": "home", "path": "/home/{id}", "aggregate": {"backends": [
		{"service": "s0", "path": "/users/{id}", "key": "profile", "allow": ["name", "address.city"]},
		{"service": "s1", "path": "/feed", "key": "feed", "allow": ["id", "title"]}]}}`))
	r := aggGet(t, url+"/home/42")
	want := `{"profile":{"name":"Alice","address":{"city":"Paris"}},"feed":[{"id":1,"title":"hello"},{"id":2,"title":"world"}]}`
	if r.status != 200 || r.body != want {
		t.Fatalf("got %d %s", r.status, r.body)
	}
}

func TestAggregateOptionalFailures(t *testing.T) {
	addrs, bs := aggHome(t)
	bs[1].set("/slow", aggAnswer{body: `[]`, delay: 400 * time.Millisecond})
	bs[1].set("/html", aggAnswer{body: `<html>`})
	down := closedAddr(t)
	_, url := aggGateway(t, aggConfig(append(addrs, down), "", `{"name": "home", "path": "/home/{id}", "aggregate": {"timeout": "200ms", "backends": [
		{"service": "s0", "path": "/users/{id}", "key": "profile", "allow": ["name"]},
		{"service": "s1", "path": "/slow", "key": "slow", "optional": true},
		{"service": "s3", "path": "/count", "key": "down", "optional": true},
		{"service": "s1", "path": "/html", "key": "html", "optional": true},
		{"service": "s2", "path": "/count", "key": "notifications", "optional": true}]}}`))
	start := time.Now()
	r := aggGet(t, url+"/home/42")
	if d := time.Since(start); d > 350*time.Millisecond {
		t.Errorf("took %v with a 200ms aggregate timeout", d)
	}
	if r.status != 200 || r.body != `{"profile":{"name":"Alice"},"notifications":{"unread":3}}` {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	if r.header.Get("X-Partial-Response") != "true" {
		t.Error("no X-Partial-Response")
	}
}

func TestAggregateRequiredFailures(t *testing.T) {
	addrs, bs := aggHome(t)
	bs[1].set("/slow", aggAnswer{body: `[]`, delay: 300 * time.Millisecond})
	bs[1].set("/500", aggAnswer{status: 500, body: `{}`})
	down := closedAddr(t)
	_, url := aggGateway(t, aggConfig(append(addrs, down), "", `
		{"name": "down", "path": "/down", "aggregate": {"timeout": "1s", "backends": [
			{"service": "s2", "path": "/count", "key": "n"}, {"service": "s3", "path": "/x", "key": "x"}]}},
		{"name": "slow", "path": "/slow", "aggregate": {"timeout": "100ms", "backends": [
			{"service": "s2", "path": "/count", "key": "n"}, {"service": "s1", "path": "/slow", "key": "x"}]}},
		{"name": "err", "path": "/err", "aggregate": {"backends": [
			{"service": "s2", "path": "/count", "key": "n"}, {"service": "s1", "path": "/500", "key": "x"}]}},
		{"name": "early", "path": "/early", "aggregate": {"timeout": "2s", "backends": [
			{"service": "s1", "path": "/slow", "key": "slow"}, {"service": "s3", "path": "/x", "key": "x"}]}}`))
	aggGet(t, url+"/down").wantError(t, 502, "bad_gateway")
	start := time.Now()
	aggGet(t, url+"/slow").wantError(t, 504, "upstream_timeout")
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("504 after %v with a 100ms timeout", d)
	}
	aggGet(t, url+"/err").wantError(t, 502, "bad_gateway")
	// A required backend that fails at once does not wait for the slow one.
	start = time.Now()
	aggGet(t, url+"/early").wantError(t, 502, "bad_gateway")
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("early failure answered after %v", d)
	}
}

func TestAggregateIsParallel(t *testing.T) {
	addrs, bs := aggHome(t)
	for i, p := range []string{"/users/42", "/feed", "/count"} {
		bs[i].set(p, aggAnswer{body: `{}`, delay: 100 * time.Millisecond})
	}
	_, url := aggGateway(t, aggConfig(addrs, "", aggHomeRoute))
	aggGet(t, url+"/home/42?lang=en") // warm the connections
	best := time.Hour
	for i := 0; i < 3; i++ {
		start := time.Now()
		r := aggGet(t, url+"/home/42?lang=en")
		d := time.Since(start)
		if r.status != 200 {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		best = min(best, d)
	}
	t.Logf("three 100ms backends answered in %v", best)
	if best < 100*time.Millisecond || best > 170*time.Millisecond {
		t.Fatalf("three 100ms backends took %v: not parallel", best)
	}
}

func TestAggregateAccessLog(t *testing.T) {
	addrs, _ := aggHome(t)
	logPath := filepath.Join(t.TempDir(), "access.log")
	cfg := strings.Replace(aggConfig(addrs, "", aggHomeRoute), `"access_log": "off"`, `"access_log": "`+logPath+`"`, 1)
	_, url := aggGateway(t, cfg)
	if r := aggGet(t, url+"/home/42?lang=de"); r.status != 200 {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	// The log is flushed every 100ms; wait for the line (bounded).
	var data []byte
	for deadline := time.Now().Add(3 * time.Second); len(data) == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		data, _ = os.ReadFile(logPath)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	if !sc.Scan() {
		t.Fatal("empty access log")
	}
	var line struct {
		Route    string `json:"route"`
		Backends []struct {
			Key    string  `json:"key"`
			Status int     `json:"status"`
			MS     float64 `json:"ms"`
			Target string  `json:"target"`
		} `json:"backends"`
	}
	if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
		t.Fatalf("log line %s: %v", sc.Bytes(), err)
	}
	if line.Route != "home" || len(line.Backends) != 3 || line.Backends[0].Key != "profile" ||
		line.Backends[2].Status != 200 || line.Backends[2].Target != addrs[2] {
		t.Errorf("log line %s", sc.Bytes())
	}
}

func TestAggregateConfigErrors(t *testing.T) {
	cfg := aggConfig([]string{"127.0.0.1:1"}, "", `{"name": "ok", "path": "/ok", "service": "s0"},
		{"name": "home", "path": "/home/{id}", "aggregate": {"timeout": "100ms", "backends": [
			{"service": "s0", "path": "/u/{sku}", "key": "a"},
			{"service": "x", "path": "/u", "key": "a", "timeout": "1s"},
			{"service": "s0", "path": "u"}]}}`)
	got := strings.Join(aggCompileErrors(t, cfg), "\n")
	for _, want := range []string{
		`routes[1].aggregate.backends[0].path: unknown path parameter {sku}`,
		`routes[1].aggregate.backends[1].service: unknown service "x"`,
		`routes[1].aggregate.backends[1].key: duplicate key "a" (also backends[0])`,
		`routes[1].aggregate.backends[1].timeout: 1s exceeds the aggregate timeout (100ms)`,
		`routes[1].aggregate.backends[2].path: must start with '/'`,
		`routes[1].aggregate.backends[2].key: required`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing error %q in:\n%s", want, got)
		}
	}
}
