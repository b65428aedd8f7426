package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/fielderr"
)

func TestInstanceScopeCountsAndHeaders(t *testing.T) {
	s := compile(t, policies(PolicyOptions{Name: "p", Key: "ip", Requests: 3, Per: time.Minute}))
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
	s := compile(t, policies(PolicyOptions{Name: "p", Key: "ip", Requests: 2, Per: time.Hour, Burst: 5}))
	rt := route(t, s, "r", "p")
	if n := admitted(rt, req{ip: "1.1.1.1"}, 10); n != 5 {
		t.Fatalf("admitted %d, want the burst of 5", n)
	}
	if a := do(rt, req{ip: "1.1.1.1"}); a.limit != 5 || a.retryAfter != 1800 {
		t.Fatalf("headers %+v, want limit 5 and Retry-After 1800", a)
	}
}

func TestKeysIndependent(t *testing.T) {
	s := compile(t, policies(
		PolicyOptions{Name: "ip", Key: "ip", Requests: 2, Per: time.Hour},
		PolicyOptions{Name: "hdr", Key: "header:X-Api-Key", Requests: 2, Per: time.Hour},
		PolicyOptions{Name: "sub", Key: "claim:sub", Requests: 2, Per: time.Hour},
		PolicyOptions{Name: "who", Key: "consumer", Requests: 2, Per: time.Hour}))
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
	s := compile(t, policies(
		PolicyOptions{Name: "hdr", Key: "header:X-Api-Key", Requests: 3, Per: time.Hour},
		PolicyOptions{Name: "sub", Key: "claim:sub", Requests: 3, Per: time.Hour}))
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
	s := compile(t, policies(
		PolicyOptions{Name: "ip", Key: "ip", Requests: 4, Per: time.Hour},
		PolicyOptions{Name: "per-route", Key: "route", Requests: 3, Per: time.Hour}))
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
	s := compile(t, policies(
		PolicyOptions{Name: "user", Key: "consumer", Requests: 5, Per: time.Hour},
		PolicyOptions{Name: "ip", Key: "ip", Requests: 2, Per: time.Hour}))
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
	s2 := compile(t, policies(
		PolicyOptions{Name: "a", Key: "ip", Requests: 2, Per: time.Hour},
		PolicyOptions{Name: "b", Key: "ip", Requests: 1, Per: time.Minute}))
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
	s := compile(t, Options{Instances: 2, Policies: []PolicyOptions{
		{Name: "c", Key: "ip", Requests: 10, Per: time.Minute, Burst: 10, Scope: "cluster"},
		{Name: "i", Key: "ip", Requests: 10, Per: time.Minute}}})
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
	s := compile(t, policies(PolicyOptions{Name: "p", Key: "ip", Requests: 100, Per: 10 * time.Millisecond}))
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
	s := compile(t, policies())
	r, err := s.Route(nil, "r")
	if r != nil || err != nil {
		t.Fatalf("Route(nil) = %v, %v", r, err)
	}
	if !r.Allow(exchange(req{})) {
		t.Fatal("nil route rejected")
	}
}

// errList is err as a fielderr.List (nil for a nil error).
func errList(t *testing.T, err error) fielderr.List {
	t.Helper()
	var l fielderr.List
	if err != nil && !errors.As(err, &l) {
		t.Fatalf("error %v is not a fielderr.List", err)
	}
	return l
}

// checkErrors asserts that errs are, in order, errors with the prefixes want.
func checkErrors(t *testing.T, what string, errs fielderr.List, want []string) {
	t.Helper()
	if len(errs) != len(want) {
		t.Errorf("%s: got %d errors %v, want %d", what, len(errs), errs, len(want))
		return
	}
	for i, w := range want {
		if !strings.HasPrefix(errs[i].Error(), w) {
			t.Errorf("%s: error %d = %q, want prefix %q", what, i, errs[i].Error(), w)
		}
	}
}

// TestNewErrors: policy problems, with paths relative to the rate_limits
// object (the engine's tests pin the full paths).
func TestNewErrors(t *testing.T) {
	ip := func(p PolicyOptions) PolicyOptions {
		p.Name, p.Key = "p", "ip"
		return p
	}
	cases := []struct {
		o    Options
		want []string
	}{
		{policies(PolicyOptions{Name: "p", Key: "cookie", Requests: 1, Per: time.Second}), []string{`p.key: invalid key "cookie"`}},
		{policies(PolicyOptions{Name: "p", Key: "header:", Requests: 1, Per: time.Second}), []string{`p.key: invalid key "header:"`}},
		{policies(PolicyOptions{Name: "p", Key: "header:a b", Requests: 1, Per: time.Second}), []string{`p.key`}},
		{policies(PolicyOptions{Name: "p", Key: "claim:", Requests: 1, Per: time.Second}), []string{`p.key`}},
		{policies(ip(PolicyOptions{Requests: 0, Per: time.Second})), []string{`p.requests: must be greater than 0`}},
		{policies(ip(PolicyOptions{Requests: 1})), []string{`p.per: must be a positive duration`}},
		{policies(ip(PolicyOptions{Requests: 1, Per: time.Second, Burst: -1})), []string{`p.burst: must not be negative`}},
		{policies(ip(PolicyOptions{Requests: 1, Per: time.Second, Scope: "global"})), []string{`p.scope: invalid scope "global"`}},
		{Options{Instances: 3, Policies: []PolicyOptions{ip(PolicyOptions{Requests: 2, Per: time.Second, Scope: "cluster"})}},
			[]string{`p.burst: burst 2 split across 3 instances`}},
		{policies(
			PolicyOptions{Name: "a", Key: "x", Requests: -1, Per: time.Second},
			PolicyOptions{Name: "b", Key: "ip", Requests: 1, Per: time.Second, Scope: "?"}),
			[]string{`a.key`, `a.requests`, `b.scope`}},
	}
	for _, c := range cases {
		s, err := New(c.o, testMetrics)
		if s == nil {
			t.Fatalf("%+v: nil Set", c.o)
		}
		checkErrors(t, fmt.Sprintf("%+v", c.o), errList(t, err), c.want)
	}
}

