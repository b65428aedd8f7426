package tlsconf

import (
	"crypto/tls"
	"testing"

	"github.com/sluice-gw/sluice/engine/tlsconf/tlstest"
)

// FuzzSNILookup feeds arbitrary client-sent server names to the SNI table:
// it must never panic and always return one of the configured certificates.
func FuzzSNILookup(f *testing.F) {
	ca := tlstest.NewCA(f, "fuzz-ca")
	certs := []tls.Certificate{
		ca.Server(f, []string{"default.example"}, tlstest.Options{}).TLS,
		ca.Server(f, []string{"*.wild.example", "exact.example"}, tlstest.Options{}).TLS,
	}
	table := newSNITable(certs)
	for _, s := range []string{"", ".", "..", "exact.example", "a.wild.example", "*.wild.example", "A.WILD.EXAMPLE.", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		c := table.lookup(name, nil)
		if c != &certs[0] && c != &certs[1] {
			t.Fatalf("lookup(%q) returned a foreign certificate", name)
		}
	})
}

func BenchmarkSNILookup(b *testing.B) {
	ca := tlstest.NewCA(b, "bench-ca")
	certs := []tls.Certificate{
		ca.Server(b, []string{"default.example"}, tlstest.Options{}).TLS,
		ca.Server(b, []string{"*.wild.example"}, tlstest.Options{}).TLS,
	}
	table := newSNITable(certs)
	hello := &tls.ClientHelloInfo{ServerName: "api.wild.example"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := table.getCertificate(hello); err != nil {
			b.Fatal(err)
		}
	}
}
