package engine_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/internal/enginetest"
	"github.com/valyala/fasthttp"
)

// gateway is a running engine on 127.0.0.1 for end-to-end tests.
type gateway struct {
	engine *engine.Engine
	server *engine.Server
	url    string
	admin  string
}

// startGateway compiles cfg and serves it on loopback; it is shut down when
// the test ends.
func startGateway(t testing.TB, cfg string) *gateway {
	t.Helper()
	c, err := config.Parse([]byte(cfg))
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	e, errs := engine.Compile(c)
	if len(errs) > 0 {
		t.Fatalf("compile config: %v", errs)
	}
	srv, err := engine.NewServer(e)
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatalf("listen: %v", err)
	}
	if err := e.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	srv.Serve()
	g := &gateway{engine: e, server: srv, url: "http://" + srv.Addr().String()}
	if a := srv.AdminAddr(); a != nil {
		g.admin = "http://" + a.String()
	}
	t.Cleanup(func() {
		srv.Shutdown()
		e.Close()
	})
	return g
}

// compileErrors returns the messages Compile (or Parse) reports for cfg.
func compileErrors(t testing.TB, cfg string) []string {
	t.Helper()
	e, errs := engine.Load([]byte(cfg))
	if len(errs) == 0 {
		e.Close()
		return nil
	}
	return strings.Split(errs.Error(), "\n")
}

// echoed is what the echo upstream saw.
type echoed struct {
	Method   string            `json:"method"`
	URI      string            `json:"uri"`
	Host     string            `json:"host"`
	Headers  map[string]string `json:"headers"`
	Body     string            `json:"body"`
	ServedBy string            `json:"served_by"`
}

// upstream is the shared fake upstream (enginetest) answering with an echo
// of what it received, as JSON, and hop-by-hop headers the gateway must drop.
type upstream struct {
	*enginetest.Upstream
	addr string
	name string
}

func startUpstream(t testing.TB, name string) *upstream {
	t.Helper()
	u := &upstream{name: name}
	u.Upstream = enginetest.StartUpstream(t, u.handle)
	u.addr = u.Addr()
	return u
}

func (u *upstream) handle(ctx *fasthttp.RequestCtx) {
	e := echoed{
		Method: string(ctx.Method()), URI: string(ctx.RequestURI()), Host: string(ctx.Host()),
		Headers: map[string]string{}, Body: string(ctx.PostBody()), ServedBy: u.name,
	}
	ctx.Request.Header.VisitAll(func(k, v []byte) { e.Headers[strings.ToLower(string(k))] = string(v) })
	body, _ := json.Marshal(e)
	ctx.Response.Header.Set("X-Served-By", u.name)
	ctx.Response.Header.Set("Connection", "X-Up-Hop")
	ctx.Response.Header.Set("X-Up-Hop", "1")
	ctx.Response.Header.Set("Keep-Alive", "timeout=5")
	ctx.Response.Header.Set("Proxy-Foo", "1")
	ctx.Response.Header.Set("X-Up-Drop", "1")
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

// client is a plain net/http client with keep-alive and no redirects.
var client = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
}

// errorBody is the contract's error shape.
type errorBody struct {
	Error struct {
		Status    int    `json:"status"`
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

// wantError checks status, JSON content type and the error body's code.
func (r response) wantError(t testing.TB, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var e errorBody
	r.json(t, &e)
	if e.Error.Status != status || e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error body %s, want status %d code %q", r.body, status, code)
	}
	if e.Error.RequestID == "" || e.Error.RequestID != r.header.Get("X-Request-Id") {
		t.Fatalf("request_id %q does not match X-Request-Id %q", e.Error.RequestID, r.header.Get("X-Request-Id"))
	}
}

func do(t testing.TB, method, url string, header map[string]string, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func get(t testing.TB, url string) response { return do(t, "GET", url, nil, "") }

// rawRequest writes raw bytes to addr and returns everything read until the
// server closes or a second passes without data.
func rawRequest(t testing.TB, addr, data string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return string(out)
		}
	}
}

// closedAddr is a loopback address nobody listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func hostOf(url string) string { return strings.TrimPrefix(url, "http://") }

// cfgf formats a config template.
func cfgf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