// TestNewStoreErrors: cluster.redis problems, with paths relative to it.
func TestNewStoreErrors(t *testing.T) {
	t.Setenv("RL_SET", "x")
	cases := []struct {
		r    RedisOptions
		want []string
	}{
		{RedisOptions{}, []string{`addr: required`}},
		{RedisOptions{Addr: "localhost"}, []string{`addr: invalid address "localhost"`}},
		{RedisOptions{Addr: "127.0.0.1:1", PasswordEnv: "RL_UNSET_VAR"}, []string{`password_env: environment variable "RL_UNSET_VAR" is not set`}},
		{RedisOptions{Addr: "127.0.0.1:1", Password: "a", PasswordEnv: "RL_SET"}, []string{`password_env: set password or password_env, not both`}},
		{RedisOptions{Addr: "127.0.0.1:1", Addrs: []string{"127.0.0.1:2"}}, []string{`addrs: set addr (one Redis) or addrs (Sentinel or Cluster), not both`}},
		{RedisOptions{Addr: "127.0.0.1:1", MasterName: "m"}, []string{`master_name: needs addrs`}},
		{RedisOptions{MasterName: "m"}, []string{`addrs: required with master_name`}},
		{RedisOptions{Addrs: []string{}}, []string{`addr: required`}},
		{RedisOptions{Addrs: []string{"127.0.0.1:1", "nohost", "127.0.0.1:1"}, MasterName: "m"},
			[]string{`addrs[1]: invalid address "nohost"`, `addrs[2]: address "127.0.0.1:1" listed twice`}},
		{RedisOptions{Addrs: []string{"127.0.0.1:1"}, MasterName: " m"}, []string{`master_name: must not start or end with spaces`}},
		{RedisOptions{Addrs: []string{"127.0.0.1:1"}, KeyPrefix: "a{b}:"}, []string{`key_prefix: must not contain { or } with Redis Cluster`}},
	}
	for _, c := range cases {
		st, err := NewStore(c.r)
		if st != nil {
			t.Errorf("%+v: a store despite errors", c.r)
		}
		checkErrors(t, fmt.Sprintf("%+v", c.r), errList(t, err), c.want)
	}
}

// TestRedisModes: addr is one Redis, addrs with master_name Sentinel,
// addrs alone Redis Cluster (even with one seed address); braces in the key
// prefix are fine outside Cluster.
func TestRedisModes(t *testing.T) {
	cases := []struct {
		redis RedisOptions
		want  redisMode
	}{
		{RedisOptions{Addr: "127.0.0.1:6379"}, modeSingle},
		{RedisOptions{Addrs: []string{"127.0.0.1:26379", "127.0.0.1:26380"}, MasterName: "m", KeyPrefix: "{x}"}, modeSentinel},
		{RedisOptions{Addrs: []string{"127.0.0.1:7000"}}, modeCluster},
		{RedisOptions{Addrs: []string{"127.0.0.1:7000", "127.0.0.1:7001"}}, modeCluster},
	}
	for _, c := range cases {
		s := compile(t, Options{Instances: 2, Store: store(t, c.redis),
			Policies: []PolicyOptions{{Name: "q", Key: "ip", Requests: 10, Per: time.Second, Scope: "cluster"}}})
		if s.sync == nil || s.sync.mode != c.want {
			t.Errorf("%+v: mode %v, want %v", c.redis, s.sync.mode, c.want)
		}
	}
}

func TestRouteErrors(t *testing.T) {
	s := compile(t, policies(PolicyOptions{Name: "a", Key: "ip", Requests: 1, Per: time.Second}))
	_, err := s.Route([]string{"a", "x", "a"}, "r")
	errs := errList(t, err)
	want := []string{
		`[1]: unknown rate limit policy "x"`,
		`[2]: rate limit policy "a" listed twice`,
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
	s2, _ := New(policies(PolicyOptions{Name: "bad", Key: "?", Requests: 1, Per: time.Second}), testMetrics)
	if _, err := s2.Route([]string{"bad"}, "r"); err != nil {
		t.Fatalf("invalid policy reported on the route too: %v", err)
	}
	// Nor one the compile step refused.
	s3, _ := New(policies(PolicyOptions{Name: "null", Invalid: true}), testMetrics)
	if _, err := s3.Route([]string{"null"}, "r"); err != nil {
		t.Fatalf("refused policy reported on the route too: %v", err)
	}
}
