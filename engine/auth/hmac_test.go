package auth

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/auth/hmacsign"
)

const hmacSecret = "svc-a-shared-secret"

func hmacServer(t *testing.T) string {
	t.Setenv("SLUICE_TEST_SVC_A", hmacSecret)
	s := compile(t, "signed", Policy{Type: "hmac", HMAC: HMACOptions{MaxSkew: 5 * time.Minute,
		Keys: map[string]HMACKey{"svc-a": {SecretEnv: "SLUICE_TEST_SVC_A"}, "svc-b": {Secret: "other"}}}})
	return "http://" + serve(t, s, route(t, s, "signed"), nil)
}

// signed builds a request signed by svc-a at now.
func signed(t *testing.T, method, url string, body []byte, now time.Time, extra ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Client", "test")
	if err := hmacsign.Sign(req, body, "svc-a", []byte(hmacSecret), now, extra...); err != nil {
		t.Fatal(err)
	}
	return req
}

// do sends req (with body) and returns status and body text.
func do(t *testing.T, req *http.Request, body []byte) (int, string) {
	t.Helper()
	if body != nil {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatal("401 without WWW-Authenticate")
	}
	return resp.StatusCode, string(b)
}

func expectStatus(t *testing.T, status int, body string, wantStatus int, wantPart string) {
	t.Helper()
	if status != wantStatus || !strings.Contains(body, wantPart) {
		t.Fatalf("got %d %q, want %d containing %q", status, body, wantStatus, wantPart)
	}
}

func TestHMACValid(t *testing.T) {
	base := hmacServer(t)
	body := []byte(`{"item":"x","qty":2}`)
	st, b := do(t, signed(t, "POST", base+"/api/orders/a%2Fb?z=1&a=hello%20world&a=%7e&plus=a+b", body, time.Now()), nil)
	expectStatus(t, st, b, 200, "consumer=svc-a")
	st, b = do(t, signed(t, "GET", base+"/api/orders", nil, time.Now(), "X-Client"), nil)
	expectStatus(t, st, b, 200, "consumer=svc-a")
}

func TestHMACTamperedBody(t *testing.T) {
	base := hmacServer(t)
	req := signed(t, "POST", base+"/api/orders", []byte(`{"qty":2}`), time.Now())
	st, b := do(t, req, []byte(`{"qty":9}`))
	expectStatus(t, st, b, 401, "does not match the body")
}

func TestHMACTamperedPathAndQuery(t *testing.T) {
	base := hmacServer(t)
	for _, target := range []string{"/api/orders/2?a=1", "/api/orders/1?a=2", "/api/orders/1"} {
		req := signed(t, "GET", base+"/api/orders/1?a=1", nil, time.Now())
		req.URL, _ = req.URL.Parse(base + target)
		st, b := do(t, req, nil)
		expectStatus(t, st, b, 401, "bad signature")
	}
}

func TestHMACTamperedSignedHeader(t *testing.T) {
	base := hmacServer(t)
	req := signed(t, "GET", base+"/api/orders", nil, time.Now(), "X-Client")
	req.Header.Set("X-Client", "evil")
	st, b := do(t, req, nil)
	expectStatus(t, st, b, 401, "bad signature")
}

func TestHMACWrongMethod(t *testing.T) {
	base := hmacServer(t)
	req := signed(t, "GET", base+"/api/orders", nil, time.Now())
	req.Method = "DELETE"
	st, b := do(t, req, nil)
	expectStatus(t, st, b, 401, "bad signature")
}

func TestHMACSkewed(t *testing.T) {
	base := hmacServer(t)
	for _, d := range []time.Duration{-6 * time.Minute, 6 * time.Minute} {
		st, b := do(t, signed(t, "GET", base+"/x", nil, time.Now().Add(d)), nil)
		expectStatus(t, st, b, 401, "clock skew")
	}
	st, b := do(t, signed(t, "GET", base+"/x", nil, time.Now().Add(-4*time.Minute)), nil)
	expectStatus(t, st, b, 200, "consumer=svc-a")
}

