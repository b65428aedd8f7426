package tlsconf

import (
	"crypto/tls"
	"net"

	"github.com/sluice-gw/sluice/engine/fielderr"
)

// sessionCacheSize bounds the client session cache shared by all targets of
// one service, so reconnects resume instead of doing a full handshake.
const sessionCacheSize = 256

// UpstreamOptions are a service's TLS settings (its "tls" object). The zero
// value verifies against the system pool and presents no client certificate.
type UpstreamOptions struct {
	// CAFile is a PEM bundle that replaces the system pool when set.
	CAFile string
	// ServerName, when set, is the name every target's certificate is
	// verified against (else each target's own host).
	ServerName string
	// CertFile and KeyFile are the client certificate: both or neither.
	CertFile, KeyFile string
	// LogPath is where these options sit in the config
	// ("services.catalog.tls"); it only names them in log warnings (errors
	// carry relative paths).
	LogPath string
}

// IsZero reports whether o sets nothing (LogPath aside): an empty "tls"
// object.
func (o UpstreamOptions) IsZero() bool {
	o.LogPath = ""
	return o == UpstreamOptions{}
}

// Upstream builds the client TLS config for an https service from o. Its
// problems are a fielderr.List with paths relative to o ("key_file").
//
// The server certificate is verified against CAFile when set (replacing
// the system pool), else the system pool. The returned config's ServerName is
// empty unless o.ServerName is set: the caller clones it per target and
// fills in the target's host (ForTarget does that; fasthttp.HostClient with
// IsTLS does the same by itself). A client certificate is presented when
// CertFile and KeyFile are both set; one without the other is an error.
func Upstream(o UpstreamOptions) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         minVersion,
		CipherSuites:       cipherSuites,
		ClientSessionCache: tls.NewLRUClientSessionCache(sessionCacheSize),
	}
	var errs fielderr.List
	if o.CAFile != "" {
		tc.RootCAs = loadPool(o.CAFile, "ca_file", o.LogPath, &errs)
	}
	tc.ServerName = o.ServerName
	const certPath, keyPath = "cert_file", "key_file"
	switch {
	case o.CertFile != "" && o.KeyFile != "":
		if pair, ok := loadPair(o.CertFile, o.KeyFile, certPath, keyPath, o.LogPath, &errs); ok {
			tc.Certificates = []tls.Certificate{pair}
		}
	case o.CertFile != "":
		errs.Add(keyPath, "required when cert_file is set")
	case o.KeyFile != "":
		errs.Add(certPath, "required when key_file is set")
	}
	if len(errs) > 0 {
		return nil, errs.Err()
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
