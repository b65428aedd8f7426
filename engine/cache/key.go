package cache

import (
	"bytes"
	"encoding/binary"
	"slices"

	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
	"github.com/sluice-gw/sluice/engine/pipeline"
)

// keyBuf is the scratch space of one request (kept in its Pending): the key
// bytes, the query parameter spans being sorted and room to format numbers.
type keyBuf struct {
	b     []byte
	spans []span
	num   [20]byte
}

// span is one query parameter: q[start:end], whose name ends at nameEnd.
type span struct{ start, nameEnd, end int }

// appendKey appends the request's cache key: route id, case-folded host,
// normalised path, query parameters in canonical order, the class of
// Accept-Encoding, the route's vary header values and (per_consumer) the
// consumer. Every part is
// length-prefixed, so two different requests never make the same bytes.
func (r *Route) appendKey(kb *keyBuf, x *pipeline.Exchange) {
	b := binary.BigEndian.AppendUint32(kb.b, r.id)

	host := x.Ctx.Host()
	b = binary.AppendUvarint(b, uint64(len(host)))
	for _, c := range host {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	b = appendField(b, x.Path)

	q := x.Ctx.URI().QueryString()
	kb.spans = splitQuery(kb.spans[:0], q)
	sortQuery(kb.spans, q)
	b = binary.AppendUvarint(b, uint64(len(kb.spans)))
	for _, s := range kb.spans {
		b = appendField(b, q[s.start:s.end])
	}

	// The client's accepted content codings, as a class: an upstream that
	// compresses answers each class differently, and an answer encoded for
	// one must never reach a client of another.
	b = append(b, encodingClass(x.Ctx.Request.Header.Peek("Accept-Encoding")))

	for _, name := range r.vary {
		b = appendField(b, x.Ctx.Request.Header.Peek(name))
	}
	if r.perConsumer {
		b = appendField(b, x.Consumer)
	}
	kb.b = b
}

func appendField(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// splitQuery appends the non-empty '&'-separated parameters of q.
func splitQuery(spans []span, q []byte) []span {
	for start := 0; start < len(q); {
		end := bytes.IndexByte(q[start:], '&')
		if end < 0 {
			end = len(q)
		} else {
			end += start
		}
		if end > start {
			nameEnd := bytes.IndexByte(q[start:end], '=')
			if nameEnd < 0 {
				nameEnd = end
			} else {
				nameEnd += start
			}
			spans = append(spans, span{start: start, nameEnd: nameEnd, end: end})
		}
		start = end + 1
	}
	return spans
}

// sortQuery orders parameters by name, keeping the order of repeated names
// (a=1&a=2 and a=2&a=1 may mean different things to the upstream).
func sortQuery(spans []span, q []byte) {
	if len(spans) < 2 {
		return
	}
	slices.SortStableFunc(spans, func(a, b span) int {
		return bytes.Compare(q[a.start:a.nameEnd], q[b.start:b.nameEnd])
	})
}

// Bits of encodingClass.
const (
	acceptGzip = 1 << iota
	acceptBr
	acceptZstd
	acceptDeflate
)

// encodingClass reduces an Accept-Encoding value to the set of common codings
// it accepts, so that clients that accept the same codings share entries
// (q-values are not weighed, except that q=0 refuses a coding).
func encodingClass(v []byte) byte {
	var class byte
	for len(v) > 0 {
		var tok []byte
		tok, v = httpbytes.NextItem(v)
		if i := bytes.IndexByte(tok, ';'); i >= 0 {
			if refused(tok[i+1:]) {
				continue // "gzip;q=0" refuses gzip: not in the class
			}
			tok = tok[:i]
		}
		tok = bytes.TrimSpace(tok)
		switch {
		case bytes.EqualFold(tok, []byte("gzip")), bytes.EqualFold(tok, []byte("x-gzip")):
			class |= acceptGzip
		case bytes.EqualFold(tok, []byte("br")):
			class |= acceptBr
		case bytes.EqualFold(tok, []byte("zstd")):
			class |= acceptZstd
		case bytes.EqualFold(tok, []byte("deflate")):
			class |= acceptDeflate
		case string(tok) == "*":
			class |= acceptGzip | acceptBr | acceptZstd | acceptDeflate
		}
	}
	return class
}

// refused reports whether the parameters of an Accept-Encoding item hold a
// zero quality ("q=0", "q=0.000").
func refused(params []byte) bool {
	for len(params) > 0 {
		p := params
		if i := bytes.IndexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			params = nil
		}
		p = bytes.TrimSpace(p)
		if len(p) < 3 || p[0]|0x20 != 'q' || p[1] != '=' || p[2] != '0' {
			continue
		}
		for _, c := range p[3:] {
			if c != '.' && c != '0' {
				return false
			}
		}
		return true
	}
	return false
}
