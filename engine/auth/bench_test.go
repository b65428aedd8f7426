package auth

import (
	"bytes"
	"crypto"
	"net/http"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/auth/hmacsign"
)

// benchJWT measures Check on one token; cached=false disables the cache so
// every request verifies the signature.
func benchJWT(b *testing.B, alg string, key crypto.Signer, cached bool) {
	k := keys(b)
	s := fileSetB(b, map[string]crypto.Signer{"rsa": k.rsa, "ec256": k.ec256})
	r := route(b, s, "users", "products:read")
	kid := map[string]string{"RS256": "rsa", "ES256": "ec256"}[alg]
	tok := sign(b, alg, key, kid, nil, claims(map[string]any{"scope": "products:read"}))
	if !cached {
		s.jwts[0].cache = nil
	}
	x := bearer(tok)
	if !r.Check(x) {
		b.Fatal("rejected")
	}
	s.cache.wait()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x.Consumer = x.Consumer[:0]
		if !r.Check(x) {
			b.Fatal("rejected")
		}
	}
}

func fileSetB(b *testing.B, ks map[string]crypto.Signer) *Set {
	name := b.TempDir() + "/jwks.json"
	if err := writeFile(name, jwksDoc(b, ks)); err != nil {
		b.Fatal(err)
	}
	return compile(b, "users", Policy{Type: "jwt", JWT: JWTOptions{JWKSFile: name,
		Algorithms: []string{"RS256", "ES256"}, Issuer: "https://issuer.example", Audience: []string{"shop"},
		ForwardClaims: map[string]string{"sub": "X-User-Id"}}})
}

func BenchmarkJWTRS256Cold(b *testing.B)   { benchJWT(b, "RS256", keys(b).rsa, false) }
func BenchmarkJWTRS256Cached(b *testing.B) { benchJWT(b, "RS256", keys(b).rsa, true) }
func BenchmarkJWTES256Cold(b *testing.B)   { benchJWT(b, "ES256", keys(b).ec256, false) }
func BenchmarkJWTES256Cached(b *testing.B) { benchJWT(b, "ES256", keys(b).ec256, true) }

func BenchmarkJWTCachedParallel(b *testing.B) {
	s := compile(b, "users", hsPolicy())
	r := route(b, s, "users")
	tok := sign(b, "HS256", []byte(testSecret), "", nil, claims(nil))
	if !r.Check(bearer(tok)) {
		b.Fatal("rejected")
	}
	s.cache.wait()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		x := bearer(tok)
		for pb.Next() {
			x.Consumer = x.Consumer[:0]
			if !r.Check(x) {
				b.Fatal("rejected")
			}
		}
	})
}

func BenchmarkAPIKey(b *testing.B) {
	s := compile(b, "partners", Policy{Type: "api_key", APIKey: APIKeyOptions{Keys: map[string]string{"acme": digest("acme-key-1"), "globex": digest("globex-key-2")}}})
	r := route(b, s, "partners")
	x := exchange("X-API-Key", "globex-key-2")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !r.Check(x) {
			b.Fatal("rejected")
		}
	}
}

func BenchmarkHMAC(b *testing.B) {
	s := compile(b, "signed", Policy{Type: "hmac", HMAC: HMACOptions{Keys: map[string]HMACKey{"svc-a": {Secret: "s3cr3t"}}}})
	r := route(b, s, "signed")
	body := []byte(`{"item":"x","qty":2}`)
	req, _ := http.NewRequest("POST", "http://api.example/api/orders?b=2&a=1", bytes.NewReader(body))
	if err := hmacsign.Sign(req, body, "svc-a", []byte("s3cr3t"), time.Now()); err != nil {
		b.Fatal(err)
	}
	x := exchange("Host", "api.example", "Authorization", req.Header.Get("Authorization"),
		hmacsign.HeaderDate, req.Header.Get(hmacsign.HeaderDate), hmacsign.HeaderContentSHA256, req.Header.Get(hmacsign.HeaderContentSHA256))
	x.Ctx.Request.Header.SetMethod("POST")
	x.Ctx.Request.SetRequestURI("/api/orders?b=2&a=1")
	x.Ctx.Request.SetBody(body)
	p := s.hmacs[0]
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p.replay.mu.Lock()
		clear(p.replay.seen) // measure verification, not replay rejection
		p.replay.mu.Unlock()
		if !r.Check(x) {
			rej, _ := x.Rejected()
			b.Fatal(rej.Message)
		}
	}
}
