package engine

import (
	"unsafe"

	"github.com/sluice-gw/sluice/engine/compress"
	"github.com/sluice-gw/sluice/engine/cors"
	"github.com/sluice-gw/sluice/engine/ipfilter"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/sluice-gw/sluice/engine/split"
	"github.com/sluice-gw/sluice/engine/upstream"
	"github.com/sluice-gw/sluice/router"
)

// edgePolicies are a route's edge stages (ip_filter, cors, compress, split),
// each compiled by its own package; a nil one is not configured and has no
// place in the route's pipeline (compilePipeline).
type edgePolicies struct {
	ipFilter *ipfilter.Filter
	cors     *cors.Policy
	compress *compress.Policy
	split    *split.Split
	// sides are the split's services, in the order of split.services.
	sides []*upstream.Service
}

// service returns the service the request goes to: the route's own, or the
// side of the split it falls on.
func (p *edgePolicies) service(x *pipeline.Exchange, own *upstream.Service) *upstream.Service {
	if p.split == nil {
		return own
	}
	if i := p.split.Pick(x); i >= 0 {
		return p.sides[i]
	}
	return own
}

// respond runs on every answer of the route, the gateway's errors included,
// after the response transform: Vary: Origin for CORS.
func (p *edgePolicies) respond(x *pipeline.Exchange) {
	if x.Ctx.Response.StatusCode() == 101 {
		return // a WebSocket tunnel: the answer is already on the wire
	}
	p.cors.Respond(x)
}

// preflightLookup lets a CORS preflight reach its route whatever the route's
// methods: when the path exists but no route on it allows OPTIONS (res is a
// 405), the preflight goes to the route serving the method it asks about, or
// else to the first route on the path, provided that route has cors. Any
// other request, or a route without cors, keeps the 405.
func (e *Engine) preflightLookup(x *pipeline.Exchange, res router.Result) router.Result {
	req := &x.Ctx.Request
	if res.Status != router.MethodNotAllowed || !cors.IsPreflight(&req.Header) {
		return res
	}
	allow := res.Allow
	first := allow
	for i := 0; i < len(allow); i++ {
		if allow[i] == ',' {
			first = allow[:i]
			break
		}
	}
	for _, m := range [2][]byte{req.Header.Peek(cors.HeaderRequestMethod), s2b(first)} {
		r := e.router.Lookup(m, x.Ctx.Host(), x.Path, &req.Header, &x.Params)
		if r.Status == router.Found && e.routes[r.ID].edge.cors != nil {
			return r
		}
	}
	x.Params.Reset()
	return res
}

// s2b views s as bytes; the bytes must not be written.
func s2b(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
