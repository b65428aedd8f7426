package engine_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/grpcgw/grpctest"
)

// grpcProtoset writes the catalog descriptor set to a temporary file.
func grpcProtoset(t testing.TB) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "catalog.protoset")
	if err := os.WriteFile(name, grpctest.CatalogProtoset(), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// grpcConfig is a gateway with a grpc service on targets and routes to
// GetProduct by GET and POST.
func grpcConfig(protoset, timeout string, targets ...string) string {
	return cfgf(`{
  "server": {"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"catalog": {"protocol": "grpc", "descriptor_set": %q, "timeout": %q, "targets": [%s]}},
  "routes": [
    {"name": "grpc-product", "path": "/grpc/products/{sku}", "methods": ["GET", "POST"], "service": "catalog",
     "grpc_method": "catalog.v1.Catalog/GetProduct"}
  ]
}`, protoset, timeout, `"`+strings.Join(targets, `","`)+`"`)
}

// grpcProduct is the JSON answer of GetProduct.
type grpcProduct struct {
	SKU   string `json:"sku"`
	Name  string `json:"name"`
	Stock string `json:"stock"`
	Echo  struct {
		SKU          string   `json:"sku"`
		Locale       string   `json:"locale"`
		PageSize     int      `json:"pageSize"`
		IncludeStock bool     `json:"includeStock"`
		Tags         []string `json:"tags"`
		Color        string   `json:"color"`
		Filter       struct {
			MinPrice float64  `json:"minPrice"`
			Tags     []string `json:"tags"`
		} `json:"filter"`
	} `json:"echo"`
	Metadata map[string]string `json:"metadata"`
}

func TestGRPCRequestMapping(t *testing.T) {
	srv := grpctest.Start(t)
	g := startGateway(t, grpcConfig(grpcProtoset(t), "2s", srv.Addr))

	body := `{"sku": "from-body", "page_size": 5, "includeStock": true, "tags": ["b1"], "filter": {"tags": ["ft"]}, "locale": "en"}`
	r := do(t, "POST", g.url+"/grpc/products/abc-1?locale=de&tags=q1&tags=q2&filter.min_price=2.5&color=RED&ignored=1", map[string]string{
		"X-Request-Id": "grpc-req-1",
		"traceparent":  "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"Content-Type": "application/json",
	}, body)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	var p grpcProduct
	r.json(t, &p)
	e := p.Echo
	switch {
	case p.SKU != "abc-1" || e.SKU != "abc-1":
		t.Errorf("sku %q/%q: the path parameter must win over the body", p.SKU, e.SKU)
	case p.Name != "Product abc-1" || p.Stock != "7":
		t.Errorf("name %q stock %q", p.Name, p.Stock)
	case e.Locale != "de":
		t.Errorf("locale %q: the query must win over the body", e.Locale)
	case e.PageSize != 5 || !e.IncludeStock:
		t.Errorf("body fields lost: %+v", e)
	case strings.Join(e.Tags, ",") != "q1,q2":
		t.Errorf("tags %v: query values replace the body's list", e.Tags)
	case e.Filter.MinPrice != 2.5 || strings.Join(e.Filter.Tags, ",") != "ft":
		t.Errorf("filter %+v: dotted query name merges into the body's message", e.Filter)
	case e.Color != "RED":
		t.Errorf("color %q", e.Color)
	}
	if got := p.Metadata["x-request-id"]; got != "grpc-req-1" {
		t.Errorf("x-request-id metadata %q (metadata %v)", got, p.Metadata)
	}
	if tp := p.Metadata["traceparent"]; !strings.HasPrefix(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-") {
		t.Errorf("traceparent metadata %q keeps the trace id", tp)
	}
	if p.Metadata["x-forwarded-for"] == "" {
		t.Errorf("x-forwarded-for not forwarded: %v", p.Metadata)
	}

	// GET without a body: path and query only; unpopulated fields are present.
	r = get(t, g.url+"/grpc/products/plain?page_size=3")
	if r.status != 200 {
		t.Fatalf("GET status %d: %s", r.status, r.body)
	}
	var raw map[string]any
	r.json(t, &raw)
	echo, _ := raw["echo"].(map[string]any)
	if echo["sku"] != "plain" || echo["pageSize"] != float64(3) || echo["locale"] != "" || raw["stock"] != "0" {
		t.Errorf("GET answer %s", r.body)
	}
}

func TestGRPCStatusMapping(t *testing.T) {
	srv := grpctest.Start(t)
	g := startGateway(t, grpcConfig(grpcProtoset(t), "300ms", srv.Addr))
	for _, c := range []struct {
		sku    string
		status int
		code   string
	}{
		{"missing", 404, "not_found"},
		{"bad", 400, "bad_request"},
		{"anon", 401, "unauthorized"},
		{"denied", 403, "forbidden"},
		{"busy", 429, "rate_limited"},
		{"down", 503, "unavailable"},
		{"boom", 502, "bad_gateway"},
	} {
		r := get(t, g.url+"/grpc/products/"+c.sku)
		r.wantError(t, c.status, c.code)
		if c.status == 429 && r.header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
	}

	start := time.Now()
	get(t, g.url+"/grpc/products/slow?delay_ms=5000").wantError(t, 504, "upstream_timeout")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout answered after %v, want about 300ms", d)
	}
}

