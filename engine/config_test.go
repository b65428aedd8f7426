package engine_test

import (
	"strings"
	"testing"
)

// TestConfigErrors feeds malformed configs on purpose: each must be refused
// with a message naming the JSON path of the problem.
func TestConfigErrors(t *testing.T) {
	const base = `"server": {"listen": "127.0.0.1:0"}, "services": {"catalog": {"targets": ["127.0.0.1:9"]}}`
	cases := []struct {
		name, cfg, want string
	}{
		{"not json", `{"server":`, "config is not valid JSON"},
		{"unknown top key", `{` + base + `, "routez": []}`, "routez: unknown key"},
		{"unknown nested key", `{"server": {"listen": "127.0.0.1:0", "lissen": 1}, "services": {}, "routes": []}`, "server.lissen: unknown key"},
		{"wrong type", `{` + base + `, "routes": [{"name": 5, "path": "/a", "service": "catalog"}]}`, "routes[0].name: expected a string"},
		{"bad duration", `{"server": {"read_timeout": "soon"}, "services": {"catalog": {"targets": ["127.0.0.1:9"]}}, "routes": [{"name": "a", "path": "/a", "service": "catalog"}]}`, `server.read_timeout: invalid duration "soon"`},
		{"unknown service", `{` + base + `, "routes": [{"name": "a", "path": "/a", "service": "catalog"}, {"name": "b", "path": "/b", "service": "catalgo"}]}`, `routes[1].service: unknown service "catalgo"`},
		{"no routes", `{` + base + `}`, "routes: at least one route is required"},
		{"missing name", `{` + base + `, "routes": [{"path": "/a", "service": "catalog"}]}`, "routes[0].name: required"},
		{"duplicate name", `{` + base + `, "routes": [{"name": "a", "path": "/a", "service": "catalog"}, {"name": "a", "path": "/b", "service": "catalog"}]}`, `routes[1].name: duplicate route name "a"`},
		{"bad method", `{` + base + `, "routes": [{"name": "a", "path": "/a", "methods": ["get"], "service": "catalog"}]}`, `routes[0].methods[0]: unknown method "get"`},
		{"bad pattern", `{` + base + `, "routes": [{"name": "a", "path": "/a/{x", "service": "catalog"}]}`, "routes[0].path:"},
		{"conflict", `{` + base + `, "routes": [{"name": "a", "path": "/a/{x}", "service": "catalog"}, {"name": "b", "path": "/a/{y}", "service": "catalog"}]}`, "routes[1].path: conflicts with route 0"},
		{"bad target", `{"server": {}, "services": {"catalog": {"targets": ["nowhere"]}}, "routes": [{"name": "a", "path": "/a", "service": "catalog"}]}`, `services.catalog.targets[0]: invalid address "nowhere"`},
		{"no targets", `{"services": {"catalog": {"targets": []}}, "routes": [{"name": "a", "path": "/a", "service": "catalog"}]}`, "services.catalog.targets: at least one target is required"},
		{"bad balancer", `{"services": {"catalog": {"targets": ["127.0.0.1:9"], "balancer": "random"}}, "routes": [{"name": "a", "path": "/a", "service": "catalog"}]}`, `services.catalog.balancer: unknown balancer "random"`},
		{"bad protocol", `{"services": {"catalog": {"targets": ["127.0.0.1:9"], "protocol": "ftp"}}, "routes": [{"name": "a", "path": "/a", "service": "catalog"}]}`, `services.catalog.protocol: unknown protocol "ftp"`},
		{"bad trusted proxy", `{"server": {"trusted_proxies": ["10.0.0.0/8", "nope"]}, "services": {"catalog": {"targets": ["127.0.0.1:9"]}}, "routes": [{"name": "a", "path": "/a", "service": "catalog"}]}`, `server.trusted_proxies[1]: invalid CIDR or address "nope"`},
		{"bad access log", `{"server": {"access_log": "stderr"}, "services": {"catalog": {"targets": ["127.0.0.1:9"]}}, "routes": [{"name": "a", "path": "/a", "service": "catalog"}]}`, "server.access_log:"},
		{"bad rewrite param", `{` + base + `, "routes": [{"name": "a", "path": "/a/{id}", "rewrite": "/b/{sku}", "service": "catalog"}]}`, "routes[0].rewrite: unknown path parameter {sku}"},
		{"scopes without auth", `{` + base + `, "routes": [{"name": "a", "path": "/a", "scopes": ["x"], "service": "catalog"}]}`, "routes[0].scopes:"},
		{"bad header op", `{` + base + `, "routes": [{"name": "a", "path": "/a", "service": "catalog", "request_headers": {"set": {"Bad Name": "x"}}}]}`, "routes[0].request_headers.set.Bad Name: invalid header name"},
		{"negative body", `{"server": {"max_body_bytes": -1}, "services": {"catalog": {"targets": ["127.0.0.1:9"]}}, "routes": [{"name": "a", "path": "/a", "service": "catalog"}]}`, "server.max_body_bytes: must not be negative"},
		{"grpc", `{"services": {"catalog": {"targets": ["127.0.0.1:9"], "protocol": "grpc"}}, "routes": [{"name": "a", "path": "/a", "service": "catalog", "grpc_method": "a.B/C"}]}`, "services.catalog.descriptor_set: required"},
		{"negative pipelining", `{"services": {"catalog": {"targets": ["127.0.0.1:9"], "pipelining": -1}}, "routes": [{"name": "a", "path": "/a", "service": "catalog"}]}`, "services.catalog.pipelining: must not be negative"},
		{"pipelining over pool", `{"services": {"catalog": {"targets": ["127.0.0.1:9"], "max_conns_per_target": 2, "pipelining": 3}}, "routes": [{"name": "a", "path": "/a", "service": "catalog"}]}`, "services.catalog.pipelining: must not exceed max_conns_per_target (2)"},
		{"pipelining grpc", `{"services": {"catalog": {"targets": ["127.0.0.1:9"], "protocol": "grpc", "pipelining": 1}}, "routes": [{"name": "a", "path": "/a/{m}", "service": "catalog"}]}`, "services.catalog.pipelining: only for protocol"},
		{"websocket with cache", `{` + base + `, "routes": [{"name": "a", "path": "/a", "service": "catalog", "websocket": true, "cache": {"ttl": "1s"}}]}`, "routes[0].websocket:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := compileErrors(t, c.cfg)
			if len(errs) == 0 {
				t.Fatalf("config compiled, want error %q", c.want)
			}
			for _, e := range errs {
				if strings.Contains(e, c.want) {
					return
				}
			}
			t.Fatalf("errors %q do not contain %q", errs, c.want)
		})
	}
}

