package pipeline

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func TestAddVary(t *testing.T) {
	for _, c := range []struct{ have, add, want string }{
		{"", "Origin", "Origin"},
		{"Accept-Language", "Origin", "Accept-Language, Origin"},
		{"accept-language, origin", "Origin", "accept-language, origin"},
		{"Origin-X", "Origin", "Origin-X, Origin"},
		{"*", "Origin", "*"},
		{" Origin ,Accept", "Origin", " Origin ,Accept"},
	} {
		var h fasthttp.ResponseHeader
		if c.have != "" {
			h.Set("Vary", c.have)
		}
		AddVary(&h, c.add)
		if got := string(h.Peek("Vary")); got != c.want {
			t.Errorf("Vary %q + %q = %q, want %q", c.have, c.add, got, c.want)
		}
	}
	var h fasthttp.ResponseHeader
	h.Set("Vary", "Accept-Language")
	if n := testing.AllocsPerRun(100, func() { AddVary(&h, "Origin") }); n != 0 {
		t.Fatalf("AddVary allocates %v", n)
	}
}
