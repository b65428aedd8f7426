package engine_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
)

// TestIPFilter: deny and allow lists on the client address (X-Forwarded-For
// believed from the trusted loopback proxy), IPv4 and IPv6, a 403 with the
// JSON error body before auth and rate limiting, no upstream call.
func TestIPFilter(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off", "trusted_proxies": ["127.0.0.1/32"]},
  "services": {"s": {"targets": [%q]}},
  "auth": {"keys": {"type": "api_key", "keys": {"acme": "sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"}}},
  "rate_limits": {"one": {"key": "route", "requests": 1, "per": "1h"}},
  "routes": [
    {"name": "inside", "path": "/inside", "service": "s",
     "ip_filter": {"allow": ["10.0.0.0/8", "2001:db8::/32"], "deny": ["10.6.6.0/24", "2001:db8:bad::/48"]}},
    {"name": "guarded", "path": "/guarded", "service": "s", "auth": "keys", "rate_limits": ["one"],
     "ip_filter": {"deny": ["192.0.2.0/24"]}},
    {"name": "open", "path": "/open", "service": "s"}
  ]
}`, up.addr))
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	for ip, want := range map[string]int{
		"10.1.2.3": 200, "10.6.6.6": 403, "11.0.0.1": 403, "2001:db8::1": 200, "2001:db8:bad::7": 403, "::1": 403,
	} {
		before := up.Hits.Load()
		r := do(t, "GET", g.url+"/inside", from(ip), "")
		if want == 403 {
			r.wantError(t, 403, "forbidden")
			if up.Hits.Load() != before {
				t.Errorf("%s: a filtered request reached the upstream", ip)
			}
		} else if r.status != want {
			t.Errorf("%s: status %d, want %d", ip, r.status, want)
		}
	}
	// The TCP peer itself (127.0.0.1, no X-Forwarded-For) is outside allow.
	get(t, g.url+"/inside").wantError(t, 403, "forbidden")
	// Before auth (no 401) and before the rate limit (no token taken).
	for i := 0; i < 3; i++ {
		r := do(t, "GET", g.url+"/guarded", from("192.0.2.9"), "")
		r.wantError(t, 403, "forbidden")
		if r.header.Get("RateLimit-Limit") != "" {
			t.Fatalf("the rate limit ran before ip_filter: %v", r.header)
		}
	}
	ok := map[string]string{"X-Forwarded-For": "198.51.100.1", "X-API-Key": "secret"}
	if r := do(t, "GET", g.url+"/guarded", ok, ""); r.status != 200 {
		t.Fatalf("allowed client: %d %s", r.status, r.body)
	}
	if r := get(t, g.url+"/open"); r.status != 200 {
		t.Fatalf("route without ip_filter: %d", r.status)
	}
}

func TestIPFilterConfigErrors(t *testing.T) {
	msgs := compileErrors(t, `{
  "services": {"s": {"targets": ["127.0.0.1:1"]}},
  "routes": [
    {"name": "a", "path": "/a", "service": "s", "ip_filter": {"allow": ["10.0.0.0/8"], "deny": ["10.0.0.0/40", "bogus"]}},
    {"name": "b", "path": "/b", "service": "s", "ip_filter": {}}
  ]
}`)
	got := strings.Join(msgs, "\n")
	for _, want := range []string{
		`routes[0].ip_filter.deny[0]: invalid CIDR or address "10.0.0.0/40"`,
		`routes[0].ip_filter.deny[1]: invalid CIDR or address "bogus"`,
		`routes[1].ip_filter: needs allow or deny entries`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
}

// TestCORS: preflights answered at the edge whatever the route's methods,
// 403 for another origin, Access-Control-Allow-Origin and Vary: Origin on
// real answers (gateway errors included), "*" origins.
func TestCORS(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"s": {"targets": [%q]}},
  "auth": {"keys": {"type": "api_key", "keys": {"acme": "sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"}}},
  "routes": [
    {"name": "app", "path": "/app/{id}", "methods": ["GET"], "service": "s",
     "cors": {"allow_origins": ["https://app.example"], "allow_methods": ["GET", "PUT"], "allow_headers": ["Authorization"],
              "expose_headers": ["X-Served-By"], "allow_credentials": true, "max_age": "10m"}},
    {"name": "public", "path": "/public", "service": "s", "cache": {"ttl": "1m"}, "cors": {"allow_origins": ["*"]}},
    {"name": "locked", "path": "/locked", "service": "s", "auth": "keys", "cors": {"allow_origins": ["https://app.example"]}},
    {"name": "plain", "path": "/plain", "methods": ["GET"], "service": "s"}
  ]
}`, up.addr))
	preflight := func(path, origin, method string) response {
		return do(t, "OPTIONS", g.url+path, map[string]string{
			"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": "authorization"}, "")
	}
	before := up.Hits.Load()
	r := preflight("/app/1", "https://app.example", "PUT")
	if r.status != 204 {
		t.Fatalf("preflight: %d %s", r.status, r.body)
	}
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Allow-Methods": "GET, HEAD, PUT",
		"Access-Control-Allow-Headers": "Authorization", "Access-Control-Max-Age": "600",
		"Access-Control-Allow-Credentials": "true", "Vary": "Origin",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("preflight %s = %q, want %q", k, got, want)
		}
	}
	// A method the route does not serve still gets its preflight answered.
	if r := preflight("/app/1", "https://app.example", "DELETE"); r.status != 204 {
		t.Errorf("preflight for another method: %d", r.status)
	}
	preflight("/app/1", "https://evil.example", "GET").wantError(t, 403, "forbidden")
	if up.Hits.Load() != before {
		t.Fatalf("a preflight reached the upstream")
	}
	// Real answers.
	r = do(t, "GET", g.url+"/app/1", map[string]string{"Origin": "https://app.example"}, "")
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		r.header.Get("Access-Control-Allow-Credentials") != "true" || r.header.Get("Access-Control-Expose-Headers") != "X-Served-By" ||
		r.header.Get("Vary") != "Origin" {
		t.Fatalf("allowed origin: %d %v", r.status, r.header)
	}
	r = do(t, "GET", g.url+"/app/1", map[string]string{"Origin": "https://evil.example"}, "")
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("Vary") != "Origin" {
		t.Fatalf("other origin: %d %v", r.status, r.header)
	}
	// A plain OPTIONS (no Access-Control-Request-Method) is not a preflight.
	if r := do(t, "OPTIONS", g.url+"/app/1", map[string]string{"Origin": "https://app.example"}, ""); r.status != 405 {
		t.Errorf("plain OPTIONS on a GET route: %d", r.status)
	}
	// "*": any origin, on a cache miss and on a hit.
	for _, want := range []string{"MISS", "HIT"} {
		r := do(t, "GET", g.url+"/public", map[string]string{"Origin": "https://x.example"}, "")
		if r.header.Get("Access-Control-Allow-Origin") != "*" || r.header.Get("X-Cache") != want || r.header.Get("Vary") != "Origin" {
			t.Fatalf("wildcard %s: %v", want, r.header)
		}
	}
	if r := preflight("/public", "https://y.example", "POST"); r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "*" ||
		r.header.Get("Access-Control-Allow-Headers") != "authorization" {
		t.Fatalf("wildcard preflight: %d %v", r.status, r.header)
	}
	// The gateway's own errors carry the CORS headers too (the browser can read the 401).
	r = do(t, "GET", g.url+"/locked", map[string]string{"Origin": "https://app.example"}, "")
	r.wantError(t, 401, "unauthorized")
	if r.header.Get("Access-Control-Allow-Origin") != "https://app.example" || r.header.Get("Vary") != "Origin" {
		t.Fatalf("401 without CORS headers: %v", r.header)
	}
	// A route without cors keeps its 405 for a preflight.
	if r := preflight("/plain", "https://app.example", "GET"); r.status != 405 {
		t.Errorf("preflight on a route without cors: %d", r.status)
	}
}

