package auth

import (
	"context"
	"crypto"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// jwksServer is a real JWKS endpoint on 127.0.0.1 whose document and
// health the test controls.
type jwksServer struct {
	url  string
	doc  atomic.Pointer[[]byte]
	down atomic.Bool
	hits atomic.Int64
	srv  *http.Server
}

func startJWKS(t *testing.T, doc []byte) *jwksServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	js := &jwksServer{url: "http://" + ln.Addr().String() + "/.well-known/jwks.json"}
	js.doc.Store(&doc)
	js.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		js.hits.Add(1)
		if js.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*js.doc.Load())
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = js.srv.Serve(ln) }()
	t.Cleanup(func() { _ = js.srv.Close() })
	return js
}

func (js *jwksServer) set(doc []byte) { js.doc.Store(&doc) }

// remoteSet compiles a jwt policy on js and starts its refresh loop.
func remoteSet(t *testing.T, js *jwksServer, refresh time.Duration) *Set {
	t.Helper()
	s := compile(t, "users", Policy{Type: "jwt", JWT: JWTOptions{JWKSURL: js.url, JWKSRefresh: refresh,
		Algorithms: []string{"RS256", "ES256"}, Issuer: "https://issuer.example", Audience: []string{"shop"}}})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s.Start(ctx)
	waitFor(t, func() bool { return len(s.jwts[0].keys.Load().keys) > 0 })
	return s
}

// waitFor polls cond for at most 5 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestJWKSNewKidAcceptedAfterRotation(t *testing.T) {
	k := keys(t)
	js := startJWKS(t, jwksDoc(t, map[string]crypto.Signer{"k1": k.rsa}))
	s := remoteSet(t, js, time.Hour)
	r := route(t, s, "users")
	expectOK(t, run(r, bearer(sign(t, "RS256", k.rsa, "k1", nil, claims(nil)))), "alice")

	// The IdP rotates to k2; a token naming k2 triggers an immediate re-fetch.
	js.set(jwksDoc(t, map[string]crypto.Signer{"k2": k.ec256}))
	expectOK(t, run(r, bearer(sign(t, "ES256", k.ec256, "k2", nil, claims(nil)))), "alice")
}

func TestJWKSOldKidValidUntilNewSetArrives(t *testing.T) {
	k := keys(t)
	js := startJWKS(t, jwksDoc(t, map[string]crypto.Signer{"k1": k.rsa}))
	s := remoteSet(t, js, time.Hour)
	r := route(t, s, "users")
	old := sign(t, "RS256", k.rsa, "k1", nil, claims(nil))
	expectOK(t, run(r, bearer(old)), "alice")
	s.cache.wait()

	// Published but not yet fetched: the old key keeps working (also past the cache).
	js.set(jwksDoc(t, map[string]crypto.Signer{"k2": k.ec256}))
	expectOK(t, run(r, bearer(old)), "alice")
	expectOK(t, run(r, bearer(sign(t, "RS256", k.rsa, "k1", nil, claims(map[string]any{"sub": "bob"})))), "bob")

	// Once the new set arrives, k1 is gone, cached tokens included.
	if err := s.jwts[0].remote.fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	expect401(t, run(r, bearer(old)), "unknown key")
}

func TestJWKSEndpointDownKeepsLastGoodSet(t *testing.T) {
	k := keys(t)
	js := startJWKS(t, jwksDoc(t, map[string]crypto.Signer{"k1": k.rsa}))
	s := remoteSet(t, js, time.Second)
	r := route(t, s, "users")
	js.down.Store(true)
	before := js.hits.Load()
	waitFor(t, func() bool { return js.hits.Load() >= before+2 }) // two failed periodic refreshes
	if err := s.jwts[0].remote.fetch(context.Background()); err == nil {
		t.Fatal("fetch from a down endpoint succeeded")
	}
	expectOK(t, run(r, bearer(sign(t, "RS256", k.rsa, "k1", nil, claims(nil)))), "alice")

	// Garbage from the endpoint is no better than an outage.
	js.down.Store(false)
	js.set([]byte(`{"keys": "nope"}`))
	_ = s.jwts[0].remote.fetch(context.Background())
	expectOK(t, run(r, bearer(sign(t, "RS256", k.rsa, "k1", nil, claims(map[string]any{"sub": "bob"})))), "bob")

	// And a closed socket too.
	_ = js.srv.Close()
	_ = s.jwts[0].remote.fetch(context.Background())
	expectOK(t, run(r, bearer(sign(t, "RS256", k.rsa, "k1", nil, claims(map[string]any{"sub": "carol"})))), "carol")
}

func TestJWKSKidFloodLimited(t *testing.T) {
	k := keys(t)
	js := startJWKS(t, jwksDoc(t, map[string]crypto.Signer{"k1": k.rsa}))
	s := remoteSet(t, js, time.Hour)
	r := route(t, s, "users")
	before := js.hits.Load()
	for i := 0; i < 200; i++ {
		tok := sign(t, "RS256", k.rsa2, "random-"+strconv.Itoa(i), nil, claims(nil))
		expect401(t, run(r, bearer(tok)), "unknown key")
	}
	if got := js.hits.Load() - before; got > 1 {
		t.Fatalf("200 unknown kids caused %d JWKS fetches, want at most 1 per cool-down", got)
	}
	// After the cool-down, an unknown kid may fetch again.
	s.jwts[0].remote.mu.Lock()
	s.jwts[0].remote.lastKid = time.Now().Add(-time.Hour)
	s.jwts[0].remote.mu.Unlock()
	expect401(t, run(r, bearer(sign(t, "RS256", k.rsa2, "again", nil, claims(nil)))), "unknown key")
	if got := js.hits.Load() - before; got != 2 {
		t.Fatalf("fetches after cool-down = %d, want 2", got)
	}
}

func TestJWKSPeriodicRefresh(t *testing.T) {
	k := keys(t)
	js := startJWKS(t, jwksDoc(t, map[string]crypto.Signer{"k1": k.rsa}))
	s := remoteSet(t, js, time.Second)
	js.set(jwksDoc(t, map[string]crypto.Signer{"k1": k.rsa, "k2": k.ec256}))
	waitFor(t, func() bool { return len(s.jwts[0].keys.Load().keys) == 2 })
}

func TestJWKSKidFloodConcurrent(t *testing.T) {
	k := keys(t)
	js := startJWKS(t, jwksDoc(t, map[string]crypto.Signer{"k1": k.rsa}))
	s := remoteSet(t, js, time.Hour)
	r := route(t, s, "users")
	toks := make([]string, 64)
	for i := range toks {
		toks[i] = sign(t, "ES256", k.ec256, "flood-"+strconv.Itoa(i), nil, claims(nil))
	}
	before := js.hits.Load()
	var wg sync.WaitGroup
	var accepted atomic.Int64
	for _, tok := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r.Check(bearer(tok)) {
				accepted.Add(1)
			}
		}()
	}
	wg.Wait()
	if accepted.Load() != 0 {
		t.Fatalf("%d flood tokens accepted", accepted.Load())
	}
	if got := js.hits.Load() - before; got > 1 {
		t.Fatalf("64 concurrent unknown kids caused %d fetches", got)
	}
}
