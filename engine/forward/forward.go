// Package forward applies the contract's forwarding rules to requests going
// upstream and responses coming back: client address and X-Forwarded-*
// headers (trusting only configured proxies), request ids, W3C traceparent,
// and removal of hop-by-hop headers in both directions.
package forward

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"

	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

// Header names used on the request path.
const (
	HeaderRequestID      = "X-Request-Id"
	HeaderXFF            = "X-Forwarded-For"
	HeaderXFProto        = "X-Forwarded-Proto"
	HeaderXFHost         = "X-Forwarded-Host"
	HeaderForwarded      = "Forwarded"
	HeaderTraceparent    = "traceparent"
	HeaderTracestate     = "tracestate"
	maxRequestIDLength   = 128
	traceparentLength    = 55
	generatedIDHexDigits = 32
)

// Proxies decides which peers are trusted to report the client's address.
type Proxies struct {
	prefixes []netip.Prefix
}

// ParseTrusted parses one trusted_proxies entry: a CIDR or a bare address.
func ParseTrusted(s string) (netip.Prefix, error) {
	pfx, err := netip.ParsePrefix(s)
	if err == nil {
		return pfx.Masked(), nil
	}
	addr, aerr := netip.ParseAddr(s)
	if aerr != nil {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR or address %q", s)
	}
	addr = addr.Unmap()
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}

// NewProxies returns the trusted-proxy set of prefixes.
func NewProxies(prefixes []netip.Prefix) *Proxies {
	return &Proxies{prefixes: prefixes}
}

// Trusted reports whether addr belongs to a trusted proxy.
func (p *Proxies) Trusted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, pfx := range p.prefixes {
		if pfx.Contains(addr) {
			return true
		}
	}
	return false
}

// peerAddr returns the TCP peer of ctx.
func peerAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	if tcp, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(tcp.IP); ok {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

// ClientIP appends the client's address to dst: the TCP peer, or, when the
// peer is a trusted proxy, the rightmost X-Forwarded-For entry that is not.
// trustedPeer reports whether the peer itself is trusted.
func (p *Proxies) ClientIP(dst []byte, ctx *fasthttp.RequestCtx) (out []byte, trustedPeer bool) {
	peer := peerAddr(ctx)
	if !peer.IsValid() || !p.Trusted(peer) {
		return peer.AppendTo(dst), false
	}
	xff := ctx.Request.Header.Peek(HeaderXFF)
	for len(xff) > 0 {
		i := bytes.LastIndexByte(xff, ',')
		entry := bytes.TrimSpace(xff[i+1:])
		xff = xff[:max(i, 0)]
		a, ok := parseAddr(entry)
		if !ok {
			break
		}
		if !p.Trusted(a) {
			return a.AppendTo(dst), true
		}
		if i < 0 {
			break
		}
	}
	return peer.AppendTo(dst), true
}

// parseAddr parses an X-Forwarded-For entry without allocating for IPv4/IPv6
// literals (ports and brackets are tolerated).
func parseAddr(b []byte) (netip.Addr, bool) {
	if len(b) == 0 || len(b) > 64 {
		return netip.Addr{}, false
	}
	var buf [64]byte
	s := buf[:copy(buf[:], b)]
	if s[0] == '[' {
		if j := bytes.IndexByte(s, ']'); j > 0 {
			s = s[1:j]
		}
	} else if bytes.Count(s, []byte{':'}) == 1 {
		s = s[:bytes.IndexByte(s, ':')]
	}
	var a netip.Addr
	if err := a.UnmarshalText(s); err != nil || !a.IsValid() {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// ValidRequestID reports whether id is a sane client request id: 1 to 128
// visible ASCII characters.
func ValidRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > maxRequestIDLength {
		return false
	}
	for _, c := range id {
		if c < '!' || c > '~' {
			return false
		}
	}
	return true
}

const hexDigits = "0123456789abcdef"

func appendHex64(dst []byte, v uint64) []byte {
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, hexDigits[(v>>uint(shift))&0xf])
	}
	return dst
}

// AppendRequestID appends a new random request id (32 hex digits).
func AppendRequestID(dst []byte) []byte {
	return appendHex64(appendHex64(dst, rand.Uint64()), rand.Uint64())
}

