// Package tlsconf builds the TLS configurations of the client listener
// (certificates by SNI, client certificates) and of https upstreams.
package tlsconf

import (
	"crypto/tls"

	"github.com/sluice-gw/sluice/engine/config"
)

// Server builds the listener's TLS config from server.tls (path is its JSON path).
func Server(cfg *config.ServerTLS, path string) (*tls.Config, config.Errors) {
	var errs config.Errors
	errs.Add(path, "not supported yet")
	return nil, errs
}

// Upstream builds the TLS config for an https service (cfg may be nil).
func Upstream(cfg *config.ServiceTLS, path string) (*tls.Config, config.Errors) {
	var errs config.Errors
	errs.Add(path, "not supported yet")
	return nil, errs
}
