package forward

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Headers is what request and response headers have in common in fasthttp.
type Headers interface {
	Peek(key string) []byte
	Del(key string)
	VisitAll(f func(key, value []byte))
}

var hopByHop = [...]string{"Connection", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization"}

// RemoveHopByHop deletes hop-by-hop headers from h: the fixed list, every
// Proxy-* header and every header named in Connection. scratch is reused to
// hold names and returned for reuse.
func RemoveHopByHop(h Headers, scratch []byte) []byte {
	scratch = scratch[:0]
	// Names listed in Connection, then any Proxy-* header.
	conn := h.Peek("Connection")
	for len(conn) > 0 {
		tok := conn
		if i := bytes.IndexByte(conn, ','); i >= 0 {
			tok, conn = conn[:i], conn[i+1:]
		} else {
			conn = nil
		}
		tok = bytes.TrimSpace(tok)
		if len(tok) > 0 && !asciiEqualFold(tok, "close") && !asciiEqualFold(tok, "keep-alive") {
			scratch = append(scratch, tok...)
			scratch = append(scratch, 0)
		}
	}
	h.VisitAll(func(k, _ []byte) {
		if len(k) > 6 && asciiEqualFold(k[:6], "proxy-") {
			scratch = append(scratch, k...)
			scratch = append(scratch, 0)
		}
	})
	for rest := scratch; len(rest) > 0; {
		i := bytes.IndexByte(rest, 0)
		h.Del(b2s(rest[:i]))
		rest = rest[i+1:]
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
	return scratch[:0]
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
	scratch = RemoveHopByHop(h, scratch)
	h.ResetConnectionClose()
	// The client speaks to us, not to the upstream: never pass on HTTP/1.0.
	h.SetProtocol(http11)
	return scratch
}

var http11 = []byte("HTTP/1.1")
