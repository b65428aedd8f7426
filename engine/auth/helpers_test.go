package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	json "github.com/goccy/go-json"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

// testKeys are generated once per test binary (RSA generation is slow).
type testKeys struct {
	rsa, rsa2 *rsa.PrivateKey
	ec256     *ecdsa.PrivateKey
	ec384     *ecdsa.PrivateKey
	ed        ed25519.PrivateKey
}

var (
	keysOnce sync.Once
	keysVal  testKeys
)

func keys(t testing.TB) *testKeys {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if keysVal.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if keysVal.rsa2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if keysVal.ec256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if keysVal.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
			panic(err)
		}
		if _, keysVal.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
	return &keysVal
}

const testSecret = "0123456789abcdef0123456789abcdef"

// claims returns standard valid claims; extra entries override or add.
func claims(extra map[string]any) map[string]any {
	now := time.Now().Unix()
	c := map[string]any{
		"sub": "alice", "iss": "https://issuer.example", "aud": "shop",
		"iat": now, "nbf": now - 10, "exp": now + 3600,
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// sign makes a compact JWS with jwx. hdr adds protected header fields.
func sign(t testing.TB, alg string, key any, kid string, hdr map[string]any, c map[string]any) string {
	t.Helper()
	a, ok := jwa.LookupSignatureAlgorithm(alg)
	if !ok {
		t.Fatalf("unknown alg %s", alg)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	h := jws.NewHeaders()
	if kid != "" {
		_ = h.Set(jws.KeyIDKey, kid)
	}
	for k, v := range hdr {
		if err := h.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := jws.Sign(payload, jws.WithKey(a, key, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatalf("sign %s: %v", alg, err)
	}
	return string(tok)
}

// rawToken assembles a token from a header and claims without signing
// (for "none" and malformed-header cases).
func rawToken(t testing.TB, header string, c map[string]any, sig string) string {
	t.Helper()
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString(payload) + "." + sig
}

// jwksDoc builds a JWKS document of public keys, each {kid: key}.
func jwksDoc(t testing.TB, ks map[string]crypto.Signer) []byte {
	t.Helper()
	set := jwk.NewSet()
	for kid, k := range ks {
		jk, err := jwk.Import(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		_ = jk.Set(jwk.KeyIDKey, kid)
		if err := set.AddKey(jk); err != nil {
			t.Fatal(err)
		}
	}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// compile builds a Set holding the policy name, failing on problems.
func compile(t testing.TB, name string, p Policy) *Set {
	t.Helper()
	s, err := compileErrs(t, name, p)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func compileErrs(t testing.TB, name string, p Policy) (*Set, error) {
	t.Helper()
	s := New(metrics.NewSet())
	return s, s.Add(name, p)
}

func route(t testing.TB, s *Set, policy string, scopes ...string) *Route {
	t.Helper()
	r, err := s.Route(policy, scopes)
	if err != nil {
		t.Fatalf("route: %v", err)
	}
	return r
}

// exchange makes an Exchange whose request carries the given headers.
func exchange(headers ...string) *pipeline.Exchange {
	x := &pipeline.Exchange{Ctx: &fasthttp.RequestCtx{}}
	x.Ctx.Request.SetRequestURI("/api/products/1")
	for i := 0; i+1 < len(headers); i += 2 {
		x.Ctx.Request.Header.Set(headers[i], headers[i+1])
	}
	return x
}

func bearer(tok string) *pipeline.Exchange { return exchange("Authorization", "Bearer "+tok) }

// result is what a check did to an exchange.
type result struct {
	ok        bool
	status    int
	code, msg string
	www       string
	consumer  string
}

func run(r *Route, x *pipeline.Exchange) result {
	ok := r.Check(x)
	rej, _ := x.Rejected()
	x.ApplyResponseHeaders(&x.Ctx.Response.Header)
	return result{ok: ok, status: rej.Status, code: rej.Code, msg: rej.Message,
		www: string(x.Ctx.Response.Header.Peek("WWW-Authenticate")), consumer: string(x.Consumer)}
}

func expectOK(t *testing.T, res result, consumer string) {
	t.Helper()
	if !res.ok || res.status != 0 {
		t.Fatalf("rejected: %+v", res)
	}
	if res.consumer != consumer {
		t.Fatalf("consumer = %q, want %q", res.consumer, consumer)
	}
}

func expect401(t *testing.T, res result, msgPart string) {
	t.Helper()
	if res.ok || res.status != 401 || res.code != fault.Unauthorized.Code() {
		t.Fatalf("want 401 unauthorized, got %+v", res)
	}
	if !strings.Contains(res.msg, msgPart) {
		t.Fatalf("message %q does not mention %q", res.msg, msgPart)
	}
	if res.www == "" {
		t.Fatalf("401 without WWW-Authenticate")
	}
}

// hsPolicy is a jwt policy with a shared secret.
func hsPolicy() Policy {
	return Policy{Type: "jwt", JWT: JWTOptions{Secret: testSecret,
		Algorithms: []string{"HS256", "HS384", "HS512"}, Issuer: "https://issuer.example",
		Audience: []string{"shop", "admin"}, ForwardClaims: map[string]string{"sub": "X-User-Id", "tier": "X-User-Tier"}}}
}

func writeFile(name string, data []byte) error { return os.WriteFile(name, data, 0o600) }
