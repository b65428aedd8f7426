package ipfilter

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/fielderr"
	"github.com/sluice-gw/sluice/engine/pipeline"
)

func mustCompile(t testing.TB, allow, deny []string) *Filter {
	t.Helper()
	f, err := New(Options{Allow: allow, Deny: deny})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestAllowDeny(t *testing.T) {
	f := mustCompile(t, []string{"10.0.0.0/8", "2001:db8::/32", "192.0.2.7"}, []string{"10.6.6.0/24", "2001:db8:bad::/48"})
	cases := map[string]bool{
		"10.0.0.1": true, "10.255.255.255": true, "10.6.6.1": false, "10.6.7.1": true,
		"11.0.0.0": false, "9.255.255.255": false, "192.0.2.7": true, "192.0.2.8": false,
		"::ffff:10.1.2.3": true, "::ffff:10.6.6.9": false,
		"2001:db8::1": true, "2001:db8:bad::1": false, "2001:db8:bae::1": true, "2001:db9::1": false,
		"::1": false,
	}
	for s, want := range cases {
		if got := f.Allowed(netip.MustParseAddr(s)); got != want {
			t.Errorf("%s: allowed=%v, want %v", s, got, want)
		}
	}
	if f.Allowed(netip.Addr{}) {
		t.Error("an invalid address passed")
	}
	// Deny only: everything else passes.
	d := mustCompile(t, nil, []string{"0.0.0.0/0"})
	if d.Allowed(netip.MustParseAddr("1.2.3.4")) || !d.Allowed(netip.MustParseAddr("::2")) {
		t.Error("deny 0.0.0.0/0 must deny all IPv4 and no IPv6")
	}
	all6 := mustCompile(t, nil, []string{"::/0"})
	if all6.Allowed(netip.MustParseAddr("ffff::1")) || !all6.Allowed(netip.MustParseAddr("8.8.8.8")) {
		t.Error("deny ::/0 must deny all IPv6 and no IPv4")
	}
	mapped := mustCompile(t, []string{"::ffff:10.0.0.0/104"}, nil)
	if !mapped.Allowed(netip.MustParseAddr("10.9.9.9")) || mapped.Allowed(netip.MustParseAddr("11.0.0.1")) {
		t.Error("an IPv4-mapped prefix must act as its IPv4 prefix")
	}
}

func TestCheckFailsWithForbidden(t *testing.T) {
	f := mustCompile(t, nil, []string{"127.0.0.0/8"})
	var x pipeline.Exchange
	x.ClientIP = []byte("127.0.0.1")
	if f.Check(&x) {
		t.Fatal("denied address admitted")
	}
	if rej, _ := x.Rejected(); rej.Status != 403 || rej.Code != fault.Forbidden.Code() {
		t.Fatalf("reject %+v", rej)
	}
	var y pipeline.Exchange
	y.ClientIP = []byte("garbage")
	if f.Check(&y) {
		t.Fatal("an unparseable client address must fail closed")
	}
	var z pipeline.Exchange
	z.ClientIP = []byte("192.0.2.1")
	if !f.Check(&z) || (*Filter)(nil).Check(&z) == false {
		t.Fatal("allowed address rejected")
	}
}

func TestNewErrors(t *testing.T) {
	_, err := New(Options{Allow: []string{"10.0.0.0/8", "10.0.0.0/33"}, Deny: []string{"nope", "fe80::1%eth0", "::ffff:1.2.3.4/90"}})
	got := err.Error()
	for _, want := range []string{
		`allow[1]: invalid CIDR or address "10.0.0.0/33"`,
		`deny[0]: invalid CIDR or address "nope"`,
		`deny[1]:`,
		`deny[2]: invalid CIDR "::ffff:1.2.3.4/90"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	var empty fielderr.List
	if _, err := New(Options{}); !errors.As(err, &empty) || len(empty) != 1 || empty[0].Path != "" {
		t.Errorf("empty filter: %v", err)
	}
}

// TestMatchesLinearScan checks the merged ranges against netip.Prefix.Contains
// over random lists (overlapping, nested and adjacent prefixes included).
func TestMatchesLinearScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 40; round++ {
		var list []string
		var prefixes []netip.Prefix
		for i := 0; i < 1+rng.IntN(200); i++ {
			var p netip.Prefix
			if rng.IntN(2) == 0 {
				a := netip.AddrFrom4([4]byte{byte(rng.IntN(4)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
				p = netip.PrefixFrom(a, 4+rng.IntN(29)).Masked()
			} else {
				var b [16]byte
				b[0], b[1], b[2] = 0x20, byte(rng.IntN(4)), byte(rng.IntN(256))
				b[15] = byte(rng.IntN(256))
				p = netip.PrefixFrom(netip.AddrFrom16(b), 8+rng.IntN(121)).Masked()
			}
			list = append(list, p.String())
			prefixes = append(prefixes, p)
		}
		f := mustCompile(t, list, nil)
		for i := 0; i < 2000; i++ {
			var a netip.Addr
			if rng.IntN(2) == 0 {
				a = netip.AddrFrom4([4]byte{byte(rng.IntN(4)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
			} else {
				var b [16]byte
				b[0], b[1], b[2] = 0x20, byte(rng.IntN(4)), byte(rng.IntN(256))
				b[15] = byte(rng.IntN(256))
				a = netip.AddrFrom16(b)
			}
			want := false
			for _, p := range prefixes {
				want = want || p.Contains(a)
			}
			if got := f.Allowed(a); got != want {
				t.Fatalf("round %d: %s allowed=%v, linear scan says %v", round, a, got, want)
			}
		}
	}
}

// randomCIDRs returns n disjoint /25s in 10/8 and /48s in 2001:db8::/32.
func randomCIDRs(n int) []string {
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			out = append(out, fmt.Sprintf("10.%d.%d.0/25", (i/2)>>8&0xff, (i/2)&0xff))
		} else {
			out = append(out, fmt.Sprintf("2001:db8:%x::/48", i))
		}
	}
	return out
}

func TestCheckAllocatesNothing(t *testing.T) {
	f := mustCompile(t, randomCIDRs(10000), nil)
	var x pipeline.Exchange
	x.ClientIP = []byte("2001:db8:7::9")
	if n := testing.AllocsPerRun(1000, func() { f.Check(&x) }); n != 0 {
		t.Fatalf("Check allocates %v times", n)
	}
}

func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{10, 10000} {
		f := mustCompile(b, randomCIDRs(n), nil)
		for _, ip := range []string{"10.0.3.77", "2001:db8:5::1", "192.0.2.1"} {
			b.Run(fmt.Sprintf("cidrs=%d/%s", n, ip), func(b *testing.B) {
				var x pipeline.Exchange
				x.ClientIP = []byte(ip)
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					f.Check(&x)
				}
			})
		}
	}
	b.Run("not_configured", func(b *testing.B) {
		var f *Filter
		var x pipeline.Exchange
		x.ClientIP = []byte("10.0.3.77")
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			f.Check(&x)
		}
	})
}