func TestGRPCBadRequestNeverCallsUpstream(t *testing.T) {
	srv := grpctest.Start(t)
	g := startGateway(t, grpcConfig(grpcProtoset(t), "2s", srv.Addr))
	for name, c := range map[string]struct{ url, body string }{
		"malformed JSON":     {"/grpc/products/a", `{"sku": `},
		"unknown body field": {"/grpc/products/a", `{"nope": 1}`},
		"wrong body type":    {"/grpc/products/a", `{"page_size": "many"}`},
		"bad query integer":  {"/grpc/products/a?page_size=lots", ``},
		"bad query enum":     {"/grpc/products/a?color=PURPLE", ``},
		"bad query bool":     {"/grpc/products/a?include_stock=maybe", ``},
	} {
		t.Run(name, func(t *testing.T) {
			do(t, "POST", g.url+c.url, nil, c.body).wantError(t, 400, "bad_request")
		})
	}
	if n := srv.Calls.Load(); n != 0 {
		t.Errorf("upstream received %d calls for bad requests", n)
	}
}

func TestGRPCUpstreamDown(t *testing.T) {
	g := startGateway(t, grpcConfig(grpcProtoset(t), "2s", closedAddr(t)))
	for range 3 { // the first call connects, later ones see a failed channel
		get(t, g.url+"/grpc/products/a").wantError(t, 502, "bad_gateway")
	}
}

func TestGRPCBalancesAndSkipsDeadTargets(t *testing.T) {
	a, b := grpctest.Start(t), grpctest.Start(t)
	g := startGateway(t, grpcConfig(grpcProtoset(t), "2s", a.Addr, closedAddr(t), b.Addr))
	for i := range 30 {
		if r := get(t, g.url+"/grpc/products/a"); r.status != 200 {
			t.Fatalf("request %d: status %d: %s", i, r.status, r.body)
		}
	}
	if a.Calls.Load() < 5 || b.Calls.Load() < 5 {
		t.Errorf("calls a=%d b=%d, want both targets used", a.Calls.Load(), b.Calls.Load())
	}
}

