package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/sluice-gw/sluice/engine/upstream"
	"golang.org/x/net/http2"
	"google.golang.org/grpc/codes"
)

// gRPC pass-through: a route on a grpc service without grpc_method relays
// gRPC calls from HTTP/2 clients to the service unchanged: the request body
// and the answer stream through in both directions (unary, client, server
// and bidirectional streaming), headers and trailers (grpc-status,
// grpc-message, metadata) are relayed as they are, and the call's deadline
// (the client's grpc-timeout, capped by the service's timeout) bounds the
// upstream call and is sent on as grpc-timeout. Auth, rate limits, target
// choice (balancer, health, ejection, circuit breaker, fallback), retries of
// calls that could not connect, metrics and the access log are the route's
// as for any other request.

// grpcPass is the pass-through of one grpc service: an HTTP/2 transport
// (h2c, or TLS when the service has a tls block) shared by its routes.
type grpcPass struct {
	svc *upstream.Service
	tr  *http2.Transport
}

// dialError marks a failure to reach a target: nothing was sent, so the call
// may go to another target.
type dialError struct{ err error }

func (d dialError) Error() string { return "connect: " + d.err.Error() }
func (d dialError) Unwrap() error { return d.err }

// Upstream connections are pinged after this long without frames, and
// closed when the ping is not answered in time (a dead target's calls fail
// fast instead of hanging).
const (
	passReadIdle    = 30 * time.Second
	passPingTimeout = 10 * time.Second
	// passDeadlineGrace is how long after a call's deadline the client
	// stream may still be written (its final status) before it is reset.
	passDeadlineGrace = 2 * time.Second
)

func (p *grpcPass) close() { p.tr.CloseIdleConnections() }

var passBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// grpcPassCheck is plumbing of a gRPC pass-through route: before anything
// is prepared for the upstream, it refuses what is not a gRPC call over
// HTTP/2.
type grpcPassCheck struct{ named }

// Handle answers 426 or 415 to what is not gRPC over HTTP/2.
func (grpcPassCheck) Handle(x *pipeline.Exchange) pipeline.Verdict {
	st, ok := x.Ctx.Conn().(*h2Stream)
	if !ok {
		x.AddResponseHeaderString("Upgrade", "HTTP/2.0")
		x.Fail(fault.UpgradeRequired, "gRPC needs HTTP/2: connect with TLS and ALPN h2")
		return pipeline.Replied
	}
	if !st.grpc {
		x.Fail(fault.UnsupportedMediaType, "this route passes gRPC through: Content-Type must be application/grpc")
		return pipeline.Replied
	}
	return pipeline.Next
}

