package engine

import (
	"bytes"
	"io"
	"net/http/pprof"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/forward"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// Go's profiles under /debug/pprof/ on the admin listener, for finding where
// a gateway's time goes under real load.
var (
	pprofIndex = fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Index)
	pprofCPU   = fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Profile)
	pprofCmd   = fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Cmdline)
	pprofSym   = fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Symbol)
	pprofTrace = fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Trace)
)

// handleAdmin serves the admin listener: /healthz, /readyz, /metrics, /routes.
func (e *Engine) handleAdmin(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/healthz":
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"status":"ok"}` + "\n")
	case "/readyz":
		ctx.SetContentType("application/json")
		if e.Ready() {
			ctx.SetBodyString(`{"status":"ready"}` + "\n")
			return
		}
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		if e.draining.Load() {
			ctx.SetBodyString(`{"status":"draining"}` + "\n")
		} else {
			ctx.SetBodyString(`{"status":"starting"}` + "\n")
		}
	case "/metrics":
		ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
		e.WriteMetrics(ctx)
	case "/routes":
		ctx.SetContentType("application/json")
		if e.routesDoc == nil {
			ctx.SetStatusCode(500)
			return
		}
		ctx.SetBody(e.routesDoc)
	default:
		// Profiles only when asked for (server.admin_pprof): they expose
		// internals and cost CPU.
		if e.server.adminPprof && bytes.HasPrefix(ctx.Path(), []byte("/debug/pprof/")) {
			switch string(ctx.Path()) {
			case "/debug/pprof/profile":
				pprofCPU(ctx)
			case "/debug/pprof/cmdline":
				pprofCmd(ctx)
			case "/debug/pprof/symbol":
				pprofSym(ctx)
			case "/debug/pprof/trace":
				pprofTrace(ctx)
			default:
				pprofIndex(ctx)
			}
			return
		}
		adminError(ctx, fault.NotFound, "unknown admin endpoint")
	}
}

// WriteMetrics writes what GET /metrics answers, in the Prometheus text
// format: the engine's own series, then the process-wide ones (the default
// set, which holds the series of process-wide hooks such as otel's error
// handler and the Redis client's logger, and go_*, process_*).
func (e *Engine) WriteMetrics(w io.Writer) {
	e.metrics.WritePrometheus(w)
	metrics.WritePrometheus(w, true)
}

// adminError answers an admin request with the same JSON error body as the
// client listener, request id included (the client's when sane).
func adminError(ctx *fasthttp.RequestCtx, kind fault.Kind, message string) {
	id := ctx.Request.Header.Peek(forward.HeaderRequestID)
	if !forward.ValidRequestID(id) {
		id = forwardRequestID()
	}
	writeError(ctx, pipeline.RejectOf(kind, message), id)
	ctx.Response.Header.SetBytesV(forward.HeaderRequestID, id)
}

func forwardRequestID() []byte { return forward.AppendRequestID(nil) }
