package auth

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fileSet compiles a jwt policy "users" reading keys from a JWKS file.
func fileSet(t *testing.T, algs []string, ks map[string]crypto.Signer) *Set {
	t.Helper()
	name := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(name, jwksDoc(t, ks), 0o600); err != nil {
		t.Fatal(err)
	}
	return compile(t, "users", Policy{Type: "jwt", JWT: JWTOptions{JWKSFile: name,
		Algorithms: algs, Issuer: "https://issuer.example", Audience: []string{"shop"}}})
}

func allKeys(t *testing.T) map[string]crypto.Signer {
	k := keys(t)
	return map[string]crypto.Signer{"rsa": k.rsa, "ec256": k.ec256, "ec384": k.ec384, "ed": k.ed}
}

var asymAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}

func TestJWTValidHMAC(t *testing.T) {
	r := route(t, compile(t, "users", hsPolicy()), "users")
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		t.Run(alg, func(t *testing.T) {
			expectOK(t, run(r, bearer(sign(t, alg, []byte(testSecret), "", nil, claims(nil)))), "alice")
		})
	}
}

func TestJWTValidRSA(t *testing.T) {
	r := route(t, fileSet(t, asymAlgs, allKeys(t)), "users")
	for _, alg := range []string{"RS256", "RS384", "RS512"} {
		t.Run(alg, func(t *testing.T) {
			expectOK(t, run(r, bearer(sign(t, alg, keys(t).rsa, "rsa", nil, claims(nil)))), "alice")
		})
	}
}

func TestJWTValidRSAPSS(t *testing.T) {
	r := route(t, fileSet(t, asymAlgs, allKeys(t)), "users")
	for _, alg := range []string{"PS256", "PS384", "PS512"} {
		t.Run(alg, func(t *testing.T) {
			expectOK(t, run(r, bearer(sign(t, alg, keys(t).rsa, "rsa", nil, claims(nil)))), "alice")
		})
	}
}

func TestJWTValidECDSA(t *testing.T) {
	r := route(t, fileSet(t, asymAlgs, allKeys(t)), "users")
	expectOK(t, run(r, bearer(sign(t, "ES256", keys(t).ec256, "ec256", nil, claims(nil)))), "alice")
	expectOK(t, run(r, bearer(sign(t, "ES384", keys(t).ec384, "ec384", nil, claims(nil)))), "alice")
}

func TestJWTValidEdDSA(t *testing.T) {
	r := route(t, fileSet(t, asymAlgs, allKeys(t)), "users")
	expectOK(t, run(r, bearer(sign(t, "EdDSA", keys(t).ed, "ed", nil, claims(nil)))), "alice")
}

func TestJWTNoKidTriesMatchingKeys(t *testing.T) {
	r := route(t, fileSet(t, asymAlgs, allKeys(t)), "users")
	expectOK(t, run(r, bearer(sign(t, "ES256", keys(t).ec256, "", nil, claims(nil)))), "alice")
}

func TestJWTAlgorithmNotInPolicy(t *testing.T) {
	r := route(t, fileSet(t, []string{"ES256"}, allKeys(t)), "users")
	expect401(t, run(r, bearer(sign(t, "RS256", keys(t).rsa, "rsa", nil, claims(nil)))), "algorithm not allowed")
}

func TestJWTExpired(t *testing.T) {
	r := route(t, compile(t, "users", hsPolicy()), "users")
	tok := sign(t, "HS256", []byte(testSecret), "", nil, claims(map[string]any{"exp": time.Now().Unix() - 60}))
	res := run(r, bearer(tok))
	expect401(t, res, "expired")
	if res.www != `Bearer error="invalid_token"` {
		t.Fatalf("WWW-Authenticate = %q", res.www)
	}
	if strings.Contains(res.msg, tok[:20]) {
		t.Fatal("message echoes the token")
	}
}

