package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"
)

// start runs an upstream on 127.0.0.1:0 and returns its base URL.
func start(t *testing.T, opts Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, ln, opts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return "http://" + ln.Addr().String()
}

var client = &http.Client{Timeout: 5 * time.Second}

func do(t *testing.T, method, url, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %q: %v", b, err)
	}
	return m
}

func TestEndpoints(t *testing.T) {
	base := start(t, Options{Name: "catalog-1"})

	cases := []struct {
		method, path, body string
		status             int
		want               map[string]any
	}{
		{"GET", "/catalog/abc", "", 200, map[string]any{"sku": "abc", "name": "Product abc", "served_by": "catalog-1"}},
		{"GET", "/products/x1", "", 200, map[string]any{"sku": "x1", "served_by": "catalog-1"}},
		{"GET", "/cart/7", "", 200, map[string]any{"id": "7", "served_by": "catalog-1"}},
		{"POST", "/cart/8", `[{"sku":"a","qty":2}]`, 200, map[string]any{"id": "8"}},
		{"GET", "/cart", "", 200, map[string]any{"id": "default"}},
		{"POST", "/checkout", `{"cart":"8"}`, 201, map[string]any{"status": "created", "request": map[string]any{"cart": "8"}}},
		{"POST", "/checkout", `{bad`, 400, nil},
		{"GET", "/checkout", "", 405, nil},
		{"GET", "/users/u1", "", 200, map[string]any{"id": "u1", "email": "u1@example.com", "served_by": "catalog-1"}},
		{"GET", "/notifications/count", "", 200, map[string]any{"count": float64(3)}},
		{"GET", "/status/418", "", 418, map[string]any{"status": float64(418)}},
		{"GET", "/status/abc", "", 400, nil},
		{"GET", "/slow?ms=20", "", 200, map[string]any{"slept_ms": float64(20)}},
		{"GET", "/nope", "", 404, nil},
	}
	for _, c := range cases {
		resp, body := do(t, c.method, base+c.path, c.body)
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: status %d, want %d (%s)", c.method, c.path, resp.StatusCode, c.status, body)
			continue
		}
		if got := resp.Header.Get("X-Served-By"); got != "catalog-1" {
			t.Errorf("%s %s: X-Served-By %q", c.method, c.path, got)
		}
		if c.want == nil {
			continue
		}
		m := decode(t, body)
		for k, v := range c.want {
			gotJSON, _ := json.Marshal(m[k])
			wantJSON, _ := json.Marshal(v)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("%s %s: %s = %s, want %s", c.method, c.path, k, gotJSON, wantJSON)
			}
		}
	}

	// A posted cart is remembered.
	_, body := do(t, "GET", base+"/cart/8", "")
	if !strings.Contains(string(body), `"sku":"a"`) {
		t.Errorf("cart 8 not stored: %s", body)
	}
	// The feed is a JSON array.
	_, body = do(t, "GET", base+"/feed", "")
	var feed []map[string]any
	if err := json.Unmarshal(body, &feed); err != nil || len(feed) != 3 {
		t.Errorf("feed: %s (%v)", body, err)
	}
	// Health is plain "ok".
	resp, body := do(t, "GET", base+"/healthz", "")
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Errorf("healthz: %d %q", resp.StatusCode, body)
	}
	// 204 has no body; header= query sets response headers.
	resp, body = do(t, "GET", base+"/status/204?header=Cache-Control:max-age=5", "")
	if resp.StatusCode != 204 || len(body) != 0 || resp.Header.Get("Cache-Control") != "max-age=5" {
		t.Errorf("status 204: %d %q %q", resp.StatusCode, body, resp.Header.Get("Cache-Control"))
	}
}

func TestEcho(t *testing.T) {
	base := start(t, Options{Name: "echo-1"})
	resp, body := do(t, "PATCH", base+"/echo/a%20b/c?x=1&y=2", "hello", "X-Trace", "t1", "Content-Type", "text/plain")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var got struct {
		Method, Path, Host, Body string
		ServedBy                 string `json:"served_by"`
		Headers                  map[string]string
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Method != "PATCH" || got.Path != "/echo/a%20b/c?x=1&y=2" || got.Body != "hello" || got.ServedBy != "echo-1" {
		t.Errorf("echo: %+v", got)
	}
	if got.Host != strings.TrimPrefix(base, "http://") || got.Headers["X-Trace"] != "t1" || got.Headers["Content-Type"] != "text/plain" {
		t.Errorf("echo host/headers: %q %v", got.Host, got.Headers)
	}
}

func TestLatencyAndErrorRate(t *testing.T) {
	base := start(t, Options{Name: "flaky", Latency: 30 * time.Millisecond, ErrorRate: 1})
	t0 := time.Now()
	resp, _ := do(t, "GET", base+"/catalog/a", "")
	if resp.StatusCode != 500 || time.Since(t0) < 30*time.Millisecond {
		t.Errorf("status %d after %v, want 500 after >= 30ms", resp.StatusCode, time.Since(t0))
	}
	// Health checks are exempt from injected failures.
	if resp, _ := do(t, "GET", base+"/healthz", ""); resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
}

func TestStream(t *testing.T) {
	base := start(t, Options{Name: "s"})
	resp, err := client.Get(base + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("content type %q, transfer encoding %v", ct, resp.TransferEncoding)
	}
	sc := bufio.NewScanner(resp.Body)
	var arrivals []time.Time
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			arrivals = append(arrivals, time.Now())
		}
	}
	if len(arrivals) != streamEvents {
		t.Fatalf("%d events, want %d", len(arrivals), streamEvents)
	}
	// Events arrive spread out (flushed one by one), not all at the end.
	if spread := arrivals[len(arrivals)-1].Sub(arrivals[0]); spread < 150*time.Millisecond {
		t.Errorf("events arrived within %v; not flushed individually", spread)
	}
}
