package httpbytes

import (
	"strings"
	"testing"
)

func TestValidToken(t *testing.T) {
	for _, s := range []string{"X-Id", "X.Id", "x_id", "A1", "!#$%&'*+-.^_`|~"} {
		if !ValidToken(s) {
			t.Errorf("ValidToken(%q) = false, want true", s)
		}
	}
	for _, s := range []string{"", "X Id", "X:Id", "X\"Id", "X(Id)", "X/Id", "X@Id", "X\x00", "Ä", "X,Id", "X;Id", "X{Id}"} {
		if ValidToken(s) {
			t.Errorf("ValidToken(%q) = true, want false", s)
		}
	}
}

func TestFold(t *testing.T) {
	if !EqualFold([]byte("GZip"), "gzip") || !EqualFold([]byte("gzip"), "GZIP") || EqualFold([]byte("gzip"), "gzi") || EqualFold([]byte("gzip"), "gzap") {
		t.Error("EqualFold")
	}
	if !HasPrefixFold([]byte("Text/HTML"), "text/") || HasPrefixFold([]byte("te"), "text") {
		t.Error("HasPrefixFold")
	}
	if !HasSuffixFold([]byte("application/vnd+JSON"), "+json") || HasSuffixFold([]byte("json"), "+json") {
		t.Error("HasSuffixFold")
	}
	if !ContainsFold([]byte("a, Upgrade, b"), "upgrade") || ContainsFold([]byte("upgrad"), "upgrade") {
		t.Error("ContainsFold")
	}
}

func TestNextItemAndHasToken(t *testing.T) {
	var got []string
	list := []byte(" a ,\tB\t,, c")
	for len(list) > 0 {
		var item []byte
		item, list = NextItem(list)
		got = append(got, string(item))
	}
	if s := strings.Join(got, "|"); s != "a|B||c" {
		t.Errorf("items = %q, want a|B||c", s)
	}
	if !HasToken([]byte("keep-alive, Upgrade"), "upgrade") || HasToken([]byte("keep-alive, upgrades"), "upgrade") || HasToken(nil, "x") {
		t.Error("HasToken")
	}
}

func TestNoAllocs(t *testing.T) {
	v := []byte("gzip, deflate, br;q=0.5")
	if n := testing.AllocsPerRun(100, func() {
		_ = HasToken(v, "br;q=0.5") && ContainsFold(v, "BR") && ValidToken("X-Id")
	}); n != 0 {
		t.Errorf("allocs = %v, want 0", n)
	}
}

func FuzzHasToken(f *testing.F) {
	f.Add([]byte("keep-alive, Upgrade"), "upgrade")
	f.Add([]byte(",,, ,"), "websocket")
	f.Fuzz(func(t *testing.T, v []byte, tok string) {
		HasToken(v, tok)
	})
}
