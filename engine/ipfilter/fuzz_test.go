package ipfilter

import (
	"net/netip"
	"testing"
)

// FuzzParsePrefix: an accepted entry is a masked prefix that contains the
// address it was written with.
func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "10.1.2.3/8", "::ffff:10.0.0.0/104", "2001:db8::/32", "::1", "1.2.3.4", "fe80::1%eth0", "1.2.3.4/33"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePrefix(s)
		if err != nil {
			return
		}
		if !p.IsValid() || p != p.Masked() {
			t.Fatalf("%q -> %v", s, p)
		}
		var set set
		set.add(p)
		set.finish()
		if !set.contains(p.Addr()) {
			t.Fatalf("%q: %v does not contain its own address", s, p)
		}
		if a, err := netip.ParseAddr(s); err == nil && !set.contains(a.Unmap()) {
			t.Fatalf("%q: the bare address is not in its prefix", s)
		}
	})
}
