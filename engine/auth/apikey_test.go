package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func digest(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func apiKeySet(t *testing.T, header string) *Set {
	return compile(t, "partners", Policy{Type: "api_key", APIKey: APIKeyOptions{Header: header, Keys: map[string]string{
		"acme": digest("acme-key-1"), "globex": digest("globex-key-2")}}})
}

func TestAPIKeyValid(t *testing.T) {
	r := route(t, apiKeySet(t, ""), "partners")
	expectOK(t, run(r, exchange("X-API-Key", "acme-key-1")), "acme")
	expectOK(t, run(r, exchange("x-api-key", "globex-key-2")), "globex")
}

func TestAPIKeyWrong(t *testing.T) {
	r := route(t, apiKeySet(t, ""), "partners")
	res := run(r, exchange("X-API-Key", "acme-key-2"))
	expect401(t, res, "invalid API key")
	if res.www != `APIKey realm="sluice", header="X-API-Key"` {
		t.Fatalf("WWW-Authenticate = %q", res.www)
	}
	// The digest itself is not a key.
	expect401(t, run(r, exchange("X-API-Key", digest("acme-key-1"))), "invalid API key")
}

func TestAPIKeyMissing(t *testing.T) {
	r := route(t, apiKeySet(t, ""), "partners")
	expect401(t, run(r, exchange()), "missing API key")
}

func TestAPIKeyCustomHeader(t *testing.T) {
	r := route(t, apiKeySet(t, "X-Partner-Key"), "partners")
	expectOK(t, run(r, exchange("X-Partner-Key", "acme-key-1")), "acme")
	expect401(t, run(r, exchange("X-API-Key", "acme-key-1")), "missing API key")
}

func TestAPIKeyZeroAllocs(t *testing.T) {
	r := route(t, apiKeySet(t, ""), "partners")
	x := exchange("X-API-Key", "globex-key-2")
	allocs := testing.AllocsPerRun(1000, func() {
		if !r.Check(x) {
			t.Fatal("rejected")
		}
	})
	if allocs != 0 {
		t.Fatalf("api key check allocates %.1f times", allocs)
	}
}
