package engine_test

import (
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
		before := up.hits.Load()
		r := do(t, "GET", g.url+"/inside", from(ip), "")
		if want == 403 {
			r.wantError(t, 403, "forbidden")
			if up.hits.Load() != before {
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
