// Package pipeline defines the per-request state that flows through a route's
// compiled stages (validate → auth → rate limit → cache → upstream → response
// transform), the way a stage rejects a request, and the Stage contract with
// the Pipeline that runs a route's stages in order.
//
// An Exchange is pooled and reused: stages must not keep references to it, or
// to any slice it holds, after the request has finished.
package pipeline

import (
	"time"

	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/tracing"
	"github.com/sluice-gw/sluice/router"
	"github.com/valyala/fasthttp"
)

// Claims gives read access to the verified claims of the caller's token.
type Claims interface {
	// Claim returns the claim's value as text: strings verbatim, other JSON
	// values as their JSON text. ok is false when the claim is absent.
	Claim(name string) (value []byte, ok bool)
}

// Exchange is the state of one client request while it moves through a route.
type Exchange struct {
	// Ctx is the client request and the response being built.
	Ctx *fasthttp.RequestCtx
	// RouteName is the matched route's name ("unmatched" before matching).
	RouteName string
	// Params holds the path parameters of the matched route.
	Params router.Params
	// Path is the normalised request path (decoded, dot segments resolved).
	Path []byte
	// ClientIP is the client's address as text, after trusted-proxy handling.
	ClientIP []byte
	// RequestID is the request id sent upstream and returned to the client.
	RequestID []byte
	// TLS is true when the client connection is TLS.
	TLS bool
	// Consumer is the authenticated identity (JWT sub, API key name, HMAC key
	// id, mTLS subject); empty when the route has no auth.
	Consumer []byte
	// Claims are the caller's verified token claims; nil without a token.
	Claims Claims
	// Local is the per-request state of the code that owns the Exchange
	// and embeds it in a larger pooled value (the engine's scratch buffers,
	// route and service pick), for that code's own stages. It is set once,
	// when the pooled value is created, and stays set across Reset: storing
	// a pointer in it allocates nothing per request, and the owner reads it
	// back with a checked type assertion rather than a pointer cast. Stages
	// of other packages ignore it.
	Local any
	// Start is when the request was received.
	Start time.Time
	// Deadline bounds the upstream work of the request (zero: none).
	Deadline time.Time
	// Target is the upstream address that answered, for logs and metrics.
	Target string
	// CacheResult is "hit", "miss", "bypass" or "stale" on cached routes.
	CacheResult string
	// Trace is the request's tracing state, for stages that make upstream
	// calls of their own (it stays set across Reset: it belongs to the pooled
	// state that embeds the Exchange).
	Trace *tracing.Request
	// LogExtra holds pre-encoded JSON members (each starting with ',') that
	// stages add to the access log line.
	LogExtra []byte

	rejected bool
	reject   Reject

	headerBuf []byte
	headers   []headerSpan
}

// Reject describes a response the gateway makes itself instead of the upstream.
type Reject struct {
	Status  int
	Code    string
	Message string
	// Body, when set, is sent verbatim as the JSON answer instead of the
	// standard error body (a service's configured fallback).
	Body []byte
}

type headerSpan struct {
	name       string
	start, end int
}

// Reset clears x for reuse, keeping its buffers.
func (x *Exchange) Reset() {
	x.Ctx = nil
	x.RouteName = ""
	x.Params.Reset()
	x.Path = x.Path[:0]
	x.ClientIP = x.ClientIP[:0]
	x.RequestID = x.RequestID[:0]
	x.TLS = false
	x.Consumer = x.Consumer[:0]
	x.Claims = nil
	x.Start = time.Time{}
	x.Deadline = time.Time{}
	x.Target = ""
	x.CacheResult = ""
	x.LogExtra = x.LogExtra[:0]
	x.rejected = false
	x.reject = Reject{}
	x.headerBuf = x.headerBuf[:0]
	x.headers = x.headers[:0]
}

// Fail records that the gateway answers the request itself with the
// fault's status and code and message (the fault's default message when
// empty). It returns false so that a stage can write `return x.Fail(...)`.
// The last call wins.
func (x *Exchange) Fail(kind fault.Kind, message string) bool {
	x.rejected = true
	x.reject = RejectOf(kind, message)
	return false
}

// FailWithBody is Fail with a verbatim JSON body and its own status (a
// configured fallback).
func (x *Exchange) FailWithBody(kind fault.Kind, status int, message string, body []byte) bool {
	x.rejected = true
	x.reject = RejectOf(kind, message)
	x.reject.Status, x.reject.Body = status, body
	return false
}

// RejectOf is the Reject for kind with message (kind's default when empty).
func RejectOf(kind fault.Kind, message string) Reject {
	if message == "" {
		message = kind.Message()
	}
	return Reject{Status: kind.Status(), Code: kind.Code(), Message: message}
}

// Rejected reports whether a stage called Fail, and with what.
func (x *Exchange) Rejected() (Reject, bool) { return x.reject, x.rejected }

// ClearReject forgets an earlier Fail (for example when a stale cache entry
// answers instead of the failed upstream).
func (x *Exchange) ClearReject() { x.rejected = false; x.reject = Reject{} }

// AddResponseHeader queues a header for the final response, whatever produces
// it (upstream, cache or an error). name must be a constant or otherwise
// long-lived string; value is copied.
func (x *Exchange) AddResponseHeader(name string, value []byte) {
	start := len(x.headerBuf)
	x.headerBuf = append(x.headerBuf, value...)
	x.headers = append(x.headers, headerSpan{name: name, start: start, end: len(x.headerBuf)})
}

// AddResponseHeaderString is AddResponseHeader for a string value.
func (x *Exchange) AddResponseHeaderString(name, value string) {
	start := len(x.headerBuf)
	x.headerBuf = append(x.headerBuf, value...)
	x.headers = append(x.headers, headerSpan{name: name, start: start, end: len(x.headerBuf)})
}

// ApplyResponseHeaders sets every queued header on the response.
func (x *Exchange) ApplyResponseHeaders(h *fasthttp.ResponseHeader) {
	for _, s := range x.headers {
		h.SetBytesV(s.name, x.headerBuf[s.start:s.end])
	}
}

// AppendJSONString appends s as a JSON string literal (for LogExtra members
// and error bodies, without going through reflection).
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
