package pipeline

import (
	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
	"github.com/valyala/fasthttp"
)

// AddVary adds token to the response's Vary header unless it is already
// listed (case-insensitively) or Vary is "*", keeping the values already
// there (the upstream's Vary: Accept-Language stays). token must be a
// constant.
func AddVary(h *fasthttp.ResponseHeader, token string) {
	cur := h.Peek(fasthttp.HeaderVary)
	if len(cur) == 0 {
		h.Set(fasthttp.HeaderVary, token)
		return
	}
	if httpbytes.HasToken(cur, token) || httpbytes.HasToken(cur, "*") {
		return
	}
	var arr [256]byte
	buf := append(arr[:0], cur...)
	buf = append(buf, ", "...)
	buf = append(buf, token...)
	h.SetBytesV(fasthttp.HeaderVary, buf)
}