func TestCORSConfigErrors(t *testing.T) {
	got := strings.Join(compileErrors(t, `{
  "services": {"s": {"targets": ["127.0.0.1:1"]}},
  "routes": [
    {"name": "a", "path": "/a", "service": "s", "cors": {"allow_origins": ["*"], "allow_credentials": true}},
    {"name": "b", "path": "/b", "service": "s", "cors": {"allow_origins": ["app.example"], "max_age": "-1s"}}
  ]
}`), "\n")
	for _, want := range []string{
		`routes[0].cors.allow_credentials: cannot be true with a wildcard origin`,
		`routes[1].cors.allow_origins[0]: want "*" or scheme://host[:port]`,
		`routes[1].cors.max_age: duration "-1s" must not be negative`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
}

// TestSplit: a random share goes to the canary; by header one client stays
// on one side; the split shows in the metrics.
func TestSplit(t *testing.T) {
	v1, v2 := startUpstream(t, "v1"), startUpstream(t, "v2")
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"stable": {"targets": [%q]}, "canary": {"targets": [%q]}},
  "routes": [
    {"name": "rnd", "path": "/rnd", "service": "stable", "split": {"services": [{"service": "canary", "percent": 30}]}},
    {"name": "sticky", "path": "/sticky", "service": "stable", "split": {"by": "header:X-User", "services": [{"service": "canary", "percent": 50}]}},
    {"name": "all", "path": "/all", "service": "stable", "split": {"by": "random", "services": [{"service": "canary", "percent": 100}]}}
  ]
}`, v1.addr, v2.addr))
	const n = 600
	canary := 0
	metric := func(name string) int {
		for _, line := range strings.Split(string(get(t, g.admin+"/metrics").body), "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				var n int
				fmt.Sscan(v, &n)
				return n
			}
		}
		return 0
	}
	const canaryMetric = `sluice_split_requests_total{route="rnd",service="canary"}`
	const stableMetric = `sluice_split_requests_total{route="rnd",service="stable"}`
	canary0, stable0 := metric(canaryMetric), metric(stableMetric)
	for i := 0; i < n; i++ {
		r := get(t, g.url+"/rnd")
		if r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		if r.header.Get("X-Served-By") == "v2" {
			canary++
		}
	}
	// 30% of 600 is 180, sd about 11: a wide band that cannot flake.
	if canary < 120 || canary > 240 {
		t.Errorf("canary served %d of %d, want about 180", canary, n)
	}
	sides := map[string]int{}
	for round := 0; round < 3; round++ {
		for u := 0; u < 60; u++ {
			user := cfgf("user-%d", u)
			r := do(t, "GET", g.url+"/sticky", map[string]string{"X-User": user}, "")
			side := map[string]int{"v1": 1, "v2": 2}[r.header.Get("X-Served-By")]
			if side == 0 {
				t.Fatalf("served by %q", r.header.Get("X-Served-By"))
			}
			if prev, ok := sides[user]; ok && prev != side {
				t.Fatalf("%s moved between sides", user)
			}
			sides[user] = side
		}
	}
	count := map[int]int{}
	for _, s := range sides {
		count[s]++
	}
	if count[1] == 0 || count[2] == 0 {
		t.Errorf("a 50%% split by header put every user on one side: %v", count)
	}
	if r := get(t, g.url+"/all"); r.header.Get("X-Served-By") != "v2" {
		t.Errorf("100%% split served by %q", r.header.Get("X-Served-By"))
	}
	if c, s := metric(canaryMetric)-canary0, metric(stableMetric)-stable0; c != canary || s != n-canary {
		t.Errorf("split metrics: canary %d stable %d, want %d and %d", c, s, canary, n-canary)
	}
	if m := string(get(t, g.admin+"/metrics").body); !strings.Contains(m, `sluice_upstream_requests_total{service="canary"`) {
		t.Error("no upstream metrics for the canary service")
	}
	var table struct {
		Routes []struct {
			Name  string `json:"name"`
			Split *struct {
				By       string `json:"by"`
				Services []struct {
					Service string  `json:"service"`
					Percent float64 `json:"percent"`
				} `json:"services"`
			} `json:"split"`
		} `json:"routes"`
	}
	get(t, g.admin+"/routes").json(t, &table)
	if sp := table.Routes[1].Split; sp == nil || sp.By != "header:X-User" || len(sp.Services) != 1 || sp.Services[0].Percent != 50 {
		t.Errorf("/routes does not show the split: %+v", table.Routes[1])
	}
}

func TestSplitConfigErrors(t *testing.T) {
	got := strings.Join(compileErrors(t, `{
  "services": {"a": {"targets": ["127.0.0.1:1"]}, "b": {"targets": ["127.0.0.1:2"]}, "c": {"targets": ["127.0.0.1:3"]},
               "s": {"protocol": "grpc", "targets": ["127.0.0.1:4"]}, "t": {"protocol": "https", "targets": ["127.0.0.1:5"]}},
  "routes": [
    {"name": "r0", "path": "/r0", "service": "a", "split": {"services": [{"service": "catalgo", "percent": 5}]}},
    {"name": "r1", "path": "/r1", "service": "a", "split": {"services": [{"service": "b", "percent": 70}, {"service": "c", "percent": 40}]}},
    {"name": "r2", "path": "/r2", "service": "a", "split": {"by": "cookie:x", "services": [{"service": "b", "percent": 5}]}},
    {"name": "r4", "path": "/r4", "service": "a", "split": {"services": [{"service": "s", "percent": 5}, {"service": "t", "percent": 5}]}},
    {"name": "r3", "path": "/r3", "aggregate": {"backends": [{"service": "a", "path": "/", "key": "k"}]}, "split": {"services": [{"service": "b", "percent": 5}]}}
  ]
}`), "\n")
	for _, want := range []string{
		`routes[0].split.services[0].service: unknown service "catalgo"`,
		`routes[1].split.services: percents sum to 110, over 100`,
		`routes[2].split.by: want random, ip, consumer or header:NAME, got "cookie:x"`,
		`routes[4].split: needs a route that proxies to a service`,
		`routes[3].split.services[0].service: service "s" speaks grpc, the route's service HTTP`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "routes[3].split.services[1]") {
		t.Errorf("an https canary of an http service is fine:\n%s", got)
	}
}

// TestIPFilterIPv6Peer: the TCP peer's own IPv6 address (no proxy) is what
// ip_filter checks.
func TestIPFilterIPv6Peer(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	up := startUpstream(t, "echo")
	g := startGateway(t, cfgf(`{
  "server": {"listen": %q, "access_log": "off"},
  "services": {"s": {"targets": [%q]}},
  "routes": [
    {"name": "v6-only", "path": "/v6", "service": "s", "ip_filter": {"allow": ["::1/128"]}},
    {"name": "no-v6", "path": "/no6", "service": "s", "ip_filter": {"deny": ["::/0"]}}
  ]
}`, addr, up.addr))
	if r := get(t, g.url+"/v6"); r.status != 200 {
		t.Fatalf("::1 allowed: %d %s", r.status, r.body)
	}
	get(t, g.url+"/no6").wantError(t, 403, "forbidden")
}
