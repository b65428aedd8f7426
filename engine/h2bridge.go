package engine

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-json"
	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
	"github.com/valyala/fasthttp"
)

// h2Bridge is the http.Handler of one h2 connection: it runs each stream
// through the engine exactly as an HTTP/1.1 request. The stream's request
// line and header block are written out in HTTP/1.1 form and parsed by
// fasthttp, so the engine sees the same parsed request (and the same
// max_header_bytes accounting, header validation and normalisation) as on
// HTTP/1.1; the answer is copied back to the stream, streamed bodies flushed
// as they arrive.
type h2Bridge struct {
	e       *Engine
	conn    *tls.Conn
	streams *sync.Pool // of *h2Stream, per server (sized for its max_header_bytes)
}

// h2Stream is the pooled per-stream state. It is also the net.Conn of the
// stream's RequestCtx, so that the engine finds the client address (the
// connection's remote address, after the PROXY protocol), the TLS state
// (mTLS) and, for gRPC pass-through, the stream itself.
type h2Stream struct {
	ctx  fasthttp.RequestCtx
	conn *tls.Conn
	w    http.ResponseWriter
	r    *http.Request
	// grpc is true for a request with a gRPC content type: its body stays
	// on the stream for the pass-through (the engine sees no body).
	grpc bool
	// written is set when the pass-through answered on the stream itself.
	written bool
	// abort resets the stream after the handler returns: an answer cut
	// short must never look complete.
	abort bool

	head []byte
	rd   bytes.Reader
	br   *bufio.Reader
	body streamBody
}

// streamBody hands the stream's request body to fasthttp without its Close:
// fasthttp closes a replaced body stream (the engine swaps in its own
// wrappers), and closing net/http's body would end the upload early. The
// h2 server closes it when the handler returns.
type streamBody struct{ r io.Reader }

func (b *streamBody) Read(p []byte) (int, error) { return b.r.Read(p) }

// errStreamConn is returned by the stream's net.Conn methods that must never
// be used: the connection belongs to the h2 server.
var errStreamConn = errors.New("h2 stream: the connection is not readable or writable directly")

func (s *h2Stream) Read([]byte) (int, error)         { return 0, errStreamConn }
func (s *h2Stream) Write([]byte) (int, error)        { return 0, errStreamConn }
func (s *h2Stream) Close() error                     { return nil }
func (s *h2Stream) LocalAddr() net.Addr              { return s.conn.LocalAddr() }
func (s *h2Stream) RemoteAddr() net.Addr             { return s.conn.RemoteAddr() }
func (s *h2Stream) SetDeadline(time.Time) error      { return errStreamConn }
func (s *h2Stream) SetReadDeadline(time.Time) error  { return errStreamConn }
func (s *h2Stream) SetWriteDeadline(time.Time) error { return errStreamConn }

// Handshake and ConnectionState make fasthttp's IsTLS and
// TLSConnectionState see the connection's TLS state.
func (s *h2Stream) Handshake() error { return nil }

// ConnectionState is the TLS state of the stream's connection.
func (s *h2Stream) ConnectionState() tls.ConnectionState { return s.conn.ConnectionState() }

// ServeHTTP serves one h2 stream with the engine.
func (b *h2Bridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e := b.e
	st, _ := b.streams.Get().(*h2Stream)
	if st == nil {
		st = &h2Stream{br: bufio.NewReaderSize(nil, e.server.maxHeaderBytes+headerSlack)}
	}
	st.conn, st.w, st.r = b.conn, w, r
	ctx := &st.ctx
	ctx.Init2(st, quietLogger{}, false)
	ctx.Response.Header.SetNoDefaultContentType(true)

	st.grpc = isGRPCContentType(r.Header.Get("Content-Type"))
	st.head = appendHTTP1Head(st.head[:0], r)
	st.rd.Reset(st.head)
	st.br.Reset(&st.rd)
	if err := ctx.Request.Header.Read(st.br); err != nil {
		e.handleParseError(ctx, err)
	} else {
		if r.Body != nil && r.Body != http.NoBody && !st.grpc {
			// As on HTTP/1.1 (StreamRequestBody): admitBody enforces
			// max_body_bytes and buffers small bodies; large ones stream.
			n := int(r.ContentLength)
			if r.ContentLength < 0 || int64(n) != r.ContentLength {
				n = -1
			}
			st.body.r = r.Body
			ctx.Request.SetBodyStream(&st.body, n)
		}
		e.Handle(ctx)
	}
	if !st.written {
		st.writeAnswer()
	}
	abort := st.abort
	ctx.Request.Reset()
	ctx.Response.Reset() // closes an unread upstream body stream
	ctx.ResetUserValues()
	st.conn, st.w, st.r, st.body.r = nil, nil, nil, nil
	st.grpc, st.written, st.abort = false, false, false
	st.rd.Reset(nil)
	st.br.Reset(nil)
	if cap(st.head) <= 64<<10 {
		b.streams.Put(st)
	}
	if abort {
		// net/http's documented way to reset the stream (RST_STREAM)
		// instead of ending it cleanly.
		panic(http.ErrAbortHandler)
	}
}