func TestJWTLeeway(t *testing.T) {
	p := hsPolicy()
	p.JWT.Leeway = 2 * time.Minute
	r := route(t, compile(t, "users", p), "users")
	tok := sign(t, "HS256", []byte(testSecret), "", nil, claims(map[string]any{"exp": time.Now().Unix() - 60}))
	expectOK(t, run(r, bearer(tok)), "alice")
}

func TestJWTNotYetValid(t *testing.T) {
	r := route(t, compile(t, "users", hsPolicy()), "users")
	tok := sign(t, "HS256", []byte(testSecret), "", nil, claims(map[string]any{"nbf": time.Now().Unix() + 600}))
	expect401(t, run(r, bearer(tok)), "not valid yet")
}

func TestJWTIssuedInFuture(t *testing.T) {
	r := route(t, compile(t, "users", hsPolicy()), "users")
	tok := sign(t, "HS256", []byte(testSecret), "", nil, claims(map[string]any{"iat": time.Now().Unix() + 600}))
	expect401(t, run(r, bearer(tok)), "issued in the future")
}

func TestJWTWrongIssuer(t *testing.T) {
	r := route(t, compile(t, "users", hsPolicy()), "users")
	tok := sign(t, "HS256", []byte(testSecret), "", nil, claims(map[string]any{"iss": "https://evil.example"}))
	expect401(t, run(r, bearer(tok)), "issuer")
}

func TestJWTWrongAudience(t *testing.T) {
	r := route(t, compile(t, "users", hsPolicy()), "users")
	tok := sign(t, "HS256", []byte(testSecret), "", nil, claims(map[string]any{"aud": []string{"other", "more"}}))
	expect401(t, run(r, bearer(tok)), "audience")
	tok = sign(t, "HS256", []byte(testSecret), "", nil, claims(map[string]any{"aud": nil}))
	expect401(t, run(r, bearer(tok)), "audience")
}

func TestJWTAudienceAnyOfListed(t *testing.T) {
	r := route(t, compile(t, "users", hsPolicy()), "users")
	tok := sign(t, "HS256", []byte(testSecret), "", nil, claims(map[string]any{"aud": []string{"other", "admin"}}))
	expectOK(t, run(r, bearer(tok)), "alice")
}

func TestJWTBadSignature(t *testing.T) {
	r := route(t, compile(t, "users", hsPolicy()), "users")
	tok := sign(t, "HS256", []byte("another-secret-another-secret-00"), "", nil, claims(nil))
	expect401(t, run(r, bearer(tok)), "bad signature")

	// A valid token whose payload was swapped keeps the old signature.
	good := sign(t, "HS256", []byte(testSecret), "", nil, claims(nil))
	evil := sign(t, "HS256", []byte(testSecret), "", nil, claims(map[string]any{"sub": "mallory"}))
	p1, p2 := strings.Split(good, "."), strings.Split(evil, ".")
	expect401(t, run(r, bearer(p1[0]+"."+p2[1]+"."+p1[2])), "bad signature")
}

func TestJWTAlgNone(t *testing.T) {
	r := route(t, compile(t, "users", hsPolicy()), "users")
	for _, alg := range []string{"none", "None", "NONE"} {
		tok := rawToken(t, `{"alg":"`+alg+`","typ":"JWT"}`, claims(nil), "")
		expect401(t, run(r, bearer(tok)), "")
		tok = rawToken(t, `{"alg":"`+alg+`"}`, claims(nil), "c2ln")
		expect401(t, run(r, bearer(tok)), "")
	}
}

func TestJWTAlgConfusion(t *testing.T) {
	// The policy allows RS256 and HS256 and publishes an RSA key: an HS256
	// token MACed with the RSA public key (PEM or DER) must not verify.
	k := keys(t)
	r := route(t, fileSet(t, []string{"RS256", "HS256"}, map[string]crypto.Signer{"rsa": k.rsa}), "users")
	der, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	for _, secret := range [][]byte{pemKey, der} {
		for _, kid := range []string{"rsa", ""} {
			tok := sign(t, "HS256", secret, kid, nil, claims(nil))
			res := run(r, bearer(tok))
			expect401(t, res, "")
		}
	}
}

