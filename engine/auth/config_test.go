package auth

import (
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/engine/fielderr"
)

// problems turns err (a fielderr.List) into its problems as text lines.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	list, ok := err.(fielderr.List)
	if !ok {
		t.Fatalf("error %v (%T) is not a fielderr.List", err, err)
	}
	var out []string
	for _, e := range list {
		out = append(out, e.Error())
	}
	return out
}

// compileProblems compiles the policy name and returns its problems as text lines.
func compileProblems(t *testing.T, name string, p Policy) []string {
	t.Helper()
	s, err := compileErrs(t, name, p)
	defer s.Close()
	return problems(t, err)
}

func expectProblem(t *testing.T, name string, p Policy, want string) {
	t.Helper()
	got := compileProblems(t, name, p)
	for _, g := range got {
		if strings.Contains(g, want) {
			return
		}
	}
	t.Fatalf("problems %q do not include %q", got, want)
}

func jwt(o JWTOptions) Policy { return Policy{Type: "jwt", JWT: o} }

func TestConfigTypeRequired(t *testing.T) {
	expectProblem(t, "users", Policy{JWT: JWTOptions{Secret: "x"}}, "type: required")
}

func TestConfigTypeUnknown(t *testing.T) {
	expectProblem(t, "users", Policy{Type: "oauth"}, `type: unknown auth type "oauth"`)
}

func TestConfigUnknownAlgorithm(t *testing.T) {
	expectProblem(t, "users", jwt(JWTOptions{Secret: "s", Algorithms: []string{"HS256", "XS999"}}),
		`algorithms[1]: unknown algorithm "XS999"`)
}

func TestConfigAlgorithmNone(t *testing.T) {
	expectProblem(t, "users", jwt(JWTOptions{Secret: "s", Algorithms: []string{"none"}}),
		`algorithms[0]: algorithm "none" is never allowed`)
}

func TestConfigSecretWithPublicKeyAlgorithm(t *testing.T) {
	expectProblem(t, "users", jwt(JWTOptions{Secret: "s", Algorithms: []string{"RS256"}}),
		`algorithms: no listed algorithm works with a shared secret`)
	// A list that also names HS256 (as the contract's example does) loads;
	// the public-key algorithms are ignored with a warning.
	compile(t, "users", jwt(JWTOptions{Secret: "s", Algorithms: []string{"RS256", "ES256", "EdDSA", "HS256"}}))
}

func TestConfigNoKeySource(t *testing.T) {
	expectProblem(t, "users", jwt(JWTOptions{}), "jwt needs a key source")
}

func TestConfigTwoKeySources(t *testing.T) {
	expectProblem(t, "users", jwt(JWTOptions{Secret: "s", SecretEnv: "HOME"}),
		"use either secret or secret_env, not both")
	expectProblem(t, "users", jwt(JWTOptions{JWKSFile: "/nonexistent", JWKSURL: "https://idp.example/jwks"}),
		"use either jwks_file or jwks_url, not both")
}

func TestConfigSecretEnvUnset(t *testing.T) {
	expectProblem(t, "users", jwt(JWTOptions{SecretEnv: "SLUICE_TEST_UNSET_VAR"}),
		`secret_env: environment variable "SLUICE_TEST_UNSET_VAR" is not set`)
}

func TestConfigSecretEnvSet(t *testing.T) {
	t.Setenv("SLUICE_TEST_JWT_SECRET", testSecret)
	s := compile(t, "users", jwt(JWTOptions{SecretEnv: "SLUICE_TEST_JWT_SECRET"}))
	expectOK(t, run(route(t, s, "users"), bearer(sign(t, "HS256", []byte(testSecret), "", nil, claims(nil)))), "alice")
}

func TestConfigJWKSFileMissing(t *testing.T) {
	expectProblem(t, "users", jwt(JWTOptions{JWKSFile: "/nonexistent/jwks.json"}), "jwks_file: ")
}