// appendHTTP1Head writes r's request line and headers in HTTP/1.1 form.
// Framing comes from the h2 stream: Content-Length only when the client
// sent one (x/net has checked it against the body), never
// Transfer-Encoding (h2 forbids it).
func appendHTTP1Head(dst []byte, r *http.Request) []byte {
	dst = append(dst, r.Method...)
	dst = append(dst, ' ')
	uri := r.RequestURI
	if uri == "" || r.Method == http.MethodConnect {
		uri = r.URL.RequestURI()
	}
	dst = append(dst, uri...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, r.Host...)
	dst = append(dst, "\r\n"...)
	for k, vs := range r.Header {
		if k == "Host" || k == "Transfer-Encoding" {
			continue
		}
		for _, v := range vs {
			dst = append(dst, k...)
			dst = append(dst, ": "...)
			dst = append(dst, v...)
			dst = append(dst, "\r\n"...)
		}
	}
	return append(dst, "\r\n"...)
}

// writeAnswer copies the engine's answer in ctx.Response to the stream.
func (s *h2Stream) writeAnswer() {
	resp := &s.ctx.Response
	status := resp.StatusCode()
	if s.grpc && status != http.StatusOK {
		s.writeGRPCError(status)
		return
	}
	h := s.w.Header()
	copyResponseHeaders(h, &resp.Header)
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil // no content sniffing: answer what the engine made
	}
	head := s.r.Method == http.MethodHead
	noBody := status == http.StatusNoContent || status == http.StatusNotModified || status < 200
	switch {
	case noBody:
	case resp.IsBodyStream():
		if n := resp.Header.ContentLength(); n >= 0 {
			h.Set("Content-Length", strconv.Itoa(n))
		}
	case head:
		if n := resp.Header.ContentLength(); n >= 0 {
			h.Set("Content-Length", strconv.Itoa(n))
		}
	default:
		h.Set("Content-Length", strconv.Itoa(len(resp.Body())))
	}
	s.w.WriteHeader(status)
	if head || noBody {
		return
	}
	if !resp.IsBodyStream() {
		_, _ = s.w.Write(resp.Body())
		return
	}
	// A streamed answer (large or chunked upstream body, SSE): each piece
	// is flushed as it arrives, as the HTTP/1.1 path does.
	fw := flushWriter{w: s.w, rc: http.NewResponseController(s.w)}
	if err := resp.BodyWriteTo(fw); err != nil {
		s.abort = true
	}
}

// flushWriter flushes the stream after every write.
type flushWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

// copyResponseHeaders adds the fasthttp response headers to h, leaving out
// the connection-specific ones HTTP/2 forbids and the framing it does itself.
func copyResponseHeaders(h http.Header, rh *fasthttp.ResponseHeader) {
	for k, v := range rh.All() {
		if h2Skip(k) {
			continue
		}
		h.Add(string(k), string(v))
	}
	if _, ok := h["Server"]; !ok {
		h["Server"] = serverName // as the fasthttp server names itself
	}
}

var serverName = []string{"sluice"}

// h2Skip reports header names that are not sent on an HTTP/2 stream.
func h2Skip(k []byte) bool {
	switch len(k) {
	case 2:
		return httpbytes.EqualFold(k, "TE")
	case 7:
		return httpbytes.EqualFold(k, "Upgrade") || httpbytes.EqualFold(k, "Trailer")
	case 10:
		return httpbytes.EqualFold(k, "Connection") || httpbytes.EqualFold(k, "Keep-Alive")
	case 14:
		return httpbytes.EqualFold(k, "Content-Length")
	case 16:
		return httpbytes.EqualFold(k, "Proxy-Connection")
	case 17:
		return httpbytes.EqualFold(k, "Transfer-Encoding")
	}
	return false
}

// isGRPCContentType reports application/grpc and its +proto, +json, ...
// forms (not gRPC-Web, which is ordinary HTTP).
func isGRPCContentType(ct string) bool {
	const p = "application/grpc"
	if len(ct) < len(p) || !strings.EqualFold(ct[:len(p)], p) {
		return false
	}
	return len(ct) == len(p) || ct[len(p)] == '+' || ct[len(p)] == ';'
}

// writeGRPCError answers a gRPC call the gateway refused (auth, rate limit,
// no target, ...) the way gRPC clients understand: HTTP 200, a trailers-only
// response with grpc-status and grpc-message, the gateway's headers kept
// (X-Request-Id, RateLimit-*, Retry-After, WWW-Authenticate).
func (s *h2Stream) writeGRPCError(status int) {
	resp := &s.ctx.Response
	h := s.w.Header()
	copyResponseHeaders(h, &resp.Header)
	msg := http.StatusText(status)
	// The contract's error body, or a service's fallback body with a
	// top-level "message".
	var body struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(resp.Body(), &body) == nil {
		switch {
		case body.Error.Message != "":
			msg = body.Error.Message
		case body.Message != "":
			msg = body.Message
		}
	}
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", strconv.Itoa(int(grpcCodeForHTTP(status))))
	h.Set("Grpc-Message", grpcEncodeMessage(msg))
	s.w.WriteHeader(http.StatusOK)
}

// grpcEncodeMessage percent-encodes a grpc-message value (gRPC over HTTP/2:
// bytes outside printable ASCII, and '%', as %XX).
func grpcEncodeMessage(s string) string {
	const hex = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c <= 0x7e && c != '%' {
			if b != nil {
				b = append(b, c)
			}
			continue
		}
		if b == nil {
			b = append(make([]byte, 0, len(s)+8), s[:i]...)
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	if b == nil {
		return s
	}
	return string(b)
}