func TestJWTMalformed(t *testing.T) {
	r := route(t, compile(t, "users", hsPolicy()), "users")
	good := sign(t, "HS256", []byte(testSecret), "", nil, claims(nil))
	for _, tok := range []string{
		"abc", "a.b", "a.b.c.d", "..", "a..c", good + ".", "!!!.???.***",
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0", // two segments
		rawToken(t, `not json`, claims(nil), "c2ln"),
		rawToken(t, `{"typ":"JWT"}`, claims(nil), "c2ln"), // no alg
		`{"payload":"e30","signatures":[]}`,               // JSON serialisation
		strings.Repeat("a", 20000) + ".b.c",
	} {
		expect401(t, run(r, bearer(tok)), "")
	}
	// Payload that is not an object.
	tok := sign(t, "HS256", []byte(testSecret), "", nil, nil)
	expect401(t, run(r, bearer(tok)), "")
}

func TestJWTMissingToken(t *testing.T) {
	r := route(t, compile(t, "users", hsPolicy()), "users")
	for _, h := range []string{"", "Basic dXNlcjpwYXNz", "Bearer", "Bearer    "} {
		res := run(r, exchange("Authorization", h))
		expect401(t, res, "missing")
		if res.www != `Bearer realm="sluice"` {
			t.Fatalf("WWW-Authenticate = %q", res.www)
		}
	}
	tok := sign(t, "HS256", []byte(testSecret), "", nil, claims(nil))
	expectOK(t, run(r, exchange("Authorization", "bearer "+tok)), "alice")
}

func TestJWTUnknownKid(t *testing.T) {
	k := keys(t)
	r := route(t, fileSet(t, asymAlgs, map[string]crypto.Signer{"rsa": k.rsa}), "users")
	tok := sign(t, "RS256", k.rsa2, "nobody", nil, claims(nil))
	expect401(t, run(r, bearer(tok)), "unknown key")
}

func TestJWTNoExp(t *testing.T) {
	r := route(t, compile(t, "users", hsPolicy()), "users")
	tok := sign(t, "HS256", []byte(testSecret), "", nil, claims(map[string]any{"exp": nil}))
	expect401(t, run(r, bearer(tok)), "no exp")
	tok = sign(t, "HS256", []byte(testSecret), "", nil, claims(map[string]any{"exp": "tomorrow"}))
	expect401(t, run(r, bearer(tok)), "exp")
}

func TestJWTUnknownCrit(t *testing.T) {
	r := route(t, compile(t, "users", hsPolicy()), "users")
	tok := sign(t, "HS256", []byte(testSecret), "", map[string]any{"crit": []string{"x-magic"}, "x-magic": true}, claims(nil))
	expect401(t, run(r, bearer(tok)), "critical")
}

func TestJWTScopeString(t *testing.T) {
	s := compile(t, "users", hsPolicy())
	tok := sign(t, "HS256", []byte(testSecret), "", nil, claims(map[string]any{"scope": "products:read orders:write"}))
	expectOK(t, run(route(t, s, "users", "products:read"), bearer(tok)), "alice")
	expectOK(t, run(route(t, s, "users", "products:read", "orders:write"), bearer(tok)), "alice")
}

func TestJWTScopeArray(t *testing.T) {
	s := compile(t, "users", hsPolicy())
	tok := sign(t, "HS256", []byte(testSecret), "", nil, claims(map[string]any{"scp": []string{"products:read", "orders:write"}}))
	expectOK(t, run(route(t, s, "users", "orders:write", "products:read"), bearer(tok)), "alice")
}

func TestJWTMissingScope(t *testing.T) {
	s := compile(t, "users", hsPolicy())
	tok := sign(t, "HS256", []byte(testSecret), "", nil, claims(map[string]any{"scope": "products:read"}))
	r := route(t, s, "users", "products:write")
	for i := 0; i < 2; i++ { // cold, then cached
		res := run(r, bearer(tok))
		if res.ok || res.status != 403 || res.code != "forbidden" {
			t.Fatalf("want 403 forbidden, got %+v", res)
		}
		if res.www != `Bearer error="insufficient_scope"` {
			t.Fatalf("WWW-Authenticate = %q", res.www)
		}
		s.cache.wait()
	}
}

