package engine_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/tlsconf/tlstest"
)

// TestRateLimitThroughGateway: exact admissions, headers on every answer of
// the route, a 429 that never reaches the upstream, and the instance split of
// a cluster quota without Redis.
func TestRateLimitThroughGateway(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "cluster": {"instances": 2},
  "services": {"s": {"targets": [%q]}},
  "rate_limits": {
    "per-key": {"key": "header:X-Key", "requests": 3, "per": "1m"},
    "fleet": {"key": "route", "requests": 8, "per": "1m", "scope": "cluster"}
  },
  "routes": [
    {"name": "limited", "path": "/limited", "service": "s", "rate_limits": ["per-key"]},
    {"name": "fleet", "path": "/fleet", "service": "s", "rate_limits": ["fleet"]}
  ]
}`, up.addr))
	for i := 0; i < 3; i++ {
		r := do(t, "GET", g.url+"/limited", map[string]string{"X-Key": "a"}, "")
		if r.status != 200 || r.header.Get("RateLimit-Limit") != "3" || r.header.Get("RateLimit-Remaining") != string(rune('2'-i)) {
			t.Fatalf("request %d: %d limit=%q remaining=%q", i, r.status, r.header.Get("RateLimit-Limit"), r.header.Get("RateLimit-Remaining"))
		}
	}
	before := up.Hits.Load()
	r := do(t, "GET", g.url+"/limited", map[string]string{"X-Key": "a"}, "")
	r.wantError(t, 429, "rate_limited")
	if r.header.Get("Retry-After") == "" || r.header.Get("RateLimit-Remaining") != "0" {
		t.Errorf("429 headers: %v", r.header)
	}
	if up.Hits.Load() != before {
		t.Errorf("a rejected request reached the upstream")
	}
	// Another key has its own bucket.
	if r := do(t, "GET", g.url+"/limited", map[string]string{"X-Key": "b"}, ""); r.status != 200 {
		t.Errorf("independent key: %d", r.status)
	}
	// scope cluster without Redis: 8 / 2 instances = 4 here.
	admitted := 0
	for i := 0; i < 8; i++ {
		if get(t, g.url+"/fleet").status == 200 {
			admitted++
		}
	}
	if admitted != 4 {
		t.Errorf("cluster split admitted %d of 8, want 4", admitted)
	}
}

// TestCachedRouteStillAuthenticates: a cached answer is never served to a
// request that auth rejects, and forward_claims headers are overwritten.
func TestCachedRouteStillAuthenticates(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"s": {"targets": [%q]}},
  "auth": {"keys": {"type": "api_key", "keys": {"acme": "sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"}}},
  "routes": [
    {"name": "cached", "path": "/cached", "service": "s", "auth": "keys", "cache": {"ttl": "1m"}},
    {"name": "open", "path": "/open", "service": "s"}
  ]
}`, up.addr))
	key := map[string]string{"X-API-Key": "secret"}
	if r := do(t, "GET", g.url+"/cached", key, ""); r.status != 200 || r.header.Get("X-Cache") != "MISS" {
		t.Fatalf("first: %d %q", r.status, r.header.Get("X-Cache"))
	}
	if r := do(t, "GET", g.url+"/cached", key, ""); r.header.Get("X-Cache") != "HIT" {
		t.Fatalf("second: %q", r.header.Get("X-Cache"))
	}
	do(t, "GET", g.url+"/cached", nil, "").wantError(t, 401, "unauthorized")
	do(t, "GET", g.url+"/cached", map[string]string{"X-API-Key": "wrong"}, "").wantError(t, 401, "unauthorized")
	if up.Hits.Load() != 1 {
		t.Errorf("upstream hits %d, want 1", up.Hits.Load())
	}
}

// TestMutualTLSConsumerReachesRateLimit: over a TLS listener requiring client
// certificates, the certificate's CN is the consumer a limit is keyed on, and
// the upstream learns the client came over https.
func TestMutualTLSConsumerReachesRateLimit(t *testing.T) {
	ca := tlstest.NewCA(t, "test-ca")
	server := ca.Server(t, []string{"127.0.0.1", "localhost"}, tlstest.Options{})
	alice := ca.Client(t, "alice", tlstest.Options{})
	bob := ca.Client(t, "bob", tlstest.Options{})
	up := startUpstream(t, "echo")
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off",
             "tls": {"certificates": [{"cert_file": %q, "key_file": %q}], "client_ca_file": %q, "client_auth": "require"}},
  "services": {"s": {"targets": [%q]}},
  "auth": {"machines": {"type": "mtls"}},
  "rate_limits": {"per-machine": {"key": "consumer", "requests": 2, "per": "1m"}},
  "routes": [{"name": "m", "path": "/m", "service": "s", "auth": "machines", "rate_limits": ["per-machine"]}]
}`, server.CertFile, server.KeyFile, ca.CertFile, up.addr))
	url := strings.Replace(g.url, "http://", "https://", 1) + "/m"
	clientFor := func(p *tlstest.Pair) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: ca.Pool, Certificates: []tls.Certificate{p.TLS}}}}
	}
	statuses := func(c *http.Client, n int) []int {
		var out []int
		for i := 0; i < n; i++ {
			resp, err := c.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				var e echoed
				(response{status: resp.StatusCode, body: readAll(t, resp)}).json(t, &e)
				if e.Headers["x-forwarded-proto"] != "https" {
					t.Errorf("X-Forwarded-Proto %q over TLS", e.Headers["x-forwarded-proto"])
				}
			} else {
				resp.Body.Close()
			}
			out = append(out, resp.StatusCode)
		}
		return out
	}
	if got := statuses(clientFor(alice), 3); got[0] != 200 || got[1] != 200 || got[2] != 429 {
		t.Errorf("alice: %v, want 200 200 429", got)
	}
	if got := statuses(clientFor(bob), 1); got[0] != 200 {
		t.Errorf("bob has his own bucket: %v", got)
	}
	// Without a client certificate the handshake fails.
	noCert := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	if resp, err := noCert.Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("request without a client certificate answered %d", resp.StatusCode)
	}
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
