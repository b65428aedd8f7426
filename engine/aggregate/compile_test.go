package aggregate

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/upstream"
)

const compileServices = `"services": {"users": {"targets": ["127.0.0.1:1"], "timeout": "200ms"}, "feed": {"targets": ["127.0.0.1:2"]}}`

func aggConfig(agg string) string {
	return `{` + compileServices + `, "routes": [{"name": "home", "path": "/home/{id}", "aggregate": ` + agg + `}]}`
}

func TestCompileErrors(t *testing.T) {
	cases := []struct{ agg, want string }{
		{`{"backends": []}`, `routes[0].aggregate.backends: at least one backend is required`},
		{`{"backends": [{"service": "users", "path": "/u", "key": "a"}, {"service": "x", "path": "/u", "key": "b"}]}`,
			`routes[0].aggregate.backends[1].service: unknown service "x"`},
		{`{"backends": [{"path": "/u", "key": "a"}]}`, `routes[0].aggregate.backends[0].service: required`},
		{`{"backends": [{"service": "users", "key": "a"}]}`, `routes[0].aggregate.backends[0].path: required`},
		{`{"backends": [{"service": "users", "path": "u", "key": "a"}]}`, `routes[0].aggregate.backends[0].path: must start with '/'`},
		{`{"backends": [{"service": "users", "path": "/u/{sku}", "key": "a"}]}`, `routes[0].aggregate.backends[0].path: unknown path parameter {sku} (the route path has {id})`},
		{`{"backends": [{"service": "users", "path": "/u"}]}`, `routes[0].aggregate.backends[0].key: required`},
		{`{"backends": [{"service": "users", "path": "/u", "key": "a"}, {"service": "feed", "path": "/f", "key": "a"}]}`,
			`routes[0].aggregate.backends[1].key: duplicate key "a" (also backends[0])`},
		{`{"timeout": "300ms", "backends": [{"service": "users", "path": "/u", "key": "a", "timeout": "1s"}]}`,
			`routes[0].aggregate.backends[0].timeout: 1s exceeds the aggregate timeout (300ms)`},
		{`{"backends": [{"service": "users", "path": "/u", "key": "a", "allow": ["ok", "a..b"]}]}`,
			`routes[0].aggregate.backends[0].allow[1]: invalid field path "a..b"`},
	}
	for _, c := range cases {
		p, errs := compileTest(t, aggConfig(c.agg), "id")
		if p != nil || len(errs) == 0 {
			t.Errorf("%s: compiled", c.agg)
			continue
		}
		found := false
		for _, e := range errs {
			found = found || strings.HasPrefix(e.Error(), c.want)
		}
		if !found {
			t.Errorf("%s:\n got  %v\n want %s", c.agg, errs, c.want)
		}
	}
}

func TestCompileNegativeTimeouts(t *testing.T) {
	// config.Parse rejects negative durations already; Compile still checks.
	rc := cfgAggregate(t, aggConfig(`{"backends": [{"service": "users", "path": "/u", "key": "a"}]}`))
	rc.Aggregate.Timeout = config.Duration(-time.Second)
	rc.Aggregate.Backends[0].Timeout = config.Duration(-time.Millisecond)
	svc := &upstream.Service{Name: "users"}
	_, errs := Compile(rc.Aggregate, map[string]*upstream.Service{"users": svc}, []string{"id"}, "routes[0].aggregate")
	if len(errs) != 2 || errs[0].Error() != "routes[0].aggregate.timeout: must not be negative" ||
		errs[1].Error() != "routes[0].aggregate.backends[0].timeout: must not be negative" {
		t.Fatalf("errs = %v", errs)
	}
}

func TestCompileNil(t *testing.T) {
	if _, errs := Compile(nil, nil, nil, "routes[2].aggregate"); len(errs) != 1 || errs[0].Error() != "routes[2].aggregate: expected an object" {
		t.Fatalf("errs = %v", errs)
	}
}

func TestCompileDeclaredButBrokenService(t *testing.T) {
	// A service present with a nil value failed its own compile: no second
	// error about it here, and no plan.
	rc := cfgAggregate(t, aggConfig(`{"backends": [{"service": "users", "path": "/u", "key": "a"}]}`))
	p, errs := Compile(rc.Aggregate, map[string]*upstream.Service{"users": nil}, []string{"id"}, "routes[0].aggregate")
	if p != nil || len(errs) != 0 {
		t.Fatalf("plan %v, errs %v", p, errs)
	}
	_, errs = Compile(rc.Aggregate, nil, []string{"id"}, "routes[0].aggregate")
	if len(errs) != 1 || errs[0].Error() != `routes[0].aggregate.backends[0].service: unknown service "users"` {
		t.Fatalf("errs = %v", errs)
	}
}

func TestCompileTimeouts(t *testing.T) {
	p := mustCompile(t, aggConfig(`{"backends": [
		{"service": "users", "path": "/u", "key": "a"},
		{"service": "feed", "path": "/f", "key": "b"},
		{"service": "feed", "path": "/f", "key": "c", "timeout": "1s"}]}`), "id")
	if p.Timeout() != DefaultTimeout {
		t.Errorf("default timeout = %v", p.Timeout())
	}
	// users: its service's 200ms; feed: the aggregate's 3s (service default 30s).
	for i, want := range []time.Duration{200 * time.Millisecond, DefaultTimeout, time.Second} {
		if got := p.backends[i].timeout; got != want {
			t.Errorf("backend %d timeout = %v, want %v", i, got, want)
		}
	}
	p = mustCompile(t, aggConfig(`{"timeout": "100ms", "backends": [{"service": "users", "path": "/u/{claim.sub}", "key": "a"}]}`), "id")
	if p.backends[0].timeout != 100*time.Millisecond || !p.UsesClaims() {
		t.Errorf("timeout %v, usesClaims %v", p.backends[0].timeout, p.UsesClaims())
	}
}
