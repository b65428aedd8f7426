package tlsconf

import (
	"crypto/tls"
	"log/slog"

	"github.com/sluice-gw/sluice/engine/fielderr"
)

// ServerOptions are the client listener's TLS settings (server.tls).
type ServerOptions struct {
	// Certificates are the certificate/key pairs; the first is the default
	// for clients whose SNI matches no other. At least one is required.
	Certificates []CertFiles
	// ClientAuth is one of the ClientAuth* modes; "" is ClientAuthNone.
	ClientAuth string
	// ClientCAFile is the PEM bundle client certificates must chain to;
	// required unless ClientAuth is none.
	ClientCAFile string
	// LogPath is where these options sit in the config ("server.tls"); it
	// only names them in log warnings (errors carry relative paths).
	LogPath string
}

// CertFiles names a PEM certificate chain and its private key.
type CertFiles struct {
	CertFile, KeyFile string
}

// Client authentication modes of ServerOptions.ClientAuth.
const (
	ClientAuthNone    = "none"
	ClientAuthRequest = "request"
	ClientAuthRequire = "require"
)

// Server builds the listener's TLS config from o. A nil o means plain HTTP
// and returns (nil, nil). Its problems are a fielderr.List with paths
// relative to o ("certificates[1].key_file").
//
// The config chooses a certificate by SNI (exact SAN, then wildcard SAN, else
// the first certificate), accepts TLS 1.2 and 1.3 with ECDHE+AEAD suites only,
// and resumes sessions with tickets whose keys crypto/tls rotates itself
// (a new key every day, each accepted for a week). With client_auth
// "request" a client certificate is optional but must chain to
// client_ca_file when given; with "require" it is mandatory. The verified
// chain is in tls.ConnectionState.VerifiedChains for the mtls auth policy.
func Server(o *ServerOptions) (*tls.Config, error) {
	if o == nil {
		return nil, nil
	}
	var errs fielderr.List
	if len(o.Certificates) == 0 {
		errs.Add("certificates", "at least one certificate is required")
	}
	certs := make([]tls.Certificate, 0, len(o.Certificates))
	for i, c := range o.Certificates {
		p := fielderr.Index("certificates", i)
		pair, ok := loadPair(c.CertFile, c.KeyFile, fielderr.Join(p, "cert_file"), fielderr.Join(p, "key_file"), o.LogPath, &errs)
		if ok {
			certs = append(certs, pair)
		}
	}

	tc := &tls.Config{
		MinVersion:   minVersion,
		CipherSuites: cipherSuites,
		// fasthttp speaks HTTP/1.1 only; saying so stops clients from trying h2.
		NextProtos: []string{"http/1.1"},
	}
	clientAuth(o, tc, &errs)
	if len(errs) > 0 {
		return nil, errs.Err()
	}
	tc.Certificates = certs
	tc.GetCertificate = newSNITable(certs).getCertificate
	return tc, nil
}

// clientAuth applies client_auth and client_ca_file to tc.
func clientAuth(o *ServerOptions, tc *tls.Config, errs *fielderr.List) {
	const caPath = "client_ca_file"
	switch o.ClientAuth {
	case "", ClientAuthNone:
		tc.ClientAuth = tls.NoClientCert
		if o.ClientCAFile != "" {
			slog.Warn("tls: client_ca_file is ignored while client_auth is none", "path", fielderr.Join(o.LogPath, caPath))
		}
		return
	case ClientAuthRequest:
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	case ClientAuthRequire:
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		errs.Add("client_auth", "unknown value %q (want none, request or require)", o.ClientAuth)
		return
	}
	if o.ClientCAFile == "" {
		errs.Add(caPath, "required when client_auth is %q", o.ClientAuth)
		return
	}
	tc.ClientCAs = loadPool(o.ClientCAFile, caPath, o.LogPath, errs)
}
