// Package tlsconf builds the TLS configurations of the client listener
// (certificates chosen by SNI, optional client certificates) and of https
// upstreams, from typed options (ServerOptions, UpstreamOptions) the engine's
// compile step builds from the config. Everything is loaded and checked once
// at start-up: a file that is missing, unreadable or inconsistent is a
// fielderr.List entry naming its path relative to the options; an expired
// certificate is only a warning (log/slog), so an operator can still start
// and replace it.
package tlsconf

import "crypto/tls"

// minVersion is the oldest protocol either side accepts. Go negotiates the
// newest version both peers support, so TLS 1.3 is preferred automatically.
const minVersion = tls.VersionTLS12

// cipherSuites are the TLS 1.2 suites offered and accepted: ECDHE key exchange
// with an AEAD only (forward secrecy, no CBC, no RSA key exchange). TLS 1.3
// suites are not configurable in Go and are all AEAD already.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// CipherSuites returns a copy of the TLS 1.2 cipher suites sluice allows.
func CipherSuites() []uint16 { return append([]uint16(nil), cipherSuites...) }
