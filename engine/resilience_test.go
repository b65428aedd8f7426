package engine_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/internal/enginetest"
	"github.com/valyala/fasthttp"
)

// End-to-end resilience tests: health checks, circuit breaker fallback,
// retries, connection limits and /readyz through the whole gateway.

// resUpstream is the shared fake upstream (enginetest), answering "up:" and
// its address.
type resUpstream struct {
	*enginetest.Upstream
	addr string
}

func resStartUpstream(t testing.TB) *resUpstream {
	t.Helper()
	u := &resUpstream{}
	u.Upstream = enginetest.StartUpstream(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("up:" + u.addr) })
	u.addr = u.Addr()
	return u
}

type resGateway struct {
	url, admin string
}

// resStartGateway compiles cfg (services JSON and routes JSON) and serves it
// on loopback until the test ends.
func resStartGateway(t testing.TB, services, routes string) *resGateway {
	t.Helper()
	g := startGateway(t, `{"server": {"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0", "access_log": "off"},
		"services": `+services+`, "routes": `+routes+`}`)
	return &resGateway{url: g.url, admin: g.admin}
}

type resResponse struct {
	status int
	header http.Header
	body   string
}

var resClient = &http.Client{Timeout: 5 * time.Second}

func resDo(t testing.TB, method, url string) resResponse {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := resClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// resWantError checks a gateway error: status, JSON content type and code.
func resWantError(t testing.TB, r resResponse, status int, code string) {
	t.Helper()
	var e struct {
		Error struct {
			Status int    `json:"status"`
			Code   string `json:"code"`
		} `json:"error"`
	}
	if r.status != status || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q %s, want %d application/json", r.status, r.header.Get("Content-Type"), r.body, status)
	}
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error.Status != status || e.Error.Code != code {
		t.Fatalf("error body %s, want status %d code %q", r.body, status, code)
	}
}

// When every target's circuit is open the service answers its fallback,
// status and body verbatim, without calling the upstream; a service without
// a fallback answers 503 unavailable. sluice_circuit_state shows 1.
func TestResilienceCircuitFallback(t *testing.T) {
	u, v := resStartUpstream(t), resStartUpstream(t)
	u.Status.Store(500)
	v.Status.Store(500)
	g := resStartGateway(t, fmt.Sprintf(`{
		"catalog": {"targets": [%q], "retries": 0, "circuit_breaker": {"min_requests": 4, "failure_ratio": 0.5, "open_for": "10s",
			"fallback": {"status": 200, "body": {"message": "catalog unavailable", "items": []}}}},
		"plain": {"targets": [%q], "retries": 0, "circuit_breaker": {"min_requests": 4, "open_for": "10s"}}}`, u.addr, v.addr),
		`[{"name": "catalog", "path": "/catalog", "service": "catalog"}, {"name": "plain", "path": "/plain", "service": "plain"}]`)
	for i := 0; i < 4; i++ {
		if r := resDo(t, "GET", g.url+"/catalog"); r.status != 500 {
			t.Fatalf("request %d: %d, want the upstream's 500", i, r.status)
		}
		resDo(t, "GET", g.url+"/plain")
	}
	hits := u.Hits.Load()
	r := resDo(t, "GET", g.url+"/catalog")
	if r.status != 200 || r.body != `{"message": "catalog unavailable", "items": []}` || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("fallback: %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
	}
	if u.Hits.Load() != hits {
		t.Fatal("an open circuit called the upstream")
	}
	resWantError(t, resDo(t, "GET", g.url+"/plain"), 503, "unavailable")

	m := resDo(t, "GET", g.admin+"/metrics").body
	want := fmt.Sprintf(`sluice_circuit_state{service="catalog",target=%q} 1`, u.addr)
	if !strings.Contains(m, want) {
		t.Fatalf("metrics lack %s", want)
	}
}

