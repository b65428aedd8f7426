package aggregate

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/upstream"
)

// compileServices are the services of the compile tests: users (timeout
// 200ms) and feed (the upstream default of 30s).
func compileServices(t testing.TB) map[string]*upstream.Service {
	return testServices(t,
		testService{name: "users", addr: "127.0.0.1:1", timeout: 200 * time.Millisecond},
		testService{name: "feed", addr: "127.0.0.1:2"})
}

func TestCompileErrors(t *testing.T) {
	services := compileServices(t)
	cases := []struct {
		agg  Options
		want string
	}{
		{Options{Backends: []BackendOptions{}}, `backends: at least one backend is required`},
		{Options{Backends: []BackendOptions{{Service: "users", Path: "/u", Key: "a"}, {Service: "x", Path: "/u", Key: "b"}}},
			`backends[1].service: unknown service "x"`},
		{Options{Backends: []BackendOptions{{Path: "/u", Key: "a"}}}, `backends[0].service: required`},
		{Options{Backends: []BackendOptions{{Service: "users", Key: "a"}}}, `backends[0].path: required`},
		{Options{Backends: []BackendOptions{{Service: "users", Path: "u", Key: "a"}}}, `backends[0].path: must start with '/'`},
		{Options{Backends: []BackendOptions{{Service: "users", Path: "/u/{sku}", Key: "a"}}}, `backends[0].path: unknown path parameter {sku} (the route path has {id})`},
		{Options{Backends: []BackendOptions{{Service: "users", Path: "/u"}}}, `backends[0].key: required`},
		{Options{Backends: []BackendOptions{{Service: "users", Path: "/u", Key: "a"}, {Service: "feed", Path: "/f", Key: "a"}}},
			`backends[1].key: duplicate key "a" (also backends[0])`},
		{Options{Timeout: 300 * time.Millisecond, Backends: []BackendOptions{{Service: "users", Path: "/u", Key: "a", Timeout: time.Second}}},
			`backends[0].timeout: 1s exceeds the aggregate timeout (300ms)`},
		{Options{Backends: []BackendOptions{{Service: "users", Path: "/u", Key: "a", Allow: []string{"ok", "a..b"}}}},
			`backends[0].allow[1]: invalid field path "a..b"`},
	}
	for _, c := range cases {
		what := fmt.Sprintf("%+v", c.agg)
		p, errs := compileTest(t, services, c.agg, "id")
		if p != nil || len(errs) == 0 {
			t.Errorf("%s: compiled", what)
			continue
		}
		found := false
		for _, e := range errs {
			found = found || strings.HasPrefix(e.Error(), c.want)
		}
		if !found {
			t.Errorf("%s:\n got  %v\n want %s", what, errs, c.want)
		}
	}
}

func TestCompileNegativeTimeouts(t *testing.T) {
	// config.Parse rejects negative durations already; New still checks.
	o := Options{Timeout: -time.Second, Backends: []BackendOptions{{Service: "users", Path: "/u", Key: "a", Timeout: -time.Millisecond}}}
	svc := &upstream.Service{Name: "users"}
	_, errs := compileTest(t, map[string]*upstream.Service{"users": svc}, o, "id")
	if len(errs) != 2 || errs[0].Error() != "timeout: must not be negative" ||
		errs[1].Error() != "backends[0].timeout: must not be negative" {
		t.Fatalf("errs = %v", errs)
	}
}

func TestCompileDeclaredButBrokenService(t *testing.T) {
	// A service present with a nil value failed its own compile: no second
	// error about it here, and no plan.
	o := Options{Backends: []BackendOptions{{Service: "users", Path: "/u", Key: "a"}}}
	p, errs := compileTest(t, map[string]*upstream.Service{"users": nil}, o, "id")
	if p != nil || len(errs) != 0 {
		t.Fatalf("plan %v, errs %v", p, errs)
	}
	_, errs = compileTest(t, nil, o, "id")
	if len(errs) != 1 || errs[0].Error() != `backends[0].service: unknown service "users"` {
		t.Fatalf("errs = %v", errs)
	}
}

func TestCompileTimeouts(t *testing.T) {
	services := compileServices(t)
	p := mustCompile(t, services, Options{Backends: []BackendOptions{
		{Service: "users", Path: "/u", Key: "a"},
		{Service: "feed", Path: "/f", Key: "b"},
		{Service: "feed", Path: "/f", Key: "c", Timeout: time.Second}}}, "id")
	if p.Timeout() != DefaultTimeout {
		t.Errorf("default timeout = %v", p.Timeout())
	}
	// users: its service's 200ms; feed: the aggregate's 3s (service default 30s).
	for i, want := range []time.Duration{200 * time.Millisecond, DefaultTimeout, time.Second} {
		if got := p.backends[i].timeout; got != want {
			t.Errorf("backend %d timeout = %v, want %v", i, got, want)
		}
	}
	p = mustCompile(t, services, Options{Timeout: 100 * time.Millisecond, Backends: []BackendOptions{{Service: "users", Path: "/u/{claim.sub}", Key: "a"}}}, "id")
	if p.backends[0].timeout != 100*time.Millisecond || !p.UsesClaims() {
		t.Errorf("timeout %v, usesClaims %v", p.backends[0].timeout, p.UsesClaims())
	}
}
