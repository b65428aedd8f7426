package engine_test

import (
	"strings"
	"testing"
)

// TestAggregateErrorPaths pins the full JSON paths of the aggregate
// stage's problems, which it reports relative to the aggregate object.
func TestAggregateErrorPaths(t *testing.T) {
	const services = `"services": {"users": {"targets": ["127.0.0.1:1"], "timeout": "200ms"}, "feed": {"targets": ["127.0.0.1:2"]}}`
	cases := []struct{ agg, want string }{
		{`{"backends": []}`, `routes[1].aggregate.backends: at least one backend is required`},
		{`{"backends": [{"service": "users", "path": "/u", "key": "a"}, {"service": "x", "path": "/u", "key": "b"}]}`,
			`routes[1].aggregate.backends[1].service: unknown service "x"`},
		{`{"backends": [{"service": "users", "path": "/u/{sku}", "key": "a"}]}`, `routes[1].aggregate.backends[0].path: unknown path parameter {sku} (the route path has {id})`},
		{`{"backends": [{"service": "users", "path": "/u", "key": "a"}, {"service": "feed", "path": "/f", "key": "a"}]}`,
			`routes[1].aggregate.backends[1].key: duplicate key "a" (also backends[0])`},
		{`{"timeout": "300ms", "backends": [{"service": "users", "path": "/u", "key": "a", "timeout": "1s"}]}`,
			`routes[1].aggregate.backends[0].timeout: 1s exceeds the aggregate timeout (300ms)`},
		{`{"backends": [{"service": "users", "path": "/u", "key": "a", "allow": ["ok", "a..b"]}]}`,
			`routes[1].aggregate.backends[0].allow[1]: invalid field path "a..b"`},
	}
	for _, c := range cases {
		cfg := `{` + services + `, "routes": [{"name": "u", "path": "/u", "service": "users"}, {"name": "home", "path": "/home/{id}", "aggregate": ` + c.agg + `}]}`
		errs := compileErrors(t, cfg)
		found := false
		for _, e := range errs {
			found = found || strings.HasPrefix(e, c.want)
		}
		if !found {
			t.Errorf("%s:\n got  %q\n want %s", c.agg, errs, c.want)
		}
	}
}