// passThrough sends the gRPC call of se to the picked service and relays
// its answer.
func (r *route) passThrough(se *scratchExchange) {
	x := &se.Exchange
	st := x.Ctx.Conn().(*h2Stream) // checked by grpcPassCheck
	p := r.grpcPass
	if svc := se.service; svc != nil && svc != p.svc {
		// The route's split picked another service.
		for i, side := range r.edge.sides {
			if side == svc && i < len(r.grpcPassSides) && r.grpcPassSides[i] != nil {
				p = r.grpcPassSides[i]
			}
		}
	}
	se.uri = r.upstreamURI(se, &x.Ctx.Request)

	deadline := x.Start.Add(p.svc.Timeout)
	if d, ok := parseGRPCTimeout(x.Ctx.Request.Header.Peek("Grpc-Timeout")); ok && x.Start.Add(d).Before(deadline) {
		deadline = x.Start.Add(d)
	}
	x.Deadline = deadline
	ctx, cancel := context.WithDeadline(st.r.Context(), deadline)
	defer cancel()
	// The stream's own read and write timeouts give way to the call's
	// deadline (a server stream may outlive write_timeout), plus a grace
	// period: at the deadline the gateway still writes the call's
	// DEADLINE_EXCEEDED trailers, which x/net would otherwise pre-empt by
	// resetting the stream.
	rc := http.NewResponseController(st.w)
	_ = rc.SetReadDeadline(deadline.Add(passDeadlineGrace))
	_ = rc.SetWriteDeadline(deadline.Add(passDeadlineGrace))

	header := make(http.Header, x.Ctx.Request.Header.Len()+2)
	for k, v := range x.Ctx.Request.Header.All() {
		if h2Skip(k) || httpbytes.EqualFold(k, "Host") || httpbytes.EqualFold(k, "Grpc-Timeout") {
			continue
		}
		header.Add(string(k), string(v))
	}
	header.Set("Te", "trailers")

	var tried [8]*upstream.Target
	ntried := 0
	var (
		lease upstream.Lease
		resp  *http.Response
		err   error
	)
	for attempt := 0; ; attempt++ {
		l, lerr := p.svc.Acquire(tried[:ntried])
		if lerr != nil {
			if attempt > 0 {
				lerr = upstream.ErrConnect // the last target could not be reached
			}
			upstream.FailExchange(x, p.svc, lerr)
			return
		}
		lease = l
		x.Target = l.Target.Addr
		req, rerr := http.NewRequestWithContext(ctx, string(x.Ctx.Method()), "http://"+l.Target.Addr+string(se.uri), io.NopCloser(st.r.Body))
		if rerr != nil {
			lease.Done(nil, 0)
			x.Fail(fault.BadRequest, "malformed request path")
			return
		}
		req.Header = header.Clone()
		if left := time.Until(deadline); left > 0 {
			req.Header.Set("Grpc-Timeout", formatGRPCTimeout(left))
		}
		req.ContentLength = -1
		req.Host = l.Target.Addr
		resp, err = p.tr.RoundTrip(req)
		var de dialError
		if err == nil || !errors.As(err, &de) || attempt >= p.svc.Retries || ctx.Err() != nil {
			break
		}
		lease.Done(upstream.ErrConnect, 0)
		l.Target.CountStatus(502)
		if ntried < len(tried) {
			tried[ntried] = l.Target
			ntried++
		}
	}
	pt := lease.Target // counts the call's status
	if err != nil {
		se.trace.EndUpstream(x.Target, 0, err)
		var de dialError
		switch {
		case errors.As(err, &de):
			lease.Done(upstream.ErrConnect, 0)
			pt.CountStatus(502)
			upstream.FailExchange(x, p.svc, upstream.ErrConnect)
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			lease.Done(upstream.ErrTimeout, 0)
			pt.CountStatus(504)
			upstream.FailExchange(x, p.svc, upstream.ErrTimeout)
		case st.r.Context().Err() != nil:
			// The client went away: neither a success nor a failure of
			// the target.
			lease.Done(upstream.ErrBusy, 0)
			pt.CountStatus(499)
			st.abort = true
			x.Fail(fault.ClientClosed, "client closed the stream")
		default:
			lease.Done(upstream.ErrBadResponse, 0)
			pt.CountStatus(502)
			upstream.FailExchange(x, p.svc, upstream.ErrBadResponse)
		}
		return
	}
	defer resp.Body.Close()
	relayGRPC(ctx, x, st, r, resp, lease, pt)
	// The upstream span covers the whole relay: a stream ends with its trailers.
	se.trace.EndUpstream(x.Target, resp.StatusCode, nil)
}

