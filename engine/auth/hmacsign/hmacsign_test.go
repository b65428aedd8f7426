package hmacsign

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The expected values were computed independently with openssl (see the
// README's curl example): sha256 of the body, of the canonical request, and
// the HMAC of the string to sign.
func TestSignKnownVector(t *testing.T) {
	body := []byte(`{"n":1}`)
	req, err := http.NewRequest("POST", "http://api.example:8080/api/orders/42?b=2&a=hello%20world&a=1&c+d=x%2fy", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 29, 3, 15, 0, 0, time.UTC)
	if err := Sign(req, body, "svc-a", []byte("s3cr3t"), now); err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get(HeaderDate); got != "20261129T031500Z" {
		t.Fatalf("date = %q", got)
	}
	if got := req.Header.Get(HeaderContentSHA256); got != "2bfd14f43d17fc7cea24e0917a8879b4b2f880b8baeec1b9d90fbaad655e71bd" {
		t.Fatalf("content sha = %q", got)
	}
	want := "SLUICE-HMAC-SHA256 KeyId=svc-a, SignedHeaders=host;x-sluice-content-sha256;x-sluice-date, " +
		"Signature=0d37030f33a642f04a8794d7d03432a693b6fd76f137969ccbbdf4c14646c832"
	if got := req.Header.Get("Authorization"); got != want {
		t.Fatalf("Authorization =\n%s\nwant\n%s", got, want)
	}
}

func TestEmptyBodyHash(t *testing.T) {
	req, _ := http.NewRequest("GET", "http://h/x", nil)
	if err := Sign(req, nil, "k", []byte("s"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get(HeaderContentSHA256); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatalf("hash of empty body = %q", got)
	}
}

func TestCanonicalQuery(t *testing.T) {
	for in, want := range map[string]string{
		"":                     "",
		"a=1":                  "a=1",
		"b=2&a=1":              "a=1&b=2",
		"a=2&a=1&a=10":         "a=1&a=10&a=2",
		"x=a+b":                "x=a%2Bb",
		"x=%7e%2F%41":          "x=~%2FA",
		"flag&x=":              "flag=&x=",
		"a=1&&b=2":             "a=1&b=2",
		"q=caf%C3%A9&%C3%A9=1": "%C3%A9=1&q=caf%C3%A9",
		"k=v=w":                "k=v%3Dw",
		"sp=%20&star=*":        "sp=%20&star=%2A",
	} {
		got, err := AppendCanonicalQuery(nil, []byte(in))
		if err != nil || string(got) != want {
			t.Errorf("canonical(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestCanonicalQueryBadEscape(t *testing.T) {
	for _, in := range []string{"a=%", "a=%4", "a=%zz", "%g0=1"} {
		if _, err := AppendCanonicalQuery(nil, []byte(in)); err == nil {
			t.Errorf("canonical(%q) accepted a bad escape", in)
		}
	}
}

func TestSignExtraHeaders(t *testing.T) {
	req, _ := http.NewRequest("GET", "http://h/x", nil)
	req.Header.Set("X-Client", "web")
	if err := Sign(req, nil, "k", []byte("s"), time.Now(), "X-Client"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(req.Header.Get("Authorization"), "SignedHeaders=host;x-client;x-sluice-content-sha256;x-sluice-date,") {
		t.Fatalf("Authorization = %q", req.Header.Get("Authorization"))
	}
	if err := Sign(req, nil, "k", []byte("s"), time.Now(), "X-Missing"); err == nil {
		t.Fatal("signing an absent header succeeded")
	}
}

func FuzzCanonicalQuery(f *testing.F) {
	f.Add("a=1&b=%20")
	f.Add("%%%&&==")
	f.Fuzz(func(t *testing.T, q string) {
		out, err := AppendCanonicalQuery(nil, []byte(q))
		if err != nil {
			return
		}
		// The canonical form is a fixed point.
		again, err := AppendCanonicalQuery(nil, out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("canonical(%q) = %q is not stable: %q, %v", q, out, again, err)
		}
	})
}
