package ratelimit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/fault"
)

func TestInstanceScopeCountsAndHeaders(t *testing.T) {
	s := compileJSON(t, `{"rate_limits": {"p": {"key": "ip", "requests": 3, "per": "1m"}}}`)
	rt := route(t, s, "r", "p")
	a := req{ip: "10.0.0.1"}
	// 3 a minute: one token every 20 s.
	for i, want := range []answer{
		{ok: true, limit: 3, remaining: 2, reset: 20, retryAfter: -1},
		{ok: true, limit: 3, remaining: 1, reset: 40, retryAfter: -1},
		{ok: true, limit: 3, remaining: 0, reset: 60, retryAfter: -1},
		{ok: false, status: 429, code: fault.RateLimited.Code(), limit: 3, remaining: 0, reset: 60, retryAfter: 20},
		{ok: false, status: 429, code: fault.RateLimited.Code(), limit: 3, remaining: 0, reset: 60, retryAfter: 20},
	} {
		if got := do(rt, a); got != want {
			t.Fatalf("request %d: got %+v, want %+v", i+1, got, want)
		}
	}
}

func TestBurstDefaultsAndOverrides(t *testing.T) {
	s := compileJSON(t, `{"rate_limits": {"p": {"key": "ip", "requests": 2, "per": "1h", "burst": 5}}}`)
	rt := route(t, s, "r", "p")
	if n := admitted(rt, req{ip: "1.1.1.1"}, 10); n != 5 {
		t.Fatalf("admitted %d, want the burst of 5", n)
	}
	if a := do(rt, req{ip: "1.1.1.1"}); a.limit != 5 || a.retryAfter != 1800 {
		t.Fatalf("headers %+v, want limit 5 and Retry-After 1800", a)
	}
}

func TestKeysIndependent(t *testing.T) {
	s := compileJSON(t, `{"rate_limits": {
		"ip": {"key": "ip", "requests": 2, "per": "1h"},
		"hdr": {"key": "header:X-Api-Key", "requests": 2, "per": "1h"},
		"sub": {"key": "claim:sub", "requests": 2, "per": "1h"},
		"who": {"key": "consumer", "requests": 2, "per": "1h"}}}`)
	cases := []struct {
		policy string
		a, b   req
	}{
		{"ip", req{ip: "10.0.0.1"}, req{ip: "10.0.0.2"}},
		{"hdr", req{headers: map[string]string{"X-Api-Key": "k1"}}, req{headers: map[string]string{"x-api-key": "k2"}}},
		{"sub", req{claims: claims{"sub": "alice"}}, req{claims: claims{"sub": "bob"}}},
		{"who", req{consumer: "alice"}, req{consumer: "bob"}},
	}
	for _, c := range cases {
		rt := route(t, s, "r-"+c.policy, c.policy)
		if n := admitted(rt, c.a, 5); n != 2 {
			t.Errorf("%s: first key admitted %d, want 2", c.policy, n)
		}
		if n := admitted(rt, c.b, 5); n != 2 {
			t.Errorf("%s: second key admitted %d, want 2 (keys must not share buckets)", c.policy, n)
		}
	}
}

func TestAnonymousBucket(t *testing.T) {
	s := compileJSON(t, `{"rate_limits": {
		"hdr": {"key": "header:X-Api-Key", "requests": 3, "per": "1h"},
		"sub": {"key": "claim:sub", "requests": 3, "per": "1h"}}}`)
	hdr := route(t, s, "a", "hdr")
	// Requests without the header share one bucket, whatever else differs.
	if n := admitted(hdr, req{ip: "1.1.1.1"}, 2) + admitted(hdr, req{ip: "2.2.2.2"}, 5); n != 3 {
		t.Fatalf("anonymous header bucket admitted %d, want 3", n)
	}
	if n := admitted(hdr, req{headers: map[string]string{"X-Api-Key": "k"}}, 5); n != 3 {
		t.Fatalf("keyed request admitted %d after the anonymous bucket emptied, want 3", n)
	}
	sub := route(t, s, "b", "sub")
	if n := admitted(sub, req{}, 2) + admitted(sub, req{claims: claims{"iss": "x"}}, 5); n != 3 {
		t.Fatalf("anonymous claim bucket admitted %d, want 3", n)
	}
}