func TestJWTForwardClaims(t *testing.T) {
	s := compile(t, "users", hsPolicy())
	tok := sign(t, "HS256", []byte(testSecret), "", nil, claims(map[string]any{"tier": "gold\r\nX-Evil: 1"}))
	x := bearer(tok)
	x.Ctx.Request.Header.Set("X-User-Id", "forged")
	s.StripForwarded(&x.Ctx.Request.Header)
	expectOK(t, run(route(t, s, "users"), x), "alice")
	if got := string(x.Ctx.Request.Header.Peek("X-User-Id")); got != "alice" {
		t.Fatalf("X-User-Id = %q", got)
	}
	if got := string(x.Ctx.Request.Header.Peek("X-User-Tier")); got != "gold  X-Evil: 1" {
		t.Fatalf("X-User-Tier = %q (control characters must be neutralised)", got)
	}
}

func TestForgedForwardHeadersRemovedWithoutAuth(t *testing.T) {
	s := compile(t, "users", hsPolicy())
	x := exchange("X-User-Id", "forged", "x-user-tier", "forged", "X-Other", "kept")
	s.StripForwarded(&x.Ctx.Request.Header) // the engine does this on every route
	if r := route(t, s, ""); r != nil || !r.Check(x) {
		t.Fatal("a route without auth must let the request through")
	}
	for _, h := range []string{"X-User-Id", "X-User-Tier"} {
		if v := x.Ctx.Request.Header.Peek(h); v != nil {
			t.Fatalf("%s = %q survived", h, v)
		}
	}
	if string(x.Ctx.Request.Header.Peek("X-Other")) != "kept" {
		t.Fatal("unrelated header removed")
	}
}

func TestJWTClaimsForRateLimitsAndTemplates(t *testing.T) {
	r := route(t, compile(t, "users", hsPolicy()), "users")
	tok := sign(t, "HS256", []byte(testSecret), "", nil, claims(map[string]any{"org": "acme", "n": 42, "roles": []string{"a", "b"}}))
	x := bearer(tok)
	expectOK(t, run(r, x), "alice")
	for name, want := range map[string]string{"sub": "alice", "org": "acme", "n": "42", "roles": `["a","b"]`} {
		v, ok := x.Claims.Claim(name)
		if !ok || string(v) != want {
			t.Fatalf("claim %s = %q, %v; want %q", name, v, ok, want)
		}
	}
	if _, ok := x.Claims.Claim("nope"); ok {
		t.Fatal("absent claim reported present")
	}
}

func TestJWTCachedTokenStillExpires(t *testing.T) {
	s := compile(t, "users", hsPolicy())
	r := route(t, s, "users")
	exp := time.Now().Unix() + 100
	tok := sign(t, "HS256", []byte(testSecret), "", nil, claims(map[string]any{"exp": exp}))
	expectOK(t, run(r, bearer(tok)), "alice")
	s.cache.wait()
	if s.cache.get(s.jwts[0], []byte(tok), 0, time.Now().Unix()) == nil {
		t.Fatal("token not cached")
	}
	defer func(f func() int64) { nowUnix = f }(nowUnix)
	nowUnix = func() int64 { return exp + 1 }
	expect401(t, run(r, bearer(tok)), "expired")
}

func TestJWTCacheCollisionNeverAccepts(t *testing.T) {
	s := compile(t, "users", hsPolicy())
	p := s.jwts[0]
	good := sign(t, "HS256", []byte(testSecret), "", nil, claims(nil))
	e, err := p.verify([]byte(good), time.Now().Unix())
	if err != nil {
		t.Fatal(err)
	}
	// Store the good entry under the key a forged token hashes to, as if the
	// two collided: the forged token must still be checked from scratch.
	forged := good[:len(good)-4] + "AAAA"
	s.cache.c.SetWithTTL(cacheKey(p.seed, []byte(forged)), e, 1, time.Hour)
	s.cache.wait()
	if got, ok := s.cache.c.Get(cacheKey(p.seed, []byte(forged))); !ok || got != e {
		t.Fatal("setup: colliding entry not stored")
	}
	expect401(t, run(route(t, s, "users"), bearer(forged)), "")
}