// Request prepares the client request in x for sending upstream, in place:
// hop-by-hop headers go, X-Forwarded-* and Forwarded are extended (trusted
// peer) or replaced, and X-Request-Id and traceparent are set.
func Request(x *pipeline.Exchange, h *fasthttp.RequestHeader, trustedPeer bool, scratch []byte) []byte {
	scratch = RemoveHopByHop(h, scratch)
	// The upstream connection is ours: an HTTP/1.0 or closing client must
	// not make the gateway send Connection: close and drop a pooled connection.
	h.ResetConnectionClose()
	h.SetProtocolBytes(http11)
	ctx := x.Ctx
	peer := peerAddr(ctx)
	proto := "http"
	if x.TLS {
		proto = "https"
	}

	// X-Forwarded-For: a trusted proxy's list is extended, anyone else's replaced.
	scratch = scratch[:0]
	if trustedPeer {
		if prev := h.Peek(HeaderXFF); len(prev) > 0 {
			scratch = append(scratch, prev...)
			scratch = append(scratch, ", "...)
		}
	}
	scratch = peer.AppendTo(scratch)
	h.SetBytesV(HeaderXFF, scratch)

	if !trustedPeer || len(h.Peek(HeaderXFProto)) == 0 {
		h.Set(HeaderXFProto, proto)
	}
	host := ctx.Host()
	if !trustedPeer || len(h.Peek(HeaderXFHost)) == 0 {
		h.SetBytesV(HeaderXFHost, host)
	}

	// Forwarded (RFC 7239): the same extend-or-replace rule.
	scratch = scratch[:0]
	if trustedPeer {
		if prev := h.Peek(HeaderForwarded); len(prev) > 0 {
			scratch = append(scratch, prev...)
			scratch = append(scratch, ", "...)
		}
	}
	scratch = append(scratch, "for="...)
	if peer.Is6() {
		scratch = append(scratch, "\"["...)
		scratch = peer.AppendTo(scratch)
		scratch = append(scratch, "]\""...)
	} else {
		scratch = peer.AppendTo(scratch)
	}
	if len(host) > 0 && validForwardedHost(host) {
		scratch = append(scratch, ";host="...)
		scratch = append(scratch, host...)
	}
	scratch = append(scratch, ";proto="...)
	scratch = append(scratch, proto...)
	h.SetBytesV(HeaderForwarded, scratch)

	h.SetBytesV(HeaderRequestID, x.RequestID)

	scratch = scratch[:0]
	prev := h.Peek(HeaderTraceparent)
	if !validTraceparent(prev) {
		// A new trace starts here: the vendor state of whatever trace the
		// client claimed belongs to no trace we forward (W3C Trace Context:
		// tracestate is only read with a valid traceparent).
		h.Del(HeaderTracestate)
	}
	scratch = Traceparent(scratch, prev)
	h.SetBytesV(HeaderTraceparent, scratch)
	return scratch
}

// validForwardedHost reports whether host can go unquoted into Forwarded.
func validForwardedHost(host []byte) bool {
	for _, c := range host {
		if !(c == '.' || c == ':' || c == '-' || c == '[' || c == ']' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// Traceparent appends the traceparent to send upstream: the client's trace id
// and flags with a new parent id when prev is valid, else a new trace.
func Traceparent(dst, prev []byte) []byte {
	dst = append(dst, "00-"...)
	if validTraceparent(prev) {
		dst = append(dst, prev[3:35]...)
		dst = append(dst, '-')
		dst = appendHex64(dst, nonZero())
		dst = append(dst, '-')
		return append(dst, prev[53:55]...)
	}
	dst = appendHex64(dst, nonZero())
	dst = appendHex64(dst, rand.Uint64())
	dst = append(dst, '-')
	dst = appendHex64(dst, nonZero())
	return append(dst, "-01"...)
}

func nonZero() uint64 {
	for {
		if v := rand.Uint64(); v != 0 {
			return v
		}
	}
}

// validTraceparent checks the W3C version-00 shape with non-zero ids.
func validTraceparent(b []byte) bool {
	if len(b) != traceparentLength || b[2] != '-' || b[35] != '-' || b[52] != '-' {
		return false
	}
	if b[0] == 'f' && b[1] == 'f' {
		return false
	}
	allZero := func(s []byte) bool {
		for _, c := range s {
			if c != '0' {
				return false
			}
		}
		return true
	}
	for i, c := range b {
		if i == 2 || i == 35 || i == 52 {
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return !allZero(b[3:35]) && !allZero(b[36:52])
}