func TestPolicySharedAcrossRoutesExceptRouteKey(t *testing.T) {
	s := compileJSON(t, `{"rate_limits": {
		"ip": {"key": "ip", "requests": 4, "per": "1h"},
		"per-route": {"key": "route", "requests": 3, "per": "1h"}}}`)
	a, b := route(t, s, "a", "ip"), route(t, s, "b", "ip")
	if n := admitted(a, req{ip: "9.9.9.9"}, 2) + admitted(b, req{ip: "9.9.9.9"}, 5); n != 4 {
		t.Fatalf("ip policy over two routes admitted %d, want one quota of 4", n)
	}
	c, d := route(t, s, "c", "per-route"), route(t, s, "d", "per-route")
	if n := admitted(c, req{ip: "1.1.1.1"}, 2) + admitted(c, req{ip: "2.2.2.2"}, 5); n != 3 {
		t.Fatalf("route key admitted %d on one route, want 3 whatever the client", n)
	}
	if n := admitted(d, req{ip: "1.1.1.1"}, 5); n != 3 {
		t.Fatalf("route key admitted %d on a second route, want its own 3", n)
	}
}

func TestSeveralPolicies(t *testing.T) {
	s := compileJSON(t, `{"rate_limits": {
		"user": {"key": "consumer", "requests": 5, "per": "1h"},
		"ip":   {"key": "ip", "requests": 2, "per": "1h"}}}`)
	rt := route(t, s, "r", "user", "ip")
	alice := req{ip: "10.0.0.1", consumer: "alice"}
	// Headers follow the policy with the fewest tokens left: ip.
	if a := do(rt, alice); !a.ok || a.limit != 2 || a.remaining != 1 {
		t.Fatalf("first: %+v, want ip's headers (limit 2, remaining 1)", a)
	}
	do(rt, alice)
	a := do(rt, alice)
	if a.ok || a.status != 429 || a.limit != 2 || a.remaining != 0 || a.retryAfter != 1800 {
		t.Fatalf("third: %+v, want 429 with ip's headers", a)
	}
	// The rejected request consumed nothing from "user": 3 of alice's 5 left.
	if n := admitted(route(t, s, "u", "user"), req{ip: "10.0.0.9", consumer: "alice"}, 10); n != 3 {
		t.Fatalf("user quota admitted %d more, want 3 (5 minus the 2 admitted)", n)
	}

	// On a tie (no whole token left in either) the rejecting policy's headers
	// are shown: b rejects, a would admit with 0 left.
	s2 := compileJSON(t, `{"rate_limits": {
		"a": {"key": "ip", "requests": 2, "per": "1h"},
		"b": {"key": "ip", "requests": 1, "per": "1m"}}}`)
	rt2 := route(t, s2, "r", "a", "b")
	do(rt2, req{ip: "1.2.3.4"})
	got := do(rt2, req{ip: "1.2.3.4"})
	if got.ok || got.limit != 1 || got.remaining != 0 || got.retryAfter != 60 {
		t.Fatalf("tie: %+v, want 429 with b's headers (limit 1, Retry-After 60)", got)
	}
	// And a's token was given back: it still has one.
	if n := admitted(route(t, s2, "ra", "a"), req{ip: "1.2.3.4"}, 5); n != 1 {
		t.Fatalf("a admitted %d after the rejection, want 1", n)
	}
}

func TestInstanceSplitWithoutRedis(t *testing.T) {
	s := compileJSON(t, `{"cluster": {"instances": 2}, "rate_limits": {
		"c": {"key": "ip", "requests": 10, "per": "1m", "burst": 10, "scope": "cluster"},
		"i": {"key": "ip", "requests": 10, "per": "1m"}}}`)
	if n := admitted(route(t, s, "a", "c"), req{ip: "1.1.1.1"}, 20); n != 5 {
		t.Fatalf("cluster scope over 2 instances admitted %d, want 5", n)
	}
	if a := do(route(t, s, "b", "c"), req{ip: "2.2.2.2"}); a.limit != 5 || a.remaining != 4 || a.reset != 12 {
		t.Fatalf("split headers %+v, want limit 5, remaining 4, reset 12", a)
	}
	if n := admitted(route(t, s, "c", "i"), req{ip: "1.1.1.1"}, 20); n != 10 {
		t.Fatalf("instance scope admitted %d, want 10", n)
	}
	// Without Redis nothing collects usage, so none is counted (counted
	// usage would keep buckets from being swept).
	if u := s.policies["c"].lim.AppendUsage(nil); len(u) != 0 {
		t.Fatalf("split-only policy counted usage: %v", u)
	}
	if s.sync != nil {
		t.Fatal("syncer compiled without cluster.redis")
	}
}