// TestConfigReportsEveryProblem checks that one run lists all problems.
func TestConfigReportsEveryProblem(t *testing.T) {
	errs := compileErrors(t, `{
  "server": {"bogus": 1},
  "services": {"a": {"targets": ["x"]}},
  "routes": [{"name": "r", "path": "/r", "service": "b"}, {"name": "s", "path": "s", "service": "a"}]
}`)
	want := []string{"server.bogus: unknown key", `services.a.targets[0]`, `routes[0].service: unknown service "b"`, `routes[1].path: must start with '/'`}
	for _, w := range want {
		found := false
		for _, e := range errs {
			found = found || strings.Contains(e, w)
		}
		if !found {
			t.Errorf("missing %q in %q", w, errs)
		}
	}
}

// TestHeaderNamesAreTokensEverywhere checks that every configured header name
// follows the same rule, RFC 9110 token characters: "X.Id" is accepted in each
// place a header is named, and "X Id" refused in each.
func TestHeaderNamesAreTokensEverywhere(t *testing.T) {
	cfg := func(h string) string {
		return `{"services": {"a": {"targets": ["127.0.0.1:9"]}, "b": {"targets": ["127.0.0.1:9"]}},
  "auth": {"keys": {"type": "api_key", "header": "` + h + `", "keys": {"acme": "sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"}},
           "users": {"type": "jwt", "algorithms": ["HS256"], "secret": "0123456789abcdef0123456789abcdef", "forward_claims": {"sub": "` + h + `"}}},
  "rate_limits": {"h": {"key": "header:` + h + `", "requests": 10, "per": "1s"}},
  "routes": [
    {"name": "r", "path": "/r", "service": "a", "headers": {"` + h + `": "1"},
     "request_headers": {"set": {"` + h + `": "1"}, "remove": ["` + h + `"]},
     "response_headers": {"set": {"` + h + `": "1"}, "remove": ["` + h + `"]},
     "validate": {"required_headers": ["` + h + `"]},
     "cache": {"ttl": "1s", "vary": ["` + h + `"]},
     "cors": {"allow_origins": ["https://app.example"], "allow_headers": ["` + h + `"], "expose_headers": ["` + h + `"]},
     "rate_limits": ["h"],
     "split": {"by": "header:` + h + `", "services": [{"service": "b", "percent": 50}]}},
    {"name": "k", "path": "/k", "service": "a", "auth": "keys"},
    {"name": "u", "path": "/u", "service": "a", "auth": "users"}
  ]}`
	}
	if errs := compileErrors(t, cfg("X.Id")); len(errs) != 0 {
		t.Fatalf("X.Id refused: %q", errs)
	}
	errs := strings.Join(compileErrors(t, cfg("X Id")), "\n")
	for _, path := range []string{
		"auth.keys.header", "auth.users.forward_claims.sub", "routes[0].headers.X Id",
		"routes[0].request_headers.set.X Id", "routes[0].request_headers.remove[0]",
		"routes[0].response_headers.set.X Id", "routes[0].response_headers.remove[0]",
		"routes[0].validate.required_headers[0]", "routes[0].cache.vary[0]",
		"routes[0].cors.allow_headers[0]", "routes[0].cors.expose_headers[0]",
		"rate_limits.h.key", "routes[0].split.by",
	} {
		if !strings.Contains(errs, path+":") {
			t.Errorf("X Id: no error at %s in:\n%s", path, errs)
		}
	}
}
