package forward

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

var hopByHop = [...]string{"Connection", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization"}

// RemoveHopByHop deletes hop-by-hop headers from a request header: the fixed
// list, every Proxy-* header and every header named in Connection. scratch is
// reused to hold names and returned for reuse.
func RemoveHopByHop(h *fasthttp.RequestHeader, scratch []byte) []byte {
	scratch = connectionNames(h.Peek("Connection"), scratch[:0])
	h.VisitAll(func(k, _ []byte) { scratch = appendProxyName(scratch, k) })
	deleteNames(h, scratch)
	return scratch[:0]
}

// removeHopByHopResponse is RemoveHopByHop for a response header. (Two
// concrete functions keep the visitor closure on the stack.)
func removeHopByHopResponse(h *fasthttp.ResponseHeader, scratch []byte) []byte {
	scratch = connectionNames(h.Peek("Connection"), scratch[:0])
	h.VisitAll(func(k, _ []byte) { scratch = appendProxyName(scratch, k) })
	deleteNames(h, scratch)
	return scratch[:0]
}

// connectionNames appends the header names listed in a Connection value,
// each followed by a NUL.
func connectionNames(conn, dst []byte) []byte {
	for len(conn) > 0 {
		tok := conn
		if i := bytes.IndexByte(conn, ','); i >= 0 {
			tok, conn = conn[:i], conn[i+1:]
		} else {
			conn = nil
		}
		tok = bytes.TrimSpace(tok)
		if len(tok) > 0 && !asciiEqualFold(tok, "close") && !asciiEqualFold(tok, "keep-alive") {
			dst = append(dst, tok...)
			dst = append(dst, 0)
		}
	}
	return dst
}

func appendProxyName(dst, k []byte) []byte {
	if len(k) > 6 && asciiEqualFold(k[:6], "proxy-") {
		dst = append(dst, k...)
		dst = append(dst, 0)
	}
	return dst
}

// deleteNames deletes the NUL-separated names, then the fixed hop-by-hop list.
func deleteNames(h interface{ Del(string) }, names []byte) {
	for len(names) > 0 {
		i := bytes.IndexByte(names, 0)
		h.Del(b2s(names[:i]))
		names = names[i+1:]
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
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
