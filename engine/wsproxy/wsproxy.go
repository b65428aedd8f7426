// Package wsproxy proxies WebSocket upgrades on routes with "websocket": true:
// after the pipeline admits the upgrade request (so validation, auth and rate
// limits apply to it like to any request), the request goes to one of the
// service's targets over a fresh connection; when the target switches
// protocols, the client connection is hijacked and spliced to it.
//
// A tunnel closes when either side closes, or when no byte has moved in
// either direction for the service's timeout (like nginx's
// proxy_read_timeout), so an abandoned connection does not live forever.
package wsproxy

import (
	"bytes"

	"github.com/sluice-gw/sluice/engine/pipeline"
)

// IsUpgrade reports whether x's request asks for a WebSocket upgrade: a GET
// whose Connection lists "upgrade" and whose Upgrade lists "websocket" (both
// case-insensitive). It must run before hop-by-hop headers are removed.
func IsUpgrade(x *pipeline.Exchange) bool {
	if !x.Ctx.IsGet() {
		return false
	}
	h := &x.Ctx.Request.Header
	return hasToken(h.Peek("Connection"), "upgrade") && hasToken(h.Peek("Upgrade"), "websocket")
}

// hasToken reports whether the comma-separated list v holds token (lower
// case), ignoring case and surrounding spaces.
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		tok := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		if equalFold(bytes.TrimSpace(tok), token) {
			return true
		}
	}
	return false
}

// equalFold compares b with the lower-case ASCII string s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