func TestGRPCMetrics(t *testing.T) {
	srv := grpctest.Start(t)
	g := startGateway(t, grpcConfig(grpcProtoset(t), "2s", srv.Addr))
	get(t, g.url+"/grpc/products/a")
	get(t, g.url+"/grpc/products/missing")
	m := string(get(t, g.admin+"/metrics").body)
	for _, want := range []string{
		`sluice_upstream_requests_total{service="catalog",target="` + srv.Addr + `",status="200"}`,
		`sluice_upstream_requests_total{service="catalog",target="` + srv.Addr + `",status="404"}`,
		`sluice_requests_total{route="grpc-product",status="404"}`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestGRPCConfigErrors(t *testing.T) {
	protoset := grpcProtoset(t)
	garbage := filepath.Join(t.TempDir(), "garbage.protoset")
	if err := os.WriteFile(garbage, []byte("\xff\xff\xff not protobuf"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := func(service, route string) string {
		return `{"services": {"catalog": ` + service + `, "web": {"targets": ["127.0.0.1:1"]}}, "routes": [` + route + `]}`
	}
	grpcSvc := `{"protocol": "grpc", "descriptor_set": "` + protoset + `", "targets": ["127.0.0.1:1"]}`
	route := func(method string) string {
		return `{"name": "r", "path": "/p/{sku}", "service": "catalog", "grpc_method": "` + method + `"}`
	}
	for name, c := range map[string]struct{ cfg, want string }{
		"no descriptor_set": {cfg(`{"protocol": "grpc", "targets": ["127.0.0.1:1"]}`, route(grpctest.GetProduct)),
			`services.catalog.descriptor_set: required`},
		"missing file": {cfg(`{"protocol": "grpc", "descriptor_set": "/nonexistent/x.protoset", "targets": ["127.0.0.1:1"]}`, route(grpctest.GetProduct)),
			`services.catalog.descriptor_set: open /nonexistent/x.protoset`},
		"not a descriptor set": {cfg(`{"protocol": "grpc", "descriptor_set": "`+garbage+`", "targets": ["127.0.0.1:1"]}`, route(grpctest.GetProduct)),
			`services.catalog.descriptor_set: not a serialized google.protobuf.FileDescriptorSet`},
		"unknown method": {cfg(grpcSvc, route("catalog.v1.Catalog/Nope")),
			`routes[0].grpc_method: unknown method "catalog.v1.Catalog/Nope"`},
		"unknown service in set": {cfg(grpcSvc, route("shop.Cart/Get")),
			`routes[0].grpc_method: unknown method "shop.Cart/Get"`},
		"malformed method": {cfg(grpcSvc, route("GetProduct")),
			`routes[0].grpc_method: want "package.Service/Method"`},
		"streaming method": {cfg(grpcSvc, route(grpctest.WatchProducts)),
			`routes[0].grpc_method: method "catalog.v1.Catalog/WatchProducts" is streaming`},
		"not a grpc service": {cfg(grpcSvc, `{"name": "r", "path": "/p", "service": "web", "grpc_method": "`+grpctest.GetProduct+`"}`),
			`routes[0].grpc_method: service "web" is not a grpc service`},
		"unknown route service": {cfg(grpcSvc, `{"name": "r", "path": "/p", "service": "nope", "grpc_method": "`+grpctest.GetProduct+`"}`),
			`routes[0].service: unknown service "nope"`},
		"cached pass-through route": {cfg(grpcSvc, `{"name": "r", "path": "/p", "service": "catalog", "cache": {"ttl": "1s"}}`),
			`routes[0].cache: not for a gRPC pass-through route`},
		"pass-through with json_body": {cfg(grpcSvc, `{"name": "r", "path": "/p", "service": "catalog", "validate": {"json_body": true}}`),
			`routes[0].validate: json_body and json_schema_file do not apply`},
	} {
		t.Run(name, func(t *testing.T) {
			errs := compileErrors(t, c.cfg)
			for _, e := range errs {
				if strings.HasPrefix(e, c.want) {
					return
				}
			}
			t.Errorf("errors %q lack %q", errs, c.want)
		})
	}

	// A valid grpc config compiles (params may use the JSON name, or name no
	// field at all); the resilience keys of HTTP services are accepted.
	resilient := `{"protocol": "grpc", "descriptor_set": "` + protoset + `", "targets": ["127.0.0.1:1"],
		"health_check": {"path": "/healthz"}, "circuit_breaker": {"window": "10s"}}`
	ok := cfg(resilient, `{"name": "r", "path": "/p/{tenant}/{pageSize}/{sku}", "service": "catalog", "grpc_method": "/`+grpctest.GetProduct+`"}`)
	if errs := compileErrors(t, ok); errs != nil {
		t.Errorf("valid config: %q", errs)
	}

	// The contract's example shows descriptor_set on a service that may
	// speak http: it is accepted (and unused) there, not an error.
	httpWithSet := cfg(`{"protocol": "http", "descriptor_set": "`+protoset+`", "targets": ["127.0.0.1:1"]}`, `{"name": "r", "path": "/p", "service": "catalog"}`)
	if errs := compileErrors(t, httpWithSet); errs != nil {
		t.Errorf("descriptor_set on an http service: %q", errs)
	}
}

// BenchmarkGRPC is one unary call end to end in one process: in-memory
// client connection → engine → loopback gRPC server (whose own work is
// included in the figures).
func BenchmarkGRPC(b *testing.B) {
	srv := grpctest.Start(b)
	c := benchGateway(b, grpcConfig(grpcProtoset(b), "2s", srv.Addr))
	runProxyBench(b, c, "http://gateway/grpc/products/abc?include_stock=true&page_size=10", map[string]string{"X-Client": "bench"})
}

// A body over the engine's streaming threshold is read whole for the message.
func TestGRPCLargeBody(t *testing.T) {
	srv := grpctest.Start(t)
	g := startGateway(t, grpcConfig(grpcProtoset(t), "2s", srv.Addr))
	tag := strings.Repeat("t", 1000)
	tags := strings.TrimSuffix(strings.Repeat(`"`+tag+`",`, 100), ",")
	r := do(t, "POST", g.url+"/grpc/products/big", nil, `{"tags": [`+tags+`]}`)
	if r.status != 200 {
		t.Fatalf("status %d: %.300s", r.status, r.body)
	}
	var p grpcProduct
	r.json(t, &p)
	if len(p.Echo.Tags) != 100 || p.Echo.Tags[99] != tag {
		t.Errorf("echoed %d tags", len(p.Echo.Tags))
	}
}

// grpcToken mints an HS256 JWT for sub.
func grpcToken(secret, sub string) string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims := enc.EncodeToString([]byte(fmt.Sprintf(`{"sub":%q,"exp":%d}`, sub, time.Now().Add(time.Hour).Unix())))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(head + "." + claims))
	return head + "." + claims + "." + enc.EncodeToString(mac.Sum(nil))
}

// forward_claims headers reach the gRPC server as metadata on routes with
// auth; a client's own copy never does.
func TestGRPCForwardsClaims(t *testing.T) {
	const secret = "grpc-test-secret-0123456789abcdef"
	srv := grpctest.Start(t)
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"catalog": {"protocol": "grpc", "descriptor_set": %q, "targets": [%q]}},
  "auth": {"users": {"type": "jwt", "algorithms": ["HS256"], "secret": %q, "forward_claims": {"sub": "X-User-Id"}}},
  "routes": [
    {"name": "authed", "path": "/me/{sku}", "service": "catalog", "auth": "users", "grpc_method": %q},
    {"name": "open", "path": "/open/{sku}", "service": "catalog", "grpc_method": %q}
  ]
}`, grpcProtoset(t), srv.Addr, secret, grpctest.GetProduct, grpctest.GetProduct))

	var p grpcProduct
	r := do(t, "GET", g.url+"/me/a", map[string]string{"Authorization": "Bearer " + grpcToken(secret, "alice"), "X-User-Id": "mallory"}, "")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	r.json(t, &p)
	if got := p.Metadata["x-user-id"]; got != "alice" {
		t.Errorf("x-user-id %q, want alice", got)
	}
	do(t, "GET", g.url+"/me/a", nil, "").wantError(t, 401, "unauthorized")

	p = grpcProduct{}
	r = do(t, "GET", g.url+"/open/a", map[string]string{"X-User-Id": "mallory"}, "")
	r.json(t, &p)
	if got, ok := p.Metadata["x-user-id"]; ok {
		t.Errorf("client's X-User-Id forwarded on a route without auth: %q", got)
	}
}

// A cached grpc route answers repeats from memory.
func TestGRPCCachedRoute(t *testing.T) {
	srv := grpctest.Start(t)
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"catalog": {"protocol": "grpc", "descriptor_set": %q, "targets": [%q]}},
  "routes": [{"name": "cached", "path": "/c/{sku}", "service": "catalog", "grpc_method": %q, "cache": {"ttl": "1m"}}]
}`, grpcProtoset(t), srv.Addr, grpctest.GetProduct))
	for i, want := range []string{"MISS", "HIT"} {
		r := get(t, g.url+"/c/a")
		if r.status != 200 || r.header.Get("X-Cache") != want || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("request %d: %d X-Cache %q type %q", i, r.status, r.header.Get("X-Cache"), r.header.Get("Content-Type"))
		}
	}
	if n := srv.Calls.Load(); n != 1 {
		t.Errorf("upstream calls %d, want 1", n)
	}
}

