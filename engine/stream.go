package engine

import (
	"io"

	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/sluice-gw/sluice/engine/upstream"
	"github.com/valyala/fasthttp"
)

// Bodies up to streamThreshold bytes are buffered whole (the fast path);
// larger ones stream between client and upstream in both directions.
const streamThreshold = upstream.BufferLimit

// admitBody enforces max_body_bytes and decides how the request body travels.
// The server runs with StreamRequestBody, so a body arrives as a stream with
// at most a few KiB read ahead. A Content-Length body over the threshold stays
// a stream (the upload reaches the upstream while the client still sends); a
// chunked body is read whole, up to the limit, because its size is unknown.
//
// A body read here is checked to be whole: a client that sends fewer bytes
// than it declared, or breaks its chunked stream, gets a 400 and its
// connection closed, and nothing goes upstream (fasthttp's Body() would turn
// a short read into a shorter body, or the error text into the body).
func (e *Engine) admitBody(x *pipeline.Exchange) bool {
	req := &x.Ctx.Request
	if !req.IsBodyStream() {
		return true
	}
	n := req.Header.ContentLength()
	switch {
	case n > e.server.maxBodyBytes:
		x.Ctx.SetConnectionClose()
		return x.Fail(fault.PayloadTooLarge, "request body too large")
	case n == -1:
		return e.readWholeBody(x)
	case n <= streamThreshold:
		return readExactBody(x, n)
	}
	return true
}

// readExactBody reads a Content-Length body of n bytes into the request.
func readExactBody(x *pipeline.Exchange, n int) bool {
	se := local(x)
	req := &x.Ctx.Request
	body, err := upstream.ReadExact(req.BodyStream(), se.body[:0], n)
	if err != nil {
		se.body = body[:0]
		x.Ctx.SetConnectionClose()
		return x.Fail(fault.BadRequest, "request body shorter than its Content-Length")
	}
	se.body = req.SwapBody(body)[:0]
	return true
}

// readWholeBody reads a chunked body whole, up to max_body_bytes.
func (e *Engine) readWholeBody(x *pipeline.Exchange) bool {
	se := local(x)
	req := &x.Ctx.Request
	r := req.BodyStream()
	limit := e.server.maxBodyBytes
	buf := se.body[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if len(buf) > limit {
			se.body = buf[:0]
			x.Ctx.SetConnectionClose()
			return x.Fail(fault.PayloadTooLarge, "request body too large")
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			se.body = buf[:0]
			x.Ctx.SetConnectionClose()
			return x.Fail(fault.BadRequest, "malformed or incomplete chunked request body")
		}
	}
	// Now a buffered body: fasthttp sends it with a Content-Length.
	se.body = req.SwapBody(buf)[:0]
	return true
}

// bufferBody reads a streamed Content-Length body (over the streaming
// threshold, within max_body_bytes) whole, for the stages that need all of
// it (JSON validation, HMAC body hash, gRPC and aggregate requests).
func (e *Engine) bufferBody(x *pipeline.Exchange) bool {
	req := &x.Ctx.Request
	if !req.IsBodyStream() {
		return true
	}
	if n := req.Header.ContentLength(); n >= 0 {
		return readExactBody(x, n)
	}
	return e.readWholeBody(x)
}

// watchUpload routes a streamed request body through se.upload, so that an
// upload the client breaks is a 400 and no failure of the target.
func watchUpload(se *scratchExchange, req *fasthttp.Request) {
	n := req.Header.ContentLength()
	se.upload.Reset(req.BodyStream(), n)
	req.SetBodyStream(&se.upload, n)
}
