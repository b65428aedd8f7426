package engine

import (
	"bytes"
	"time"

	"github.com/sluice-gw/sluice/engine/cache"
	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/forward"
	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/sluice-gw/sluice/engine/tracing"
	"github.com/sluice-gw/sluice/engine/upstream"
	"github.com/sluice-gw/sluice/router"
	"github.com/valyala/fasthttp"
)

// scratchExchange is the pooled per-request state: the stages' Exchange plus
// the engine's own reusable buffers.
type scratchExchange struct {
	pipeline.Exchange
	uri     []byte
	scratch []byte
	// body is the spare buffer a streamed request body is read into (then
	// swapped with the request's own).
	body []byte
	// upload watches a streamed request body on its way upstream.
	upload upstream.ClientBody
	// trustedPeer is true when the TCP peer is a trusted proxy.
	trustedPeer bool
	// trace is the request's tracing state (zero when not sampled).
	trace tracing.Request
	// service is the service this request goes to: the route's, or the one
	// its split picked (set by targetStage).
	service *upstream.Service
	// upgrade is true when a WebSocket route admits an upgrade (set by
	// targetStage, before the Upgrade header is dropped as hop-by-hop).
	upgrade bool
	// cache is the cache stage's state between its lookup and its fill.
	cache cache.Pending
}

// newScratch returns a scratchExchange for the engine's pool, its Exchange
// pointing at it (see local).
func newScratch() any {
	se := new(scratchExchange)
	se.Trace = &se.trace
	se.Local = se
	return se
}

// Handle serves one client request. It is the fasthttp request handler.
func (e *Engine) Handle(ctx *fasthttp.RequestCtx) {
	se := e.pool.Get().(*scratchExchange)
	x := &se.Exchange
	x.Ctx = ctx
	x.Start = time.Now()
	x.RouteName = "unmatched"
	x.TLS = ctx.IsTLS()
	clientClose := ctx.Request.Header.ConnectionClose()
	slowdown() // empty unless built with a bench self-test tag (engine/slowdown.go)

	r := e.serve(se)
	e.finish(se, r)
	// Once draining starts every answer closes its connection, so a busy
	// keep-alive client reconnects (to the new process) instead of meeting
	// the close of an idle connection it is about to reuse.
	// A 101 keeps its Connection: Upgrade (the tunnel is closed by Close).
	if (clientClose || e.draining.Load()) && ctx.Response.StatusCode() != fasthttp.StatusSwitchingProtocols {
		ctx.SetConnectionClose()
	}
	afterRequest(ctx)
	x.Reset()
	e.pool.Put(se)
}

// serve runs the pipeline and returns the matched route (nil when none).
func (e *Engine) serve(se *scratchExchange) *route {
	x := &se.Exchange
	ctx := x.Ctx
	req := &ctx.Request

	if id := req.Header.Peek(forward.HeaderRequestID); forward.ValidRequestID(id) {
		x.RequestID = append(x.RequestID[:0], id...)
	} else {
		x.RequestID = forward.AppendRequestID(x.RequestID[:0])
	}
	x.ClientIP, se.trustedPeer = e.proxies.ClientIP(x.ClientIP[:0], ctx)
	e.tracer.Begin(&se.trace, &req.Header)

	// fasthttp takes any HTTP/d.d request line; only major version 1 is
	// spoken here (an h2 stream reaches this point as HTTP/1.1).
	if p := req.Header.Protocol(); len(p) != len("HTTP/1.1") || p[5] != '1' {
		x.Ctx.SetConnectionClose()
		x.Fail(fault.VersionNotSupported, "HTTP version not supported")
		return nil
	}
	if headerBlockSize(&req.Header) > e.server.maxHeaderBytes {
		x.Ctx.SetConnectionClose()
		x.Fail(fault.HeadersTooLarge, "request headers too large")
		return nil
	}
	if msg := badFraming(&req.Header); msg != "" {
		x.Fail(fault.BadRequest, msg)
		return nil
	}
	if !e.admitBody(x) {
		return nil
	}
	path, err := router.Normalize(x.Path[:0], req.URI().PathOriginal())
	x.Path = path
	if err != nil {
		x.Fail(fault.BadRequest, "malformed request path")
		return nil
	}
	e.auth.StripForwarded(&req.Header)

	res := e.router.Lookup(ctx.Method(), ctx.Host(), x.Path, &req.Header, &x.Params)
	res = e.preflightLookup(x, res)
	switch res.Status {
	case router.NotFound:
		x.Fail(fault.NotFound, "no route for this request")
		return nil
	case router.MethodNotAllowed:
		x.AddResponseHeaderString("Allow", res.Allow)
		x.Fail(fault.MethodNotAllowed, "method not allowed on this route")
		return nil
	}
	r := e.routes[res.ID]
	x.RouteName = r.name
	if r.wholeBody && !e.bufferBody(x) {
		return r
	}
	r.pipeline.Run(x)
	return r
}

