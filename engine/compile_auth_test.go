package engine_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/engine/auth"
	"github.com/sluice-gw/sluice/engine/config"
)

// TestAuthConfigErrors checks the full JSON paths of auth problems: those
// the compile step finds (fields, the shape of "keys") and those package
// auth reports relative to a policy or a route.
func TestAuthConfigErrors(t *testing.T) {
	const digest = `"sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"`
	cfg := func(server, auth, routeAuth string) string {
		return `{"server": {` + server + `}, "services": {"a": {"targets": ["127.0.0.1:9"]}}, "auth": {` + auth + `},
  "routes": [{"name": "r", "path": "/r", "service": "a"` + routeAuth + `}]}`
	}
	cases := []struct {
		name, cfg, want string
	}{
		{"type required", cfg("", `"users": {"secret": "x"}`, ""), "auth.users.type: required"},
		{"type unknown", cfg("", `"users": {"type": "oauth"}`, ""), `auth.users.type: unknown auth type "oauth"`},
		{"field of other type", cfg("", `"p": {"type": "api_key", "keys": {"a": `+digest+`}, "issuer": "x"}`, ""),
			`auth.p.issuer: not used by auth type "api_key"`},
		{"no key source", cfg("", `"users": {"type": "jwt"}`, ""), "auth.users: jwt needs a key source"},
		{"unknown algorithm", cfg("", `"users": {"type": "jwt", "secret": "s", "algorithms": ["HS256", "XS999"]}`, ""),
			`auth.users.algorithms[1]: unknown algorithm "XS999"`},
		{"jwks url", cfg("", `"users": {"type": "jwt", "jwks_url": "ftp://x"}`, ""), "auth.users.jwks_url: must be an absolute http or https URL"},
		{"jwks refresh", cfg("", `"users": {"type": "jwt", "jwks_url": "https://idp.example/jwks", "jwks_refresh": "10ms"}`, ""),
			"auth.users.jwks_refresh: must be at least 1s"},
		{"forward claim", cfg("", `"users": {"type": "jwt", "secret": "s", "forward_claims": {"sub": "Host"}}`, ""),
			`auth.users.forward_claims.sub: header "Host" cannot be set from a claim`},
		{"api key required", cfg("", `"partners": {"type": "api_key"}`, ""), `auth.partners.keys: required: an object of key name to "sha256:<hex>"`},
		{"api keys not an object", cfg("", `"partners": {"type": "api_key", "keys": ["x"]}`, ""),
			`auth.partners.keys: expected an object of key name to "sha256:<hex>"`},
		{"api keys empty", cfg("", `"partners": {"type": "api_key", "keys": {}}`, ""), "auth.partners.keys: at least one key is required"},
		{"api key not a string", cfg("", `"partners": {"type": "api_key", "keys": {"acme": 5}}`, ""),
			`auth.partners.keys.acme: expected a string "sha256:<64 hex digits>"`},
		{"api key clear text", cfg("", `"partners": {"type": "api_key", "keys": {"acme": "my-secret-key"}}`, ""),
			`auth.partners.keys.acme: must be "sha256:<64 hex digits>"`},
		{"api key empty name", cfg("", `"partners": {"type": "api_key", "keys": {"": 5}}`, ""), "auth.partners.keys.: key name must not be empty"},
		{"api key header", cfg("", `"partners": {"type": "api_key", "header": "X Key", "keys": {"acme": `+digest+`}}`, ""),
			`auth.partners.header: invalid header name "X Key"`},
		{"hmac key unknown field", cfg("", `"signed": {"type": "hmac", "keys": {"svc-a": {"secret": "s", "extra": 1}}}`, ""),
			`auth.signed.keys.svc-a: expected {"secret": ...} or {"secret_env": "VAR"}: `},
		{"hmac keys not an object", cfg("", `"signed": {"type": "hmac", "keys": "s"}`, ""),
			`auth.signed.keys: expected an object of key id to {"secret": ...} or {"secret_env": "VAR"}`},
		{"hmac key id", cfg("", `"signed": {"type": "hmac", "keys": {"a b": {"secret": "s"}}}`, ""),
			"auth.signed.keys.a b: key id must be non-empty visible ASCII"},
		{"hmac secret env", cfg("", `"signed": {"type": "hmac", "keys": {"svc-a": {"secret_env": "SLUICE_TEST_UNSET_VAR"}}}`, ""),
			`auth.signed.keys.svc-a.secret_env: environment variable "SLUICE_TEST_UNSET_VAR" is not set`},
		{"mtls without tls", cfg("", `"machines": {"type": "mtls"}`, ""), `auth.machines: mtls needs server.tls.client_auth "request" or "require"`},
		{"mtls client auth none", cfg(`"tls": {"client_auth": "none"}`, `"machines": {"type": "mtls"}`, ""),
			`auth.machines: mtls needs server.tls.client_auth "request" or "require"`},
		{"route unknown policy", cfg("", `"p": {"type": "api_key", "keys": {"a": `+digest+`}}`, `, "auth": "x"`), `routes[0].auth: unknown auth policy "x"`},
		{"route scopes on api key", cfg("", `"p": {"type": "api_key", "keys": {"a": `+digest+`}}`, `, "auth": "p", "scopes": ["x"]`),
			`routes[0].scopes: auth policy "p" carries no scopes (only jwt policies do)`},
		{"route invalid scope", cfg("", `"users": {"type": "jwt", "secret": "s"}`, `, "auth": "users", "scopes": ["a", "b c"]`),
			`routes[0].scopes[1]: invalid scope "b c"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := compileErrors(t, c.cfg)
			for _, e := range errs {
				if strings.Contains(e, c.want) {
					return
				}
			}
			t.Fatalf("errors %q do not contain %q", errs, c.want)
		})
	}
}

// TestAuthAlgorithmsMatchSchema: the JSON Schema offers exactly the
// algorithms package auth accepts.
func TestAuthAlgorithmsMatchSchema(t *testing.T) {
	if got := auth.Algorithms(); !slices.Equal(got, config.Algorithms) {
		t.Fatalf("auth.Algorithms() = %v, config.Algorithms = %v", got, config.Algorithms)
	}
}
