package tlsconf

import (
	"crypto/tls"
	"log/slog"

	"github.com/sluice-gw/sluice/engine/config"
)

// Client authentication modes of server.tls.client_auth.
const (
	ClientAuthNone    = "none"
	ClientAuthRequest = "request"
	ClientAuthRequire = "require"
)

// Server builds the listener's TLS config from server.tls; path is the JSON
// path of that object (e.g. "server.tls"). A nil cfg means plain HTTP and
// returns (nil, nil).
//
// The config chooses a certificate by SNI (exact SAN, then wildcard SAN, else
// the first certificate), accepts TLS 1.2 and 1.3 with ECDHE+AEAD suites only,
// and resumes sessions with tickets whose keys crypto/tls rotates itself
// (a new key every day, each accepted for a week). With client_auth
// "request" a client certificate is optional but must chain to
// client_ca_file when given; with "require" it is mandatory. The verified
// chain is in tls.ConnectionState.VerifiedChains for the mtls auth policy.
func Server(cfg *config.ServerTLS, path string) (*tls.Config, config.Errors) {
	if cfg == nil {
		return nil, nil
	}
	var errs config.Errors
	certsPath := config.Join(path, "certificates")
	if len(cfg.Certificates) == 0 {
		errs.Add(certsPath, "at least one certificate is required")
	}
	certs := make([]tls.Certificate, 0, len(cfg.Certificates))
	for i, c := range cfg.Certificates {
		p := config.Index(certsPath, i)
		pair, ok := loadPair(c.CertFile, c.KeyFile, config.Join(p, "cert_file"), config.Join(p, "key_file"), &errs)
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
	clientAuth(cfg, path, tc, &errs)
	if len(errs) > 0 {
		return nil, errs
	}
	tc.Certificates = certs
	tc.GetCertificate = newSNITable(certs).getCertificate
	return tc, nil
}

// clientAuth applies client_auth and client_ca_file to tc.
func clientAuth(cfg *config.ServerTLS, path string, tc *tls.Config, errs *config.Errors) {
	caPath := config.Join(path, "client_ca_file")
	switch cfg.ClientAuth {
	case "", ClientAuthNone:
		tc.ClientAuth = tls.NoClientCert
		if cfg.ClientCAFile != "" {
			slog.Warn("tls: client_ca_file is ignored while client_auth is none", "path", caPath)
		}
		return
	case ClientAuthRequest:
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	case ClientAuthRequire:
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		errs.Add(config.Join(path, "client_auth"), "unknown value %q (want none, request or require)", cfg.ClientAuth)
		return
	}
	if cfg.ClientCAFile == "" {
		errs.Add(caPath, "required when client_auth is %q", cfg.ClientAuth)
		return
	}
	tc.ClientCAs = loadPool(cfg.ClientCAFile, caPath, errs)
}
