package forward

import (
	"bytes"
	"strings"

	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
	"github.com/valyala/fasthttp"
)

var hopByHop = [...]string{"Connection", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization"}

// RemoveHopByHop deletes hop-by-hop headers from a request header: the fixed
// list, every Proxy-* header and every header named in Connection. scratch is
// reused to hold names and returned for reuse.
func RemoveHopByHop(h *fasthttp.RequestHeader, scratch []byte) []byte {
	scratch = connectionNames(h.Peek("Connection"), scratch[:0])
	h.VisitAll(func(k, _ []byte) { scratch = appendHopName(scratch, k) })
	deleteNames(h, scratch)
	return scratch[:0]
}

// removeHopByHopResponse is RemoveHopByHop for a response header. (Two
// concrete functions keep the visitor closure on the stack.)
func removeHopByHopResponse(h *fasthttp.ResponseHeader, scratch []byte) []byte {
	scratch = connectionNames(h.Peek("Connection"), scratch[:0])
	h.VisitAll(func(k, _ []byte) { scratch = appendHopName(scratch, k) })
	deleteNames(h, scratch)
	return scratch[:0]
}

// connectionNames appends the header names listed in a Connection value,
// each followed by a NUL.
func connectionNames(conn, dst []byte) []byte {
	for len(conn) > 0 {
		var tok []byte
		tok, conn = httpbytes.NextItem(conn)
		if len(tok) > 0 && !httpbytes.EqualFold(tok, "close") && !httpbytes.EqualFold(tok, "keep-alive") {
			dst = append(dst, tok...)
			dst = append(dst, 0)
		}
	}
	return dst
}

// appendHopName appends k (and a NUL) when it is a hop-by-hop header: one of
// the fixed list or any Proxy-*. Scanning once and deleting only what is
// there is much cheaper than deleting every name on the list blindly.
func appendHopName(dst, k []byte) []byte {
	hop := len(k) > 6 && httpbytes.EqualFold(k[:6], "proxy-")
	for i := 0; i < len(hopByHop) && !hop; i++ {
		hop = len(k) == len(hopByHop[i]) && httpbytes.EqualFold(k, hopLower[i])
	}
	if hop {
		dst = append(dst, k...)
		dst = append(dst, 0)
	}
	return dst
}

var hopLower = func() (out [len(hopByHop)]string) {
	for i, name := range hopByHop {
		out[i] = strings.ToLower(name)
	}
	return out
}()

// deleteNames deletes the NUL-separated names.
func deleteNames(h interface{ Del(string) }, names []byte) {
	for len(names) > 0 {
		i := bytes.IndexByte(names, 0)
		h.Del(b2s(names[:i]))
		names = names[i+1:]
	}
}

// Response removes hop-by-hop headers from an upstream answer and keeps the
// client connection's keep-alive decision ours, not the upstream's.
func Response(h *fasthttp.ResponseHeader, scratch []byte) []byte {
	scratch = removeHopByHopResponse(h, scratch)
	h.ResetConnectionClose()
	// The client speaks to us, not to the upstream: never pass on HTTP/1.0.
	h.SetProtocol(http11)
	return scratch
}

var http11 = []byte("HTTP/1.1")
