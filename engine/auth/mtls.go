package auth

import (
	"github.com/sluice-gw/sluice/engine/fielderr"
	"github.com/sluice-gw/sluice/engine/pipeline"
)

// mtlsPolicy accepts callers that presented a client certificate the TLS
// listener verified against server.tls.client_ca_file.
type mtlsPolicy struct{}

func (mtlsPolicy) hasScopes() bool { return false }

// MTLSOptions are the options of an mtls policy.
type MTLSOptions struct {
	// ClientCerts reports that the TLS listener asks clients for a
	// certificate and verifies it (server.tls.client_auth "request" or
	// "require"); without it no caller could pass, so the policy is refused.
	ClientCerts bool
}

func compileMTLS(o MTLSOptions, errs *fielderr.List) policy {
	if !o.ClientCerts {
		errs.Add("", "mtls needs server.tls.client_auth \"request\" or \"require\"")
		return nil
	}
	return mtlsPolicy{}
}

// check makes the verified leaf's subject CN (else its first SAN) the consumer.
func (mtlsPolicy) check(x *pipeline.Exchange, _ *Route) bool {
	st := x.Ctx.TLSConnectionState()
	if st == nil || len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return unauthorized(x, challengeClientCert, "missing or unverified client certificate")
	}
	leaf := st.VerifiedChains[0][0]
	x.Consumer = x.Consumer[:0]
	switch {
	case leaf.Subject.CommonName != "":
		x.Consumer = append(x.Consumer, leaf.Subject.CommonName...)
	case len(leaf.DNSNames) > 0:
		x.Consumer = append(x.Consumer, leaf.DNSNames[0]...)
	case len(leaf.EmailAddresses) > 0:
		x.Consumer = append(x.Consumer, leaf.EmailAddresses[0]...)
	case len(leaf.IPAddresses) > 0:
		x.Consumer = append(x.Consumer, leaf.IPAddresses[0].String()...)
	case len(leaf.URIs) > 0:
		x.Consumer = append(x.Consumer, leaf.URIs[0].String()...)
	default:
		return unauthorized(x, challengeClientCert, "client certificate has no subject name")
	}
	return true
}