// relayGRPC sends the upstream's answer to the client stream: headers (with
// the gateway's own: X-Request-Id, RateLimit-*, response_headers), then each
// piece of body as it arrives, then the trailers.
func relayGRPC(ctx context.Context, x *pipeline.Exchange, st *h2Stream, r *route, resp *http.Response, lease upstream.Lease, pt *upstream.Target) {
	st.written = true
	rh := &x.Ctx.Response.Header
	for k, vs := range resp.Header {
		for _, v := range vs {
			rh.Add(k, v)
		}
	}
	x.ApplyResponseHeaders(rh)
	rh.SetBytesV("X-Request-Id", x.RequestID)
	r.responseHeaders.apply(rh)
	h := st.w.Header()
	copyResponseHeaders(h, rh)
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
	st.w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(st.w)
	if resp.Header.Get("Grpc-Status") == "" {
		// A stream's headers go out before its first message. A
		// trailers-only answer (grpc-status in the headers) must stay one
		// HEADERS frame that ends the stream: no flush.
		_ = rc.Flush()
	}

	bp := passBufs.Get().(*[]byte)
	defer passBufs.Put(bp)
	buf := *bp
	var rerr error
	total := 0
	for {
		n, err := resp.Body.Read(buf)
		total += n
		if n > 0 {
			if _, werr := st.w.Write(buf[:n]); werr != nil {
				rerr = werr
				break
			}
			if werr := rc.Flush(); werr != nil {
				rerr = werr
				break
			}
		}
		if err != nil {
			if err != io.EOF {
				rerr = err
			}
			break
		}
	}
	grpcStatus := resp.Header.Get("Grpc-Status")
	switch {
	case rerr == nil:
		for k, vs := range resp.Trailer {
			st.w.Header()[http.TrailerPrefix+k] = vs
		}
		if s := resp.Trailer.Get("Grpc-Status"); s != "" {
			grpcStatus = s
		}
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && st.r.Context().Err() == nil:
		// The call's deadline passed mid-stream: end it as gRPC does.
		st.w.Header()[http.TrailerPrefix+"Grpc-Status"] = []string{strconv.Itoa(int(codes.DeadlineExceeded))}
		st.w.Header()[http.TrailerPrefix+"Grpc-Message"] = []string{"deadline exceeded"}
		grpcStatus = strconv.Itoa(int(codes.DeadlineExceeded))
	default:
		// Reset by the upstream or the client: the client must not see a
		// complete call.
		st.abort = true
		grpcStatus = ""
	}
	status := httpForGRPCStatus(grpcStatus, resp.StatusCode)
	if st.abort {
		status = 502
		if st.r.Context().Err() != nil {
			status = 499
		}
	}
	pt.CountStatus(status)
	switch {
	case status == 504:
		lease.Done(upstream.ErrTimeout, 0)
	case status == 499:
		lease.Done(upstream.ErrBusy, 0)
	case st.abort:
		lease.Done(upstream.ErrBadResponse, 0)
	default:
		lease.Done(nil, status)
	}
	// The route's metrics and access log see the call's outcome (and the
	// access log the bytes relayed; nothing is written from Response).
	x.Ctx.Response.SetStatusCode(status)
	x.Ctx.Response.SetBodyStream(http.NoBody, total)
}

// httpForGRPCStatus maps a call's grpc-status to the HTTP status recorded in
// metrics and the access log (the client itself gets the gRPC answer
// unchanged): OK 200, and as the transcoding routes answer for the others.
func httpForGRPCStatus(s string, httpStatus int) int {
	if s == "" {
		if httpStatus != 200 {
			return httpStatus // not a gRPC answer: as the upstream said
		}
		return 502 // a gRPC answer without a status is broken
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 502
	}
	switch codes.Code(n) {
	case codes.OK:
		return 200
	case codes.NotFound:
		return 404
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return 400
	case codes.Unauthenticated:
		return 401
	case codes.PermissionDenied:
		return 403
	case codes.ResourceExhausted:
		return 429
	case codes.DeadlineExceeded:
		return 504
	case codes.Unavailable:
		return 503
	case codes.Unimplemented:
		return 501
	case codes.Canceled:
		return 499
	case codes.AlreadyExists, codes.Aborted:
		return 409
	}
	return 502
}

// grpcCodeForHTTP maps a status the gateway answers itself to the gRPC code a
// gRPC client receives instead.
func grpcCodeForHTTP(status int) codes.Code {
	switch status {
	case 400:
		return codes.InvalidArgument
	case 401:
		return codes.Unauthenticated
	case 403:
		return codes.PermissionDenied
	case 404, 405:
		return codes.Unimplemented
	case 413, 429, 431:
		return codes.ResourceExhausted
	case 499:
		return codes.Canceled
	case 502, 503:
		return codes.Unavailable
	case 504:
		return codes.DeadlineExceeded
	}
	return codes.Unknown
}

// parseGRPCTimeout parses a grpc-timeout value: up to 8 digits and a unit
// (H, M, S, m, u, n).
func parseGRPCTimeout(v []byte) (time.Duration, bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	var n int64
	for _, c := range v[:len(v)-1] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// formatGRPCTimeout encodes d as a grpc-timeout value, in the finest unit
// that fits 8 digits.
func formatGRPCTimeout(d time.Duration) string {
	const max = 99999999
	if d <= 0 {
		return "1n"
	}
	for _, u := range []struct {
		d time.Duration
		s string
	}{{time.Nanosecond, "n"}, {time.Microsecond, "u"}, {time.Millisecond, "m"}, {time.Second, "S"}, {time.Minute, "M"}} {
		if v := (d + u.d - 1) / u.d; v <= max {
			return fmt.Sprintf("%d%s", v, u.s)
		}
	}
	return fmt.Sprintf("%dH", min((d+time.Hour-1)/time.Hour, max))
}
