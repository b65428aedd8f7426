package engine

import (
	"io"

	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

// Bodies up to streamThreshold bytes are buffered whole (the fast path);
// larger ones stream between client and upstream in both directions.
const streamThreshold = 64 << 10

// admitBody enforces max_body_bytes and decides how the request body travels.
// The server runs with StreamRequestBody, so a body arrives as a stream with
// at most a few KiB read ahead. A Content-Length body over the threshold stays
// a stream (the upload reaches the upstream while the client still sends); a
// chunked body is read whole, up to the limit, because its size is unknown.
func (e *Engine) admitBody(x *pipeline.Exchange) bool {
	req := &x.Ctx.Request
	if !req.IsBodyStream() {
		return true
	}
	n := req.Header.ContentLength()
	switch {
	case n > e.server.maxBodyBytes:
		x.Ctx.SetConnectionClose()
		return x.Fail(413, pipeline.CodePayloadTooLarge, "request body too large")
	case n == -1:
		limit := int64(e.server.maxBodyBytes)
		body, err := io.ReadAll(io.LimitReader(x.Ctx.RequestBodyStream(), limit+1))
		if err != nil {
			x.Ctx.SetConnectionClose()
			return x.Fail(400, pipeline.CodeBadRequest, "malformed chunked request body")
		}
		if int64(len(body)) > limit {
			x.Ctx.SetConnectionClose()
			return x.Fail(413, pipeline.CodePayloadTooLarge, "request body too large")
		}
		// Now a buffered body: fasthttp sends it with a Content-Length.
		req.SetBody(body)
		return true
	case n <= streamThreshold:
		req.Body() // reads the rest into the buffer: the fast path
		return true
	}
	return true
}

// bufferSmallResponse reads a streamed upstream answer with a small known
// length into memory, so that it takes the buffered path (cache, transforms).
// Chunked and large answers keep streaming to the client as they arrive.
func bufferSmallResponse(resp *fasthttp.Response) {
	if !resp.IsBodyStream() {
		return
	}
	if n := resp.Header.ContentLength(); n >= 0 && n <= streamThreshold {
		resp.Body()
	}
}