// TestGRPCCircuitBreakerFallback: gRPC targets share the upstream package's
// circuit breaker: failures open the circuit, the service then answers its
// fallback verbatim without calling the target, and the gauge says open.
func TestGRPCCircuitBreakerFallback(t *testing.T) {
	srv := grpctest.Start(t)
	cfg := strings.Replace(grpcConfig(grpcProtoset(t), "2s", srv.Addr), `"timeout": "2s",`,
		`"timeout": "2s", "circuit_breaker": {"window": "10s", "min_requests": 4, "failure_ratio": 0.5, "open_for": "2s",
		 "fallback": {"status": 503, "body": {"message": "catalog unavailable"}}},`, 1)
	g := startGateway(t, cfg)
	if r := get(t, g.url+"/grpc/products/abc"); r.status != 200 {
		t.Fatalf("healthy call: %d %s", r.status, r.body)
	}
	for i := 0; i < 4; i++ {
		get(t, g.url+"/grpc/products/boom") // INTERNAL: a 502 and a failure
	}
	r := get(t, g.url+"/grpc/products/abc")
	if r.status != 503 || string(r.body) != `{"message": "catalog unavailable"}` {
		t.Fatalf("open circuit answered %d %s, want the fallback", r.status, r.body)
	}
	metrics := string(get(t, g.admin+"/metrics").body)
	if !strings.Contains(metrics, `sluice_circuit_state{service="catalog",target="`+srv.Addr+`"} 1`) {
		t.Errorf("circuit gauge not open:\n%s", grepLines(metrics, "sluice_circuit_state"))
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestGRPCHealthChecks: health_check on a grpc service probes the standard
// gRPC health service; a NOT_SERVING target leaves rotation (503 at once, no
// call) and comes back when it serves again.
func TestGRPCHealthChecks(t *testing.T) {
	srv := grpctest.Start(t)
	cfg := strings.Replace(grpcConfig(grpcProtoset(t), "2s", srv.Addr), `"timeout": "2s",`,
		`"timeout": "2s", "health_check": {"interval": "50ms", "timeout": "50ms", "healthy_after": 1, "unhealthy_after": 1},`, 1)
	g := startGateway(t, cfg)
	waitStatus := func(want int) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			r := get(t, g.url+"/grpc/products/abc")
			if r.status == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("status %d (%s), want %d", r.status, r.body, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitStatus(200)
	srv.SetServing(false)
	waitStatus(503)
	if r := get(t, g.url+"/grpc/products/abc"); r.status != 503 || !strings.Contains(string(r.body), `"unavailable"`) {
		t.Errorf("unhealthy target: %d %s", r.status, r.body)
	}
	srv.SetServing(true)
	waitStatus(200)
}

// TestGRPCServiceCompiledOnce: a grpc service's settings follow the same
// rules as any service's and each problem is reported once, under its JSON
// path: a negative retries is refused (it used to be ignored for
// grpc_method calls), a bad tls block is named once, and a bad
// descriptor_set is still reported beside them.
func TestGRPCServiceCompiledOnce(t *testing.T) {
	protoset := grpcProtoset(t)
	msgs := compileErrors(t, cfgf(`{
  "services": {
    "catalog": {"protocol": "grpc", "descriptor_set": %q, "targets": ["127.0.0.1:9"], "retries": -1},
    "tls": {"protocol": "grpc", "targets": ["127.0.0.1:9"], "tls": {"ca_file": "/nonexistent/ca.pem"}},
    "bad": {"protocol": "grpc", "descriptor_set": "/nonexistent/x.protoset", "targets": ["127.0.0.1:9"], "retries": -2}
  },
  "routes": [
    {"name": "m", "path": "/m/{sku}", "service": "catalog", "grpc_method": "catalog.v1.Catalog/GetProduct"},
    {"name": "p", "path": "/p", "service": "tls"}
  ]
}`, protoset))
	count := func(prefix string) int {
		n := 0
		for _, m := range msgs {
			if strings.HasPrefix(m, prefix) {
				n++
			}
		}
		return n
	}
	for prefix, want := range map[string]int{
		"services.catalog.retries: must not be negative": 1,
		"services.bad.retries: must not be negative":     1,
		"services.bad.descriptor_set:":                   1,
		"services.tls.tls":                               1,
	} {
		if got := count(prefix); got != want {
			t.Errorf("%q reported %d times, want %d; all:\n%s", prefix, got, want, strings.Join(msgs, "\n"))
		}
	}
}