// A service whose targets all fail their health checks answers 503 at once,
// without calling them; /readyz waits for the first round of checks.
func TestResilienceHealthChecksAndReadyz(t *testing.T) {
	u := resStartUpstream(t)
	u.Sick.Store(true)
	u.HealthDelay.Store(int64(300 * time.Millisecond))
	g := resStartGateway(t, fmt.Sprintf(`{"svc": {"targets": [%q],
		"health_check": {"path": "/health", "interval": "500ms", "timeout": "450ms", "healthy_after": 1, "unhealthy_after": 1}}}`, u.addr),
		`[{"name": "r", "path": "/r", "service": "svc"}]`)
	if r := resDo(t, "GET", g.admin+"/readyz"); r.status != 503 {
		t.Fatalf("/readyz before the first checks: %d, want 503", r.status)
	}
	deadline := time.Now().Add(2 * time.Second)
	for resDo(t, "GET", g.admin+"/readyz").status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("/readyz never turned 200")
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	resWantError(t, resDo(t, "GET", g.url+"/r"), 503, "unavailable")
	if u.Hits.Load() != 0 || time.Since(start) > 200*time.Millisecond {
		t.Fatalf("no healthy target: %d upstream hits after %v, want none, at once", u.Hits.Load(), time.Since(start))
	}
	// The target recovers: back in rotation after healthy_after passes.
	u.Sick.Store(false)
	u.HealthDelay.Store(0)
	deadline = time.Now().Add(3 * time.Second)
	for resDo(t, "GET", g.url+"/r").status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("recovered target never returned to rotation")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Idempotent requests are retried on another target when one refuses the
// connection; POST is not.
func TestResilienceRetryOnConnectError(t *testing.T) {
	u := resStartUpstream(t)
	dead := closedAddr(t)
	g := resStartGateway(t, fmt.Sprintf(`{"svc": {"targets": [%q, %q], "retries": 1}}`, dead, u.addr),
		`[{"name": "r", "path": "/r", "methods": ["GET", "POST"], "service": "svc"}]`)
	// Round robin starts on the dead target: a POST there fails 502, it is
	// not retried; the next POST lands on the live one.
	if r := resDo(t, "POST", g.url+"/r"); r.status != 502 {
		t.Fatalf("POST to the dead target: %d, want 502 (no retry)", r.status)
	}
	if r := resDo(t, "POST", g.url+"/r"); r.status != 200 {
		t.Fatalf("POST to the live target: %d", r.status)
	}
	// Every GET succeeds: those sent to the dead target are retried on the
	// live one, until the dead one is ejected.
	for i := 0; i < 10; i++ {
		if r := resDo(t, "GET", g.url+"/r"); r.status != 200 {
			t.Fatalf("GET %d: %d %s, want a retry on the live target", i, r.status, r.body)
		}
	}
	if n := u.Hits.Load(); n != 11 {
		t.Fatalf("live target saw %d requests, want 11", n)
	}
}

// With every connection to the target busy, the gateway answers 503 after a
// short wait instead of queueing.
func TestResilienceMaxConnsBusy(t *testing.T) {
	u := resStartUpstream(t)
	release := u.Hold()
	g := resStartGateway(t, fmt.Sprintf(`{"svc": {"targets": [%q], "timeout": "3s", "max_conns_per_target": 1}}`, u.addr),
		`[{"name": "r", "path": "/r", "service": "svc"}]`)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); resDo(t, "GET", g.url+"/r") }()
	for i := 0; u.Hits.Load() == 0 && i < 200; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	resWantError(t, resDo(t, "GET", g.url+"/r"), 503, "unavailable")
	if d := time.Since(start); d > time.Second {
		t.Errorf("busy answer took %v, want about 50ms", d)
	}
	release()
	wg.Wait()
}

// Bad resilience settings are config errors naming their JSON paths.
func TestResilienceConfigErrors(t *testing.T) {
	c, err := config.Parse([]byte(`{"services": {"catalog": {"targets": ["127.0.0.1:9"],
		"health_check": {"path": "healthz", "interval": "1s", "timeout": "2s", "healthy_after": -1},
		"circuit_breaker": {"failure_ratio": 1.5, "min_requests": -2, "fallback": {"status": 42}}}},
		"routes": [{"name": "r", "path": "/r", "service": "catalog"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, errs := engine.Compile(c)
	got := errs.Error()
	for _, want := range []string{
		`services.catalog.health_check.path: must start with "/"`,
		`services.catalog.health_check.healthy_after: must be at least 1`,
		`services.catalog.circuit_breaker.failure_ratio: must be within (0,1]`,
		`services.catalog.circuit_breaker.min_requests: must not be negative`,
		`services.catalog.circuit_breaker.fallback.status: must be between 200 and 599`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %q:\n%s", want, got)
		}
	}
}
