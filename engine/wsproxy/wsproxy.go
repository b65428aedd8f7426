// Package wsproxy proxies WebSocket upgrades on routes with "websocket": true:
// after the pipeline admits the upgrade request, the client connection is
// hijacked and spliced to a connection to one of the service's targets.
package wsproxy

import (
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/sluice-gw/sluice/engine/upstream"
)

// IsUpgrade reports whether x's request asks for a WebSocket upgrade.
func IsUpgrade(x *pipeline.Exchange) bool { return false }

// Serve proxies the upgrade request in x to svc (the request URI has already
// been rewritten for upstream) or fails x.
func Serve(x *pipeline.Exchange, svc *upstream.Service) {
	x.Fail(501, "not_implemented", "websocket proxying is not supported yet")
}
