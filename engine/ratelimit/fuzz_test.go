package ratelimit

import (
	"testing"

	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
)

// FuzzParseKey checks that any key text either parses into a kind whose
// argument is a suffix of the text, or is refused, without panicking.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"ip", "consumer", "route", "header:X-Api-Key", "claim:sub", "header:", "claim:", "header:a b", "cookie:x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, arg, ok := parseKey(s)
		if !ok {
			return
		}
		switch kind {
		case keyHeader:
			if s != "header:"+arg || !httpbytes.ValidToken(arg) {
				t.Fatalf("%q parsed as header %q", s, arg)
			}
		case keyClaim:
			if s != "claim:"+arg || arg == "" {
				t.Fatalf("%q parsed as claim %q", s, arg)
			}
		default:
			if arg != "" {
				t.Fatalf("%q has argument %q", s, arg)
			}
		}
	})
}
