package upstream

import (
	"crypto/tls"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// PipelinedBodyLimit bounds an answer read over a pipelined connection: the
// answers share the connection, so each is read whole before the next one
// (an answer streamed on a pooled connection has no such limit).
const PipelinedBodyLimit = 16 << 20

// newPipeline returns the HTTP/1.1 pipelining client of a target whose
// service sets pipelining: conns connections, each carrying up to
// maxConns/conns requests in flight, so the target's total stays within
// max_conns_per_target. Requests queued while the connection's writer is
// busy leave in one write, and their answers arrive in one read: fewer
// system calls on both sides than one connection per request in flight.
func newPipeline(addr string, conns, maxConns int, connect time.Duration, tlsCfg *tls.Config) *fasthttp.PipelineClient {
	depth := maxConns / conns
	if depth < 1 {
		depth = 1
	}
	p := &fasthttp.PipelineClient{
		Addr:                     addr,
		NoDefaultUserAgentHeader: true,
		DisablePathNormalizing:   true,
		MaxConns:                 conns,
		MaxPendingRequests:       depth,
		MaxIdleConnDuration:      60 * time.Second,
		ReadBufferSize:           16 << 10,
		WriteBufferSize:          16 << 10,
		MaxResponseBodySize:      PipelinedBodyLimit,
		Logger:                   quietLogger{}, // failures reach the request as errors
		Dial: func(a string) (net.Conn, error) {
			return (&net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}).Dial("tcp", a)
		},
	}
	if tlsCfg != nil {
		p.IsTLS = true
		p.TLSConfig = tlsCfg
	}
	return p
}

// pipelinable reports whether req may share a pipelined connection: an
// idempotent method without a body (RFC 9112 section 9.3.2 advises against
// pipelining after a non-idempotent request, and a body would be moved out
// of req, which a retry needs).
func pipelinable(req *fasthttp.Request) bool {
	if req.IsBodyStream() || len(req.Body()) > 0 {
		return false
	}
	switch string(req.Header.Method()) {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return false
}

// quietLogger drops fasthttp's own log lines.
type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}