func TestStartSweepsAndClose(t *testing.T) {
	s := compileJSON(t, `{"rate_limits": {"p": {"key": "ip", "requests": 100, "per": "10ms"}}}`)
	rt := route(t, s, "r", "p")
	for i := range 50 {
		do(rt, req{ip: "10.0.1." + string(rune('a'+i%26)) + string(rune('a'+i/26))})
	}
	if n := s.policies["p"].lim.Len(); n != 50 {
		t.Fatalf("%d live buckets, want 50", n)
	}
	s.Start(context.Background())
	s.Start(context.Background()) // second call is a no-op
	deadline := time.Now().Add(3 * time.Second)
	for s.policies["p"].keys.Get() != 0 || s.policies["p"].lim.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("idle buckets not swept: %d live", s.policies["p"].lim.Len())
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Close()
	s.Close()
	if !rt.Allow(exchange(req{ip: "1.1.1.1"})) {
		t.Fatal("route stopped admitting after Close")
	}
}

func TestNilRouteAdmits(t *testing.T) {
	s := compileJSON(t, `{"rate_limits": {}}`)
	r, errs := s.Route(nil, "r", "routes[0]")
	if r != nil || errs != nil {
		t.Fatalf("Route(nil) = %v, %v", r, errs)
	}
	if !r.Allow(exchange(req{})) {
		t.Fatal("nil route rejected")
	}
}

func TestCompileErrors(t *testing.T) {
	t.Setenv("RL_SET", "x")
	cases := []struct {
		js   string
		want []string
	}{
		{`{"rate_limits": {"p": {"key": "cookie", "requests": 1, "per": "1s"}}}`, []string{`rate_limits.p.key: invalid key "cookie"`}},
		{`{"rate_limits": {"p": {"key": "header:", "requests": 1, "per": "1s"}}}`, []string{`rate_limits.p.key: invalid key "header:"`}},
		{`{"rate_limits": {"p": {"key": "header:a b", "requests": 1, "per": "1s"}}}`, []string{`rate_limits.p.key`}},
		{`{"rate_limits": {"p": {"key": "claim:", "requests": 1, "per": "1s"}}}`, []string{`rate_limits.p.key`}},
		{`{"rate_limits": {"p": {"key": "ip", "requests": 0, "per": "1s"}}}`, []string{`rate_limits.p.requests: must be greater than 0`}},
		{`{"rate_limits": {"p": {"key": "ip", "requests": 1}}}`, []string{`rate_limits.p.per: must be a positive duration`}},
		{`{"rate_limits": {"p": {"key": "ip", "requests": 1, "per": "1s", "burst": -1}}}`, []string{`rate_limits.p.burst: must not be negative`}},
		{`{"rate_limits": {"p": {"key": "ip", "requests": 1, "per": "1s", "scope": "global"}}}`, []string{`rate_limits.p.scope: invalid scope "global"`}},
		{`{"cluster": {"instances": 3}, "rate_limits": {"p": {"key": "ip", "requests": 2, "per": "1s", "scope": "cluster"}}}`, []string{`rate_limits.p.burst: burst 2 split across 3 instances`}},
		{`{"cluster": {"instances": -1}}`, []string{`cluster.instances: must be at least 1`}},
		{`{"cluster": {"redis": {}}}`, []string{`cluster.redis.addr: required`}},
		{`{"cluster": {"redis": {"addr": "localhost"}}}`, []string{`cluster.redis.addr: invalid address "localhost"`}},
		{`{"cluster": {"redis": {"addr": "127.0.0.1:1", "password_env": "RL_UNSET_VAR"}}}`, []string{`cluster.redis.password_env: environment variable "RL_UNSET_VAR" is not set`}},
		{`{"cluster": {"redis": {"addr": "127.0.0.1:1", "password": "a", "password_env": "RL_SET"}}}`, []string{`cluster.redis.password_env: set password or password_env, not both`}},
		{`{"cluster": {"redis": {"addr": "127.0.0.1:1", "addrs": ["127.0.0.1:2"]}}}`, []string{`cluster.redis.addrs: set addr (one Redis) or addrs (Sentinel or Cluster), not both`}},
		{`{"cluster": {"redis": {"addr": "127.0.0.1:1", "master_name": "m"}}}`, []string{`cluster.redis.master_name: needs addrs`}},
		{`{"cluster": {"redis": {"master_name": "m"}}}`, []string{`cluster.redis.addrs: required with master_name`}},
		{`{"cluster": {"redis": {"addrs": []}}}`, []string{`cluster.redis.addr: required`}},
		{`{"cluster": {"redis": {"addrs": ["127.0.0.1:1", "nohost", "127.0.0.1:1"], "master_name": "m"}}}`,
			[]string{`cluster.redis.addrs[1]: invalid address "nohost"`, `cluster.redis.addrs[2]: address "127.0.0.1:1" listed twice`}},
		{`{"cluster": {"redis": {"addrs": ["127.0.0.1:1"], "master_name": " m"}}}`, []string{`cluster.redis.master_name: must not start or end with spaces`}},
		{`{"cluster": {"redis": {"addrs": ["127.0.0.1:1"], "key_prefix": "a{b}:"}}}`, []string{`cluster.redis.key_prefix: must not contain { or } with Redis Cluster`}},
		{`{"rate_limits": {"a": {"key": "x", "requests": -1, "per": "1s"}, "b": {"key": "ip", "requests": 1, "per": "1s", "scope": "?"}}}`,
			[]string{`rate_limits.a.key`, `rate_limits.a.requests`, `rate_limits.b.scope`}},
	}
	for _, c := range cases {
		cfg, err := config.Parse([]byte(c.js))
		if err != nil {
			t.Fatalf("%s: parse: %v", c.js, err)
		}
		s, errs := Compile(cfg, testMetrics)
		if s == nil {
			t.Fatalf("%s: nil Set", c.js)
		}
		if len(errs) != len(c.want) {
			t.Errorf("%s: got %d errors %v, want %d", c.js, len(errs), errs, len(c.want))
			continue
		}
		for i, w := range c.want {
			if !strings.HasPrefix(errs[i].Error(), w) {
				t.Errorf("%s: error %d = %q, want prefix %q", c.js, i, errs[i].Error(), w)
			}
		}
	}
}

