package engine

import (
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/tlsconf"
)

// serverTLSOptions translates server.tls (path is its JSON path); nil stays
// nil (plain HTTP).
func serverTLSOptions(c *config.ServerTLS, path string) *tlsconf.ServerOptions {
	if c == nil {
		return nil
	}
	o := &tlsconf.ServerOptions{ClientAuth: c.ClientAuth, ClientCAFile: c.ClientCAFile, LogPath: path}
	for _, cert := range c.Certificates {
		o.Certificates = append(o.Certificates, tlsconf.CertFiles{CertFile: cert.CertFile, KeyFile: cert.KeyFile})
	}
	return o
}

// serviceTLSOptions translates a service's "tls" object (path is its JSON
// path); nil stays nil (no tls object).
func serviceTLSOptions(c *config.ServiceTLS, path string) *tlsconf.UpstreamOptions {
	if c == nil {
		return nil
	}
	return &tlsconf.UpstreamOptions{
		CAFile: c.CAFile, ServerName: c.ServerName,
		CertFile: c.CertFile, KeyFile: c.KeyFile, LogPath: path,
	}
}
