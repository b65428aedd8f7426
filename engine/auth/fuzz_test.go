package auth

import (
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// FuzzJWT sends arbitrary Authorization values through a jwt policy (shared
// secret, file JWKS) and an hmac policy: nothing may panic, and nothing the
// fuzzer can build without the keys may authenticate.
func FuzzJWT(f *testing.F) {
	k := keys(f)
	good := sign(f, "HS256", []byte(testSecret), "", nil, claims(nil))
	f.Add("Bearer " + good)
	f.Add("Bearer " + good[:len(good)-2])
	f.Add("Bearer " + rawToken(f, `{"alg":"none"}`, claims(nil), ""))
	f.Add("Bearer " + rawToken(f, `{"alg":"HS256","crit":["b64"],"b64":false}`, claims(nil), "AAAA"))
	f.Add("Bearer " + sign(f, "RS256", k.rsa2, "x", nil, claims(nil)))
	f.Add("Bearer e30.e30.")
	f.Add("bearer ....")
	f.Add("SLUICE-HMAC-SHA256 KeyId=svc-a, SignedHeaders=host, Signature=00")
	f.Add("")

	s, err := compileErrs(f, "users", hsPolicy())
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	r := route(f, s, "users")
	hs, err := compileErrs(f, "signed", Policy{Type: "hmac", HMAC: HMACOptions{Keys: map[string]HMACKey{"svc-a": {Secret: "s"}}}})
	if err != nil {
		f.Fatal(err)
	}
	defer hs.Close()
	hr := route(f, hs, "signed")

	f.Fuzz(func(t *testing.T, auth string) {
		x := exchange("Authorization", auth)
		if r.Check(x) {
			// Only tokens really signed with the secret may pass (jwx is the
			// independent oracle): the fuzzer cannot forge one.
			tok, _ := bearerToken([]byte(auth))
			if _, err := jws.Verify(tok, jws.WithKey(jwa.HS256(), []byte(testSecret))); err != nil {
				t.Fatalf("authenticated %q", auth)
			}
		} else if rej, _ := x.Rejected(); rej.Status != 401 {
			t.Fatalf("status %d for %q", rej.Status, auth)
		}
		if hr.Check(exchange("Authorization", auth, "X-Sluice-Date", "20261129T031500Z")) {
			t.Fatalf("hmac authenticated %q", auth)
		}
	})
}