func TestJWTCachedZeroAllocs(t *testing.T) {
	s := compile(t, "users", hsPolicy())
	r := route(t, s, "users", "products:read")
	tok := sign(t, "HS256", []byte(testSecret), "", nil, claims(map[string]any{"scope": "products:read"}))
	x := bearer(tok)
	if !r.Check(x) {
		t.Fatal("rejected")
	}
	s.cache.wait()
	if s.cache.get(s.jwts[0], []byte(tok), 0, time.Now().Unix()) == nil {
		t.Fatal("token not cached")
	}
	allocs := testing.AllocsPerRun(1000, func() {
		x.Consumer = x.Consumer[:0]
		if !r.Check(x) {
			t.Fatal("rejected")
		}
	})
	if allocs != 0 {
		t.Fatalf("cached check allocates %.1f times", allocs)
	}
}

// TestVerificationsCounted: sluice_auth_jwt_verifications_total counts
// signature checks, not cache hits (the bench harness reports its rate).
func TestVerificationsCounted(t *testing.T) {
	s := compile(t, "users", hsPolicy())
	r := route(t, s, "users")
	c := s.metrics.GetOrCreateCounter(`sluice_auth_jwt_verifications_total{policy="users"}`)
	before := c.Get()
	for i := range 3 {
		tok := sign(t, "HS256", []byte(testSecret), "", nil, claims(map[string]any{"sub": fmt.Sprint("user-", i)}))
		for range 4 {
			if !r.Check(bearer(tok)) {
				t.Fatal("rejected")
			}
			s.cache.wait()
		}
	}
	if got := c.Get() - before; got != 3 {
		t.Errorf("%d verifications for 3 distinct tokens used 4 times each, want 3", got)
	}
}

// TestJWTSecretAndJWKS checks a policy holding a JWKS and a secret: HS*
// tokens verify with the secret only, the public-key algorithms with the
// JWKS only, and no key verifies an algorithm of another key type.
func TestJWTSecretAndJWKS(t *testing.T) {
	k := keys(t)
	name := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(name, jwksDoc(t, map[string]crypto.Signer{"rsa": k.rsa, "ec256": k.ec256}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, algs := range [][]string{{"RS256", "ES256", "EdDSA", "HS256"}, {}} {
		r := route(t, compile(t, "users", Policy{Type: "jwt", JWT: JWTOptions{JWKSFile: name, Secret: testSecret,
			Algorithms: algs, Issuer: "https://issuer.example", Audience: []string{"shop"}}}), "users")
		expectOK(t, run(r, bearer(sign(t, "HS256", []byte(testSecret), "", nil, claims(nil)))), "alice")
		expectOK(t, run(r, bearer(sign(t, "HS256", []byte(testSecret), "rsa", nil, claims(nil)))), "alice")
		expectOK(t, run(r, bearer(sign(t, "RS256", k.rsa, "rsa", nil, claims(nil)))), "alice")
		expectOK(t, run(r, bearer(sign(t, "ES256", k.ec256, "", nil, claims(nil)))), "alice")
		expect401(t, run(r, bearer(sign(t, "HS256", []byte("another secret of 32 bytes......"), "", nil, claims(nil)))), "")
		expect401(t, run(r, bearer(sign(t, "RS256", k.rsa2, "rsa", nil, claims(nil)))), "")
		// Algorithm confusion: an HS256 token MACed with the RSA public key.
		der, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		for _, secret := range [][]byte{pemKey, der} {
			expect401(t, run(r, bearer(sign(t, "HS256", secret, "rsa", nil, claims(nil)))), "")
		}
	}
}