// headerBlockSize is the size of the request line and the header block as
// received (the read buffer is a little larger than max_header_bytes, so the
// limit is exact here rather than at the buffer's edge).
func headerBlockSize(h *fasthttp.RequestHeader) int {
	return len(h.Method()) + 1 + len(h.RequestURI()) + 1 + len(h.Protocol()) + 2 + len(h.RawHeaders())
}

// badFraming reports a request carrying both Transfer-Encoding and
// Content-Length, a request smuggling attempt that must never be forwarded.
// fasthttp keeps only the framing it used in its parsed header, so the raw
// header block is consulted. (It refuses differing duplicate Content-Length
// values itself, which reaches the client as a 400 from handleParseError.)
// A header name that is not a token is refused too. The answer is the 400's
// message, "" when the framing is sound.
func badFraming(h *fasthttp.RequestHeader) string {
	raw := h.RawHeaders()
	var cl, te bool
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			continue
		}
		// fasthttp takes names such as "Bad Name" that other servers split
		// or refuse; forwarding them could smuggle a header past a stricter
		// upstream, so the request is a 400 instead.
		name := line[:i]
		if !httpbytes.ValidTokenBytes(name) {
			return "malformed header name"
		}
		cl = cl || httpbytes.EqualFold(name, "Content-Length")
		te = te || httpbytes.EqualFold(name, "Transfer-Encoding")
	}
	if cl && te {
		return "conflicting Content-Length or Transfer-Encoding"
	}
	return ""
}

// proxy sends the prepared upstream request of se to its service and
// streams the answer back: the upstream step of a proxied route.
func (r *route) proxy(se *scratchExchange) {
	x := &se.Exchange
	ctx := x.Ctx
	req := &ctx.Request
	se.uri = r.upstreamURI(se, req)
	req.SetRequestURIBytes(se.uri)
	// A streamed request body cannot be replayed, so it is never retried.
	retryable := idempotent(ctx) && !req.IsBodyStream()
	if !retryable && req.IsBodyStream() {
		watchUpload(se, req)
	}
	ctx.Response.StreamBody = true
	t, err := se.service.Do(req, &ctx.Response, x.Deadline, retryable)
	if t != nil {
		x.Target = t.Addr
	}
	se.trace.EndUpstream(x.Target, ctx.Response.StatusCode(), err)
	if err != nil {
		upstream.FailExchange(x, se.service, err)
		return
	}
	forward.Response(&ctx.Response.Header, nil)
}

// upstreamURI builds the upstream request URI: the normalised path after
// strip_prefix or rewrite, escaped, plus the client's query.
func (r *route) upstreamURI(se *scratchExchange, req *fasthttp.Request) []byte {
	x := &se.Exchange
	var path []byte
	switch {
	case r.rewrite != nil:
		se.scratch = r.rewrite.appendTo(se.scratch[:0], x)
		path = se.scratch
	case len(r.stripPrefix) > 0 && hasPathPrefix(x.Path, r.stripPrefix):
		path = x.Path[len(r.stripPrefix):]
		if len(path) == 0 {
			path = slash
		}
	default:
		path = x.Path
	}
	buf := router.Escape(se.uri[:0], path)
	if q := req.URI().QueryString(); len(q) > 0 {
		buf = append(buf, '?')
		buf = append(buf, q...)
	}
	return buf
}

var slash = []byte("/")

func hasPathPrefix(path, prefix []byte) bool {
	if len(path) < len(prefix) || string(path[:len(prefix)]) != string(prefix) {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '/' || prefix[len(prefix)-1] == '/'
}

func idempotent(ctx *fasthttp.RequestCtx) bool {
	switch string(ctx.Method()) {
	case "GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE":
		return true
	}
	return false
}

// finish writes a gateway-made answer if a stage failed the request, applies
// queued headers and records metrics and the access log line.
func (e *Engine) finish(se *scratchExchange, r *route) {
	x := &se.Exchange
	ctx := x.Ctx
	if rej, failed := x.Rejected(); failed {
		writeError(ctx, rej, x.RequestID)
	}
	if r != nil {
		r.edge.respond(x)
	}
	ctx.Response.Header.SetBytesV(forward.HeaderRequestID, x.RequestID)
	x.ApplyResponseHeaders(&ctx.Response.Header)
	status := ctx.Response.StatusCode()
	d := time.Since(x.Start)
	if r != nil {
		r.requests.inc(status)
		r.duration.Update(d.Seconds())
	} else {
		e.unmatched.inc(status)
		e.unmatchedD.Update(d.Seconds())
	}
	if e.log != nil && e.log.enabled {
		e.log.write(x, status, d)
	}
	e.tracer.Finish(&se.trace, x.RouteName, ctx.Method(), x.RequestID, x.Target, x.Start, status)
}
