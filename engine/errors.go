package engine

import (
	"strconv"

	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

// writeError replaces the response with the contract's JSON error body (or a
// configured verbatim fallback body); headers stages queued on the exchange
// are applied afterwards.
func writeError(ctx *fasthttp.RequestCtx, rej pipeline.Reject, requestID []byte) {
	resp := &ctx.Response
	// Drop whatever a failed upstream answer left behind (its status text,
	// Set-Cookie, Cache-Control...): the error is the gateway's own. Queued
	// headers are applied later; a decided connection close is kept.
	closing := resp.ConnectionClose()
	resp.Header.Reset()
	resp.Header.SetNoDefaultContentType(true)
	if closing {
		resp.SetConnectionClose()
	}
	resp.ResetBody()
	resp.SetStatusCode(rej.Status)
	resp.Header.SetContentType("application/json")
	if rej.Body != nil {
		resp.SetBodyRaw(rej.Body)
		return
	}
	var arr [384]byte
	buf := arr[:0]
	buf = append(buf, `{"error":{"status":`...)
	buf = strconv.AppendInt(buf, int64(rej.Status), 10)
	buf = append(buf, `,"code":`...)
	buf = pipeline.AppendJSONString(buf, rej.Code)
	buf = append(buf, `,"message":`...)
	buf = pipeline.AppendJSONString(buf, rej.Message)
	buf = append(buf, `,"request_id":`...)
	buf = pipeline.AppendJSONString(buf, b2s(requestID))
	buf = append(buf, "}}\n"...)
	resp.AppendBody(buf)
}
