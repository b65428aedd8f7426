package aggregate

import (
	"net/url"
	"strings"
	"testing"
)

func TestParseTemplateErrors(t *testing.T) {
	params := []string{"id", "rest"}
	cases := []struct{ in, err string }{
		{"users/{id}", "must start with '/'"},
		{"/users/{nope}", "unknown path parameter {nope}"},
		{"/users/{id", "unclosed '{'"},
		{"/users/id}", "unmatched '}'"},
		{"/users/{}", "empty placeholder"},
		{"/users/{claim.}", "empty claim name"},
		{"/users/{query.}", "empty query parameter name"},
		{"/users/{a{b}}", "unclosed '{'"},
		{"/users/a b", "must be percent-encoded"},
		{"/users/ü", "must be percent-encoded"},
		{"/users/#frag", "must be percent-encoded"},
		{"/a?b=1?c=2", "more than one '?'"},
	}
	for _, c := range cases {
		_, err := parseTemplate(c.in, params)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("parseTemplate(%q) = %v, want error containing %q", c.in, err, c.err)
		}
	}
	for _, ok := range []string{"/", "/users/{id}", "/x/{rest}/y?a={query.a}&b=%20{claim.sub}", "/u/{claim.https://ex.com/role}"} {
		if _, err := parseTemplate(ok, params); err != nil {
			t.Errorf("parseTemplate(%q): %v", ok, err)
		}
	}
}

func TestParseTemplateNoParams(t *testing.T) {
	_, err := parseTemplate("/users/{id}", nil)
	if err == nil || !strings.Contains(err.Error(), "route path has none") {
		t.Fatalf("err = %v", err)
	}
}

func TestTemplateFill(t *testing.T) {
	tp, err := parseTemplate("/u/{id}/{claim.sub}/{query.q}/{rest}?q={query.q}&id={id}&s={claim.sub}&r={rest}", []string{"id", "rest"})
	if err != nil {
		t.Fatal(err)
	}
	// Query value: space, '/', '?', '&', '%', '+' and unicode.
	x := exchange("/gw?q=a+b%2Fc%3Fd%26e%25f%2B%C3%BC")
	x.Params.Set("id", []byte("42 x"))
	x.Params.Set("rest", []byte("a/b c/ü"))
	x.Claims = mapClaims{"sub": "auth0|ü/1"}
	got, missing := tp.appendTo(nil, x)
	if missing != nil {
		t.Fatalf("missing %q", missing.name)
	}
	want := "/u/42%20x/auth0%7C%C3%BC%2F1/a%20b%2Fc%3Fd&e%25f+%C3%BC/a/b%20c/%C3%BC" +
		"?q=a%20b%2Fc%3Fd%26e%25f%2B%C3%BC&id=42%20x&s=auth0%7C%C3%BC%2F1&r=a%2Fb%20c%2F%C3%BC"
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestTemplateMissing(t *testing.T) {
	tp, _ := parseTemplate("/u/{claim.sub}?q={query.q}", nil)
	x := exchange("/gw?q=1")
	if _, m := tp.appendTo(nil, x); m == nil || m.kind != partClaim || !strings.Contains(m.missing, `"sub"`) {
		t.Fatalf("no claims: missing = %+v", m)
	}
	x.Claims = mapClaims{"other": "1"}
	if _, m := tp.appendTo(nil, x); m == nil || m.kind != partClaim {
		t.Fatalf("claim absent: missing = %+v", m)
	}
	x = exchange("/gw?other=1")
	x.Claims = mapClaims{"sub": "s"}
	if _, m := tp.appendTo(nil, x); m == nil || m.kind != partQuery || !strings.Contains(m.missing, `"q"`) {
		t.Fatalf("query absent: missing = %+v", m)
	}
	// Present but empty is a value.
	x = exchange("/gw?q=")
	x.Claims = mapClaims{"sub": ""}
	got, m := tp.appendTo(nil, x)
	if m != nil || string(got) != "/u/?q=" {
		t.Fatalf("empty values: %q %+v", got, m)
	}
}

func BenchmarkTemplateFill(b *testing.B) {
	tp, _ := parseTemplate("/users/{id}/feed?lang={query.lang}&sub={claim.sub}", []string{"id"})
	x := exchange("/gw?lang=en-GB")
	x.Params.Set("id", []byte("12345"))
	x.Claims = mapClaims{"sub": "alice"}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = tp.appendTo(buf[:0], x)
	}
}

// FuzzEscape checks that any client-supplied value lands as exactly one
// path segment or one query value, and decodes back to itself.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "a b", "a/b?c#d", "ü", "%2F", "../..", "a&b=c+d", "\x00\xff"} {
		f.Add(s)
	}
	seg := part{kind: partQuery}
	qry := part{kind: partQuery, inQuery: true}
	f.Fuzz(func(t *testing.T, v string) {
		p := string(seg.escape(nil, []byte(v)))
		if strings.ContainsAny(p, "/?# ") {
			t.Fatalf("segment %q from %q", p, v)
		}
		if got, err := url.PathUnescape(p); err != nil || got != v {
			t.Fatalf("segment %q decodes to %q, %v; want %q", p, got, err, v)
		}
		q := string(qry.escape(nil, []byte(v)))
		if strings.ContainsAny(q, "/?#&=+ ;") {
			t.Fatalf("query value %q from %q", q, v)
		}
		if got, err := url.QueryUnescape(q); err != nil || got != v {
			t.Fatalf("query value %q decodes to %q, %v; want %q", q, got, err, v)
		}
	})
}
