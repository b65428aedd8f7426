package engine

import (
	"github.com/sluice-gw/sluice/engine/cache"
	"github.com/sluice-gw/sluice/engine/compress"
	"github.com/sluice-gw/sluice/engine/forward"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/sluice-gw/sluice/engine/upstream"
	"github.com/sluice-gw/sluice/engine/wsproxy"
)

// This file holds the engine's own pipeline stages; compilePipeline
// (compile_route.go) assembles a route's stage list. The stages of
// ip_filter, cors, auth, rate_limit and the cache's lookup live in their
// packages; the engine's stages reach the pooled per-request state through
// local.

// local returns the engine state that embeds x. Every Exchange the engine
// runs comes from its pool of scratchExchange values, each created with
// Local pointing at itself (see Engine.pool), so this checked assertion
// always holds; it costs a type-word comparison and allocates nothing.
func local(x *pipeline.Exchange) *scratchExchange { return x.Local.(*scratchExchange) }

// terminal returns the upstream stage of r, named name.
func (r *route) terminal(name string) pipeline.Stage {
	serve := r.proxy
	switch {
	case r.aggregate != nil:
		serve = func(se *scratchExchange) { r.aggregate.Serve(&se.Exchange) }
	case r.grpc != nil:
		serve = func(se *scratchExchange) { r.grpc.Serve(&se.Exchange) }
	case r.grpcPass != nil:
		serve = r.passThrough
	case r.websocket:
		return &websocketStage{named: named(name), r: r}
	}
	return &upstreamStage{named: named(name), serve: serve}
}

// upstreamStage is the last stage of a route: it calls the upstream (proxy,
// aggregate, gRPC method or pass-through, chosen when the route compiles)
// and its answer, or failure, is final.
type upstreamStage struct {
	named
	serve func(se *scratchExchange)
}

// Handle calls the upstream; it always replies.
func (s *upstreamStage) Handle(x *pipeline.Exchange) pipeline.Verdict {
	s.serve(local(x))
	return pipeline.Replied
}

// stageNames lists r's stages as GET /routes shows them: the steps the
// configuration names (the engine's plumbing is left out), those that act
// on the request in the order they run, then those that act only on the
// answer (response_headers, compress).
func (r *route) stageNames() []string {
	var names, after []string
	for _, s := range r.pipeline.Stages() {
		switch s.(type) {
		case *responseHeaders, *compressStage:
			after = append(after, s.Name())
		default:
			if n := s.Name(); n != "" {
				names = append(names, n)
			}
		}
	}
	return append(names, after...)
}

// named gives a stage its name.
type named string

// Name is the stage's name in GET /routes.
func (n named) Name() string { return string(n) }

// Deadline rules of the target stage.
const (
	deadlineNone          uint8 = iota // the upstream stage sets its own (aggregate, gRPC pass-through)
	deadlinePicked                     // the picked service's timeout
	deadlineUnlessUpgrade              // the same, except for a WebSocket upgrade
)

// targetStage is plumbing: after the checks and before the cache, it picks
// the service the request goes to (the route's, or the side its split
// picks) and sets the upstream deadline, which bounds a cache follower's
// wait too.
type targetStage struct {
	named
	edge     *edgePolicies
	service  *upstream.Service
	deadline uint8
}

func (r *route) target() *targetStage {
	t := &targetStage{edge: &r.edge, service: r.service, deadline: deadlinePicked}
	switch {
	case r.aggregate != nil, r.grpc == nil && r.grpcPass != nil:
		t.deadline = deadlineNone
	case r.grpc == nil && r.websocket:
		t.deadline = deadlineUnlessUpgrade
	}
	return t
}

// Handle picks the service and sets the deadline; it always goes on.
func (t *targetStage) Handle(x *pipeline.Exchange) pipeline.Verdict {
	se := local(x)
	se.service = t.edge.service(x, t.service)
	se.upgrade = false
	switch t.deadline {
	case deadlineUnlessUpgrade:
		// Look at Upgrade before prepareStage removes it as hop-by-hop.
		if se.upgrade = wsproxy.IsUpgrade(x); se.upgrade {
			break
		}
		fallthrough
	case deadlinePicked:
		x.Deadline = x.Start.Add(se.service.Timeout)
	}
	return pipeline.Next
}