func TestConfigJWKSURLInvalid(t *testing.T) {
	expectProblem(t, "users", jwt(JWTOptions{JWKSURL: "ftp://x"}), "jwks_url: must be an absolute http or https URL")
}

func TestConfigForwardClaimBadHeader(t *testing.T) {
	expectProblem(t, "users", jwt(JWTOptions{Secret: "s", ForwardClaims: map[string]string{"sub": "X User"}}),
		`forward_claims.sub: invalid header name "X User"`)
	expectProblem(t, "users", jwt(JWTOptions{Secret: "s", ForwardClaims: map[string]string{"sub": "Host"}}),
		`forward_claims.sub: header "Host" cannot be set from a claim`)
}

func TestConfigAPIKeyClearText(t *testing.T) {
	expectProblem(t, "partners", Policy{Type: "api_key", APIKey: APIKeyOptions{Keys: map[string]string{"acme": "my-secret-key"}}},
		`keys.acme: must be "sha256:<64 hex digits>"`)
	expectProblem(t, "partners", Policy{Type: "api_key", APIKey: APIKeyOptions{Keys: map[string]string{"acme": "sha256:abc"}}},
		`keys.acme: must be "sha256:<64 hex digits>"`)
}

func TestConfigAPIKeyNoKeys(t *testing.T) {
	expectProblem(t, "partners", Policy{Type: "api_key"}, "keys: required")
}

func TestConfigHMACSecretEnvUnset(t *testing.T) {
	expectProblem(t, "signed", Policy{Type: "hmac", HMAC: HMACOptions{Keys: map[string]HMACKey{"svc-a": {SecretEnv: "SLUICE_TEST_UNSET_VAR"}}}},
		`keys.svc-a.secret_env: environment variable "SLUICE_TEST_UNSET_VAR" is not set`)
}

// TestConfigHMACKeyNoSecret: a key of the wrong JSON shape is the compile
// step's to report (engine tests); a key without a secret is auth's.
func TestConfigHMACKeyNoSecret(t *testing.T) {
	expectProblem(t, "signed", Policy{Type: "hmac", HMAC: HMACOptions{Keys: map[string]HMACKey{"svc-a": {}}}},
		"keys.svc-a: needs exactly one of secret or secret_env")
}

func TestConfigMTLSNeedsClientAuth(t *testing.T) {
	expectProblem(t, "machines", Policy{Type: "mtls"},
		`mtls needs server.tls.client_auth "request" or "require"`)
	if p := compileProblems(t, "machines", Policy{Type: "mtls", MTLS: MTLSOptions{ClientCerts: true}}); len(p) > 0 {
		t.Fatalf("valid mtls policy rejected: %v", p)
	}
}

func TestConfigRouteUnknownPolicy(t *testing.T) {
	s := compile(t, "users", hsPolicy())
	_, err := s.Route("x", nil)
	if errs := problems(t, err); len(errs) != 1 || errs[0] != `auth: unknown auth policy "x"` {
		t.Fatalf("errors = %v", errs)
	}
}

func TestConfigScopesWithoutAuth(t *testing.T) {
	s := compile(t, "users", hsPolicy())
	_, err := s.Route("", []string{"products:read"})
	if errs := problems(t, err); len(errs) != 1 || !strings.HasPrefix(errs[0], "scopes: ") {
		t.Fatalf("errors = %v", errs)
	}
}

func TestConfigScopesOnAPIKeyPolicy(t *testing.T) {
	s := compile(t, "p", Policy{Type: "api_key", APIKey: APIKeyOptions{Keys: map[string]string{"a": "sha256:" + strings.Repeat("ab", 32)}}})
	_, err := s.Route("p", []string{"x"})
	if errs := problems(t, err); len(errs) != 1 || !strings.HasPrefix(errs[0], "scopes: ") {
		t.Fatalf("errors = %v", errs)
	}
}
