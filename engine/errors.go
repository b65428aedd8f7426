package engine

import (
	"strconv"

	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

// writeError replaces the response with the contract's JSON error body (or a
// configured verbatim fallback body), keeping headers stages already queued.
func writeError(ctx *fasthttp.RequestCtx, rej pipeline.Reject, requestID []byte) {
	resp := &ctx.Response
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
	buf = appendJSONString(buf, rej.Code)
	buf = append(buf, `,"message":`...)
	buf = appendJSONString(buf, rej.Message)
	buf = append(buf, `,"request_id":`...)
	buf = appendJSONString(buf, b2s(requestID))
	buf = append(buf, "}}\n"...)
	resp.AppendBody(buf)
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(dst []byte, s string) []byte {
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
