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
	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
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
	return httpbytes.HasToken(h.Peek("Connection"), "upgrade") && httpbytes.HasToken(h.Peek("Upgrade"), "websocket")
}