// responseHeaders is the response transform: it applies the route's
// response_headers to every answer that is not a failure, cache hits
// included.
type responseHeaders struct{ ops headerOps }

// Name is the stage's name in GET /routes.
func (*responseHeaders) Name() string { return "response_headers" }

// Handle does nothing: the transform acts on the answer, in Finish.
func (*responseHeaders) Handle(*pipeline.Exchange) pipeline.Verdict { return pipeline.Next }

// Finish applies response_headers unless the request failed.
func (s *responseHeaders) Finish(x *pipeline.Exchange) {
	if _, failed := x.Rejected(); !failed {
		s.ops.apply(&x.Ctx.Response.Header)
	}
}

// cacheStage answers from the route's cache (Lookup) and stores what the
// upstream answered (Fill), with its per-request state in the scratch.
type cacheStage struct{ c *cache.Route }

// Name is the stage's name in GET /routes.
func (s *cacheStage) Name() string { return s.c.Name() }

// Handle answers a hit (Replied) or prepares the fill.
func (s *cacheStage) Handle(x *pipeline.Exchange) pipeline.Verdict {
	return s.c.Lookup(x, &local(x).cache)
}

// Finish stores the answer and wakes the requests waiting for it.
func (s *cacheStage) Finish(x *pipeline.Exchange) { s.c.Fill(x, &local(x).cache) }

// compressStage compresses the upstream's answer as it arrives, before the
// cache stores it.
type compressStage struct{ p *compress.Policy }

// Name is the stage's name in GET /routes.
func (*compressStage) Name() string { return "compress" }

// Handle does nothing: compression acts on the answer, in Finish.
func (*compressStage) Handle(*pipeline.Exchange) pipeline.Verdict { return pipeline.Next }

// Finish compresses the answer unless the request failed.
func (s *compressStage) Finish(x *pipeline.Exchange) {
	if _, failed := x.Rejected(); !failed {
		s.p.Respond(x)
	}
}

// prepareStage is plumbing: it turns the client request into the upstream
// request, in place (forwarding headers, the upstream span's trace context).
// It comes after the cache, so that a hit never pays for it.
type prepareStage struct{ named }

// Handle rewrites the request for the upstream; it always goes on.
func (prepareStage) Handle(x *pipeline.Exchange) pipeline.Verdict {
	se := local(x)
	h := &x.Ctx.Request.Header
	se.scratch = forward.Request(x, h, se.trustedPeer, se.scratch)
	svc := "" // aggregate routes name their services per backend
	if se.service != nil {
		svc = se.service.Name // the split's pick, when the route splits
	}
	se.trace.StartUpstream(h, svc)
	return pipeline.Next
}

// requestHeaders applies the route's request_headers to the upstream
// request, after the forwarding headers.
type requestHeaders struct{ ops headerOps }

// Name is the stage's name in GET /routes.
func (*requestHeaders) Name() string { return "request_headers" }

// Handle applies request_headers; it always goes on.
func (s *requestHeaders) Handle(x *pipeline.Exchange) pipeline.Verdict {
	s.ops.apply(&x.Ctx.Request.Header)
	return pipeline.Next
}

// websocketStage proxies an admitted WebSocket upgrade, and any other
// request of the route like the proxy.
type websocketStage struct {
	named
	r *route
}

// Handle tunnels an admitted upgrade, or proxies the request.
func (s *websocketStage) Handle(x *pipeline.Exchange) pipeline.Verdict {
	se := local(x)
	if !se.upgrade {
		s.r.proxy(se)
		return pipeline.Replied
	}
	se.uri = s.r.upstreamURI(se, &x.Ctx.Request)
	x.Ctx.Request.SetRequestURIBytes(se.uri)
	wsproxy.Serve(x, se.service)
	return pipeline.Replied
}