// TestRedisModes: addr is one Redis, addrs with master_name Sentinel,
// addrs alone Redis Cluster (even with one seed address); braces in the key
// prefix are fine outside Cluster.
func TestRedisModes(t *testing.T) {
	cases := []struct {
		redis string
		want  redisMode
	}{
		{`{"addr": "127.0.0.1:6379"}`, modeSingle},
		{`{"addrs": ["127.0.0.1:26379", "127.0.0.1:26380"], "master_name": "m", "key_prefix": "{x}"}`, modeSentinel},
		{`{"addrs": ["127.0.0.1:7000"]}`, modeCluster},
		{`{"addrs": ["127.0.0.1:7000", "127.0.0.1:7001"]}`, modeCluster},
	}
	for _, c := range cases {
		s := compileJSON(t, `{"cluster": {"instances": 2, "redis": `+c.redis+`},
			"rate_limits": {"q": {"key": "ip", "requests": 10, "per": "1s", "scope": "cluster"}}}`)
		if s.sync == nil || s.sync.mode != c.want {
			t.Errorf("%s: mode %v, want %v", c.redis, s.sync.mode, c.want)
		}
	}
}

func TestRouteErrors(t *testing.T) {
	s := compileJSON(t, `{"rate_limits": {"a": {"key": "ip", "requests": 1, "per": "1s"}}}`)
	_, errs := s.Route([]string{"a", "x", "a"}, "r", "routes[3]")
	want := []string{
		`routes[3].rate_limits[1]: unknown rate limit policy "x"`,
		`routes[3].rate_limits[2]: rate limit policy "a" listed twice`,
	}
	if len(errs) != len(want) {
		t.Fatalf("errors %v, want %v", errs, want)
	}
	for i := range want {
		if errs[i].Error() != want[i] {
			t.Errorf("error %d = %q, want %q", i, errs[i].Error(), want[i])
		}
	}
	// A policy that failed to compile is not reported again as unknown.
	cfg, _ := config.Parse([]byte(`{"rate_limits": {"bad": {"key": "?", "requests": 1, "per": "1s"}}}`))
	s2, _ := Compile(cfg, testMetrics)
	if _, errs := s2.Route([]string{"bad"}, "r", "routes[0]"); len(errs) != 0 {
		t.Fatalf("invalid policy reported on the route too: %v", errs)
	}
}
