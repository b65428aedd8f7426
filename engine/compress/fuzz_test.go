package compress

import "testing"

// FuzzNegotiate: any Accept-Encoding value gives a valid encoding without
// panicking, and one that names neither coding (nor *) gives identity.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"", "gzip", "br;q=0.5, gzip", "*;q=0", "gzip;q=", "br;q=1.0000", ";;,,q=", "x;q=0.5;q=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ae string) {
		e := Negotiate([]byte(ae))
		if e != Identity && e != Gzip && e != Brotli {
			t.Fatalf("%q: %v", ae, e)
		}
		if Negotiate([]byte("identity, "+ae)) != e {
			t.Fatalf("%q: identity changed the choice", ae)
		}
	})
}
