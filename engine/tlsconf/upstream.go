package tlsconf

import (
	"crypto/tls"
	"net"

	"github.com/sluice-gw/sluice/engine/config"
)

// sessionCacheSize bounds the client session cache shared by all targets of
// one service, so reconnects resume instead of doing a full handshake.
const sessionCacheSize = 256

// Upstream builds the client TLS config for an https service; cfg may be nil
// (verify against the system pool, no client certificate) and path is the
// JSON path of the service's "tls" object (e.g. "services.catalog.tls").
//
// The server certificate is verified against tls.ca_file when set (replacing
// the system pool), else the system pool. The returned config's ServerName is
// empty unless tls.server_name is set: the caller clones it per target and
// fills in the target's host (ForTarget does that; fasthttp.HostClient with
// IsTLS does the same by itself). A client certificate is presented when
// cert_file and key_file are both set; one without the other is an error.
func Upstream(cfg *config.ServiceTLS, path string) (*tls.Config, config.Errors) {
	tc := &tls.Config{
		MinVersion:         minVersion,
		CipherSuites:       cipherSuites,
		ClientSessionCache: tls.NewLRUClientSessionCache(sessionCacheSize),
	}
	if cfg == nil {
		return tc, nil
	}
	var errs config.Errors
	if cfg.CAFile != "" {
		tc.RootCAs = loadPool(cfg.CAFile, config.Join(path, "ca_file"), &errs)
	}
	tc.ServerName = cfg.ServerName
	certPath, keyPath := config.Join(path, "cert_file"), config.Join(path, "key_file")
	switch {
	case cfg.CertFile != "" && cfg.KeyFile != "":
		if pair, ok := loadPair(cfg.CertFile, cfg.KeyFile, certPath, keyPath, &errs); ok {
			tc.Certificates = []tls.Certificate{pair}
		}
	case cfg.CertFile != "":
		errs.Add(keyPath, "required when cert_file is set")
	case cfg.KeyFile != "":
		errs.Add(certPath, "required when key_file is set")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return tc, nil
}

// ForTarget returns base for dialling addr ("host:port" or "host"): when
// base.ServerName is empty, a clone whose ServerName is the target's host, so
// the certificate is verified against the name (or IP) the target was
// configured with. Call it once per target at start-up, not per request.
func ForTarget(base *tls.Config, addr string) *tls.Config {
	if base == nil || base.ServerName != "" {
		return base
	}
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	c := base.Clone()
	c.ServerName = host
	return c
}
