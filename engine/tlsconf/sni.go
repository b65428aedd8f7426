package tlsconf

import (
	"crypto/tls"
	"strings"
)

// sniTable picks a certificate for a ClientHello's server name: an exact SAN
// first, then a wildcard SAN covering the name's first label, else the first
// configured certificate. Names are compared in lower case.
type sniTable struct {
	def      *tls.Certificate
	exact    map[string][]*tls.Certificate
	wildcard map[string][]*tls.Certificate // keyed by the part after "*."
}

// newSNITable indexes the DNS SANs of certs (their Leaf must be set); the
// first certificate is the default. Several certificates may share a name
// (e.g. ECDSA and RSA): the first one the client supports wins.
func newSNITable(certs []tls.Certificate) *sniTable {
	t := &sniTable{
		def:      &certs[0],
		exact:    make(map[string][]*tls.Certificate),
		wildcard: make(map[string][]*tls.Certificate),
	}
	for i := range certs {
		c := &certs[i]
		if c.Leaf == nil {
			continue
		}
		for _, name := range c.Leaf.DNSNames {
			name = strings.TrimSuffix(strings.ToLower(name), ".")
			if rest, ok := strings.CutPrefix(name, "*."); ok {
				t.wildcard[rest] = append(t.wildcard[rest], c)
			} else {
				t.exact[name] = append(t.exact[name], c)
			}
		}
	}
	return t
}

// getCertificate is the tls.Config.GetCertificate callback.
func (t *sniTable) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return t.lookup(hello.ServerName, hello), nil
}

// lookup returns the certificate for name; hello may be nil (tests, fuzzing)
// and is only used to skip certificates the client cannot use.
func (t *sniTable) lookup(name string, hello *tls.ClientHelloInfo) *tls.Certificate {
	if name == "" {
		return t.def
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if c := pick(t.exact[name], hello); c != nil {
		return c
	}
	if _, rest, ok := strings.Cut(name, "."); ok && rest != "" {
		if c := pick(t.wildcard[rest], hello); c != nil {
			return c
		}
	}
	return t.def
}

// pick returns the first candidate the client supports, else the first one.
func pick(cands []*tls.Certificate, hello *tls.ClientHelloInfo) *tls.Certificate {
	if len(cands) == 0 {
		return nil
	}
	if hello != nil && len(cands) > 1 {
		for _, c := range cands {
			if hello.SupportsCertificate(c) == nil {
				return c
			}
		}
	}
	return cands[0]
}
