package router

import (
	"bytes"
	"errors"
	"testing"
)

func TestNormalize(t *testing.T) {
	cases := []struct {
		in, out string
		err     error
	}{
		{"/", "/", nil},
		{"/a", "/a", nil},
		{"/a/", "/a/", nil},
		{"//", "/", nil},
		{"/a//b", "/a/b", nil},
		{"///a///b///", "/a/b/", nil},
		{"/a/./b", "/a/b", nil},
		{"/a/.", "/a/", nil},
		{"/.", "/", nil},
		{"/a/../b", "/b", nil},
		{"/a/b/..", "/a/", nil},
		{"/a/b/../", "/a/", nil},
		{"/a/..", "/", nil},
		{"/a/b/../../c/./d/", "/c/d/", nil},
		{"/a/..b/.c/...", "/a/..b/.c/...", nil},
		{"/%61%62", "/ab", nil},
		{"/a%2Fb", "/a/b", nil},
		{"/a%2f%2F%2fb", "/a/b", nil},
		{"/a/%2e/b", "/a/b", nil},
		{"/a/%2e%2E/b", "/b", nil},
		{"/a/.%2e", "/", nil},
		{"/%2e%2e/x", "", ErrEscapesRoot},
		{"/..", "", ErrEscapesRoot},
		{"/../a", "", ErrEscapesRoot},
		{"/a/../..", "", ErrEscapesRoot},
		{"/a/b/../../../c", "", ErrEscapesRoot},
		{"/a%2F..%2F..%2Fetc", "", ErrEscapesRoot},
		{"/%zz", "", ErrInvalidEscape},
		{"/%", "", ErrInvalidEscape},
		{"/%4", "", ErrInvalidEscape},
		{"/%4g", "", ErrInvalidEscape},
		{"/a%00b", "", ErrNullByte},
		{"/a\x00b", "", ErrNullByte},
		{"", "", ErrNotAbsolute},
		{"a/b", "", ErrNotAbsolute},
		{"*", "", ErrNotAbsolute},
		{"/a%20b+c", "/a b+c", nil},
		{"/caf%C3%A9", "/café", nil},
		{"/%25zz", "/%zz", nil},
	}
	for _, c := range cases {
		got, err := Normalize([]byte("prefix"), []byte(c.in))
		if !errors.Is(err, c.err) {
			t.Errorf("Normalize(%q): error %v, want %v", c.in, err, c.err)
			continue
		}
		want := "prefix" + c.out
		if string(got) != want {
			t.Errorf("Normalize(%q) = %q, want %q", c.in, got, want)
		}
	}
}

func TestEscape(t *testing.T) {
	cases := []struct{ in, out string }{
		{"/a/b", "/a/b"},
		{"/a b", "/a%20b"},
		{"/a?b#c", "/a%3Fb%23c"},
		{"/100%", "/100%25"},
		{"/\x01\x7f", "/%01%7F"},
		{"/café", "/caf%C3%A9"},
		{"/a-b_c.d~e!$&'()*+,;=:@", "/a-b_c.d~e!$&'()*+,;=:@"},
		{"/\"<>\\^`{|}[]", "/%22%3C%3E%5C%5E%60%7B%7C%7D%5B%5D"},
	}
	for _, c := range cases {
		if got := Escape(nil, []byte(c.in)); string(got) != c.out {
			t.Errorf("Escape(%q) = %q, want %q", c.in, got, c.out)
		}
		// The round trip restores the normalised path.
		back, err := Normalize(nil, Escape(nil, []byte(c.in)))
		if err != nil || !bytes.Equal(back, []byte(c.in)) {
			t.Errorf("Normalize(Escape(%q)) = %q, %v", c.in, back, err)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"/", "/a//b", "/a/./b", "/a/../b", "/..", "/%2e%2e/x", "/%zz", "/a/", "/a%2F..%2Fb", "/%25", "//./../"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := Normalize(nil, raw)
		if err != nil {
			if len(out) != 0 {
				t.Fatalf("error %v with output %q", err, out)
			}
			return
		}
		if len(out) == 0 || out[0] != '/' {
			t.Fatalf("Normalize(%q) = %q: no leading slash", raw, out)
		}
		if bytes.Contains(out, []byte("//")) {
			t.Fatalf("Normalize(%q) = %q contains //", raw, out)
		}
		for _, seg := range bytes.Split(out[1:], []byte("/")) {
			if string(seg) == "." || string(seg) == ".." {
				t.Fatalf("Normalize(%q) = %q has a dot segment", raw, out)
			}
		}
		// Idempotent through the wire form: what goes upstream normalises back.
		again, err := Normalize(nil, Escape(nil, out))
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("Normalize(Escape(%q)) = %q, %v", out, again, err)
		}
		// And literally idempotent when decoding has nothing left to decode.
		if bytes.IndexByte(out, '%') < 0 {
			again, err := Normalize(nil, out)
			if err != nil || !bytes.Equal(again, out) {
				t.Fatalf("Normalize(%q) = %q, %v; not idempotent", out, again, err)
			}
		}
	})
}
