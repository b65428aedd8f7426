package auth

import (
	"strings"
	"testing"
)

// compileProblems compiles cfg and returns its problems as text lines.
func compileProblems(t *testing.T, cfg string) []string {
	t.Helper()
	s, errs := compileErrs(t, cfg)
	defer s.Close()
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func expectProblem(t *testing.T, cfg, want string) {
	t.Helper()
	got := compileProblems(t, cfg)
	for _, g := range got {
		if strings.Contains(g, want) {
			return
		}
	}
	t.Fatalf("problems %q do not include %q", got, want)
}

func TestConfigTypeRequired(t *testing.T) {
	expectProblem(t, `{"auth": {"users": {"secret": "x"}}}`, "auth.users.type: required")
}

func TestConfigTypeUnknown(t *testing.T) {
	expectProblem(t, `{"auth": {"users": {"type": "oauth"}}}`, `auth.users.type: unknown auth type "oauth"`)
}

func TestConfigUnknownAlgorithm(t *testing.T) {
	expectProblem(t, `{"auth": {"users": {"type": "jwt", "secret": "s", "algorithms": ["HS256", "XS999"]}}}`,
		`auth.users.algorithms[1]: unknown algorithm "XS999"`)
}

func TestConfigAlgorithmNone(t *testing.T) {
	expectProblem(t, `{"auth": {"users": {"type": "jwt", "secret": "s", "algorithms": ["none"]}}}`,
		`auth.users.algorithms[0]: algorithm "none" is never allowed`)
}

func TestConfigSecretWithPublicKeyAlgorithm(t *testing.T) {
	expectProblem(t, `{"auth": {"users": {"type": "jwt", "secret": "s", "algorithms": ["RS256"]}}}`,
		`auth.users.algorithms: no listed algorithm works with a shared secret`)
	// A list that also names HS256 (as the contract's example does) loads;
	// the public-key algorithms are ignored with a warning.
	compile(t, `{"auth": {"users": {"type": "jwt", "secret": "s", "algorithms": ["RS256", "ES256", "EdDSA", "HS256"]}},
		"routes": []}`)
}

func TestConfigNoKeySource(t *testing.T) {
	expectProblem(t, `{"auth": {"users": {"type": "jwt"}}}`, "auth.users: jwt needs a key source")
}

func TestConfigTwoKeySources(t *testing.T) {
	expectProblem(t, `{"auth": {"users": {"type": "jwt", "secret": "s", "secret_env": "HOME"}}}`,
		"auth.users: use either secret or secret_env, not both")
	expectProblem(t, `{"auth": {"users": {"type": "jwt", "jwks_file": "/nonexistent", "jwks_url": "https://idp.example/jwks"}}}`,
		"auth.users: use either jwks_file or jwks_url, not both")
}

func TestConfigSecretEnvUnset(t *testing.T) {
	expectProblem(t, `{"auth": {"users": {"type": "jwt", "secret_env": "SLUICE_TEST_UNSET_VAR"}}}`,
		`auth.users.secret_env: environment variable "SLUICE_TEST_UNSET_VAR" is not set`)
}

func TestConfigSecretEnvSet(t *testing.T) {
	t.Setenv("SLUICE_TEST_JWT_SECRET", testSecret)
	s := compile(t, `{"auth": {"users": {"type": "jwt", "secret_env": "SLUICE_TEST_JWT_SECRET"}}}`)
	expectOK(t, run(route(t, s, "users"), bearer(sign(t, "HS256", []byte(testSecret), "", nil, claims(nil)))), "alice")
}

func TestConfigJWKSFileMissing(t *testing.T) {
	expectProblem(t, `{"auth": {"users": {"type": "jwt", "jwks_file": "/nonexistent/jwks.json"}}}`, "auth.users.jwks_file: ")
}

func TestConfigJWKSURLInvalid(t *testing.T) {
	expectProblem(t, `{"auth": {"users": {"type": "jwt", "jwks_url": "ftp://x"}}}`, "auth.users.jwks_url: must be an absolute http or https URL")
}

func TestConfigFieldOfOtherType(t *testing.T) {
	expectProblem(t, `{"auth": {"p": {"type": "api_key", "keys": {"a": "sha256:`+strings.Repeat("ab", 32)+`"}, "issuer": "x"}}}`,
		`auth.p.issuer: not used by auth type "api_key"`)
}

func TestConfigForwardClaimBadHeader(t *testing.T) {
	expectProblem(t, `{"auth": {"users": {"type": "jwt", "secret": "s", "forward_claims": {"sub": "X User"}}}}`,
		`auth.users.forward_claims.sub: invalid header name "X User"`)
	expectProblem(t, `{"auth": {"users": {"type": "jwt", "secret": "s", "forward_claims": {"sub": "Host"}}}}`,
		`auth.users.forward_claims.sub: header "Host" cannot be set from a claim`)
}

func TestConfigAPIKeyClearText(t *testing.T) {
	expectProblem(t, `{"auth": {"partners": {"type": "api_key", "keys": {"acme": "my-secret-key"}}}}`,
		`auth.partners.keys.acme: must be "sha256:<64 hex digits>"`)
	expectProblem(t, `{"auth": {"partners": {"type": "api_key", "keys": {"acme": "sha256:abc"}}}}`,
		`auth.partners.keys.acme: must be "sha256:<64 hex digits>"`)
}

func TestConfigAPIKeyNoKeys(t *testing.T) {
	expectProblem(t, `{"auth": {"partners": {"type": "api_key"}}}`, "auth.partners.keys: required")
}

func TestConfigHMACSecretEnvUnset(t *testing.T) {
	expectProblem(t, `{"auth": {"signed": {"type": "hmac", "keys": {"svc-a": {"secret_env": "SLUICE_TEST_UNSET_VAR"}}}}}`,
		`auth.signed.keys.svc-a.secret_env: environment variable "SLUICE_TEST_UNSET_VAR" is not set`)
}

func TestConfigHMACKeyUnknownField(t *testing.T) {
	expectProblem(t, `{"auth": {"signed": {"type": "hmac", "keys": {"svc-a": {"secret": "s", "extra": 1}}}}}`, "auth.signed.keys.svc-a: ")
	expectProblem(t, `{"auth": {"signed": {"type": "hmac", "keys": {"svc-a": {}}}}}`, "auth.signed.keys.svc-a: needs exactly one of secret or secret_env")
}

func TestConfigMTLSNeedsClientAuth(t *testing.T) {
	expectProblem(t, `{"auth": {"machines": {"type": "mtls"}}}`,
		`auth.machines: mtls needs server.tls.client_auth "request" or "require"`)
	expectProblem(t, `{"server": {"tls": {"client_auth": "none"}}, "auth": {"machines": {"type": "mtls"}}}`,
		`auth.machines: mtls needs server.tls.client_auth "request" or "require"`)
	if p := compileProblems(t, `{"server": {"tls": {"client_auth": "require"}}, "auth": {"machines": {"type": "mtls"}}}`); len(p) > 0 {
		t.Fatalf("valid mtls policy rejected: %v", p)
	}
}

func TestConfigRouteUnknownPolicy(t *testing.T) {
	s := compile(t, hsConfig)
	_, errs := s.Route("x", nil, "routes[2]")
	if len(errs) != 1 || errs[0].Error() != `routes[2].auth: unknown auth policy "x"` {
		t.Fatalf("errors = %v", errs)
	}
}

func TestConfigScopesWithoutAuth(t *testing.T) {
	s := compile(t, hsConfig)
	_, errs := s.Route("", []string{"products:read"}, "routes[1]")
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "routes[1].scopes: ") {
		t.Fatalf("errors = %v", errs)
	}
}

func TestConfigScopesOnAPIKeyPolicy(t *testing.T) {
	s := compile(t, `{"auth": {"p": {"type": "api_key", "keys": {"a": "sha256:`+strings.Repeat("ab", 32)+`"}}}}`)
	_, errs := s.Route("p", []string{"x"}, "routes[0]")
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "routes[0].scopes: ") {
		t.Fatalf("errors = %v", errs)
	}
}