func TestHMACReplayed(t *testing.T) {
	base := hmacServer(t)
	body := []byte(`{"pay":100}`)
	req := signed(t, "POST", base+"/pay", body, time.Now())
	st, b := do(t, req, nil)
	expectStatus(t, st, b, 200, "consumer=svc-a")
	st, b = do(t, req.Clone(req.Context()), body)
	expectStatus(t, st, b, 401, "replayed")
}

func TestHMACUnsignedHost(t *testing.T) {
	base := hmacServer(t)
	req, _ := http.NewRequest("GET", base+"/x", nil)
	date := time.Now().UTC().Format(hmacsign.DateFormat)
	sha := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	req.Header.Set(hmacsign.HeaderDate, date)
	req.Header.Set(hmacsign.HeaderContentSHA256, sha)
	signedHeaders := "x-sluice-content-sha256;x-sluice-date"
	canon, err := hmacsign.AppendCanonicalRequest(nil, []byte("GET"), []byte("/x"), nil,
		[][]byte{[]byte("x-sluice-content-sha256"), []byte("x-sluice-date")}, [][]byte{[]byte(sha), []byte(date)},
		[]byte(signedHeaders), []byte(sha))
	if err != nil {
		t.Fatal(err)
	}
	sig := hmacsign.AppendSignature(nil, []byte(hmacSecret), []byte(date), canon)
	req.Header.Set("Authorization", "SLUICE-HMAC-SHA256 KeyId=svc-a, SignedHeaders="+signedHeaders+", Signature="+string(sig))
	st, b := do(t, req, nil)
	expectStatus(t, st, b, 401, "must include host")
}

func TestHMACUnknownKeyAndWrongSecret(t *testing.T) {
	base := hmacServer(t)
	req, _ := http.NewRequest("GET", base+"/x", nil)
	_ = hmacsign.Sign(req, nil, "svc-z", []byte(hmacSecret), time.Now())
	st, b := do(t, req, nil)
	expectStatus(t, st, b, 401, "unknown key id")

	req, _ = http.NewRequest("GET", base+"/x", nil)
	_ = hmacsign.Sign(req, nil, "svc-b", []byte(hmacSecret), time.Now())
	st, b = do(t, req, nil)
	expectStatus(t, st, b, 401, "bad signature")
}

func TestHMACMissingAndMalformed(t *testing.T) {
	base := hmacServer(t)
	for auth, want := range map[string]string{
		"":                               "missing",
		"Bearer abc":                     "missing",
		"SLUICE-HMAC-SHA256 KeyId=svc-a": "malformed",
		"SLUICE-HMAC-SHA256 KeyId=svc-a, SignedHeaders=host;x-sluice-content-sha256;x-sluice-date, Signature=zz": "malformed signature",
		"SLUICE-HMAC-SHA256 KeyId=svc-a, KeyId=svc-a, SignedHeaders=host, Signature=00":                          "malformed",
	} {
		req, _ := http.NewRequest("GET", base+"/x", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		st, b := do(t, req, nil)
		expectStatus(t, st, b, 401, want)
	}
}

func TestReplayCacheBounded(t *testing.T) {
	c := newReplayCache(time.Minute, 2)
	now := time.Now().UnixNano()
	live := now + int64(time.Minute)
	if c.add([32]byte{1}, live, now) != replayOK || c.add([32]byte{2}, now+1, now) != replayOK {
		t.Fatal("fresh signatures refused")
	}
	if c.add([32]byte{1}, live, now) != replaySeen {
		t.Fatal("replay accepted")
	}
	// Full: the expired entry is swept to make room; then live entries fill it.
	if c.add([32]byte{3}, live, now+2) != replayOK {
		t.Fatal("expired entry not swept")
	}
	if c.add([32]byte{4}, live, now+2) != replayFull {
		t.Fatal("cache grew past its bound")
	}
}
