// Package compress is the response compression stage of a route
// (`"compress": true`): gzip or brotli for compressible answers over
// MinSize bytes, chosen from the client's Accept-Encoding.
//
// It runs on the upstream's answer as it arrives, before the cache stores it
// (the response transform only touches headers, so the order does not
// change the result). Cache entries are keyed by the class of
// Accept-Encoding, so each class stores its own compressed entry (see
// README.md for the measured choice). An answer the gateway would stream (over 64 KiB, or without a Content-Length) is read
// whole first, up to MaxSize. Server-sent events (text/event-stream) pass
// through unchanged, as do answers that already have a Content-Encoding,
// answers marked Cache-Control: no-transform, HEAD requests and 204, 206
// and 304 answers.
package compress

import (
	"bytes"
	"io"
	"sync"

	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

// Settings of the stage.
const (
	// MinSize is the smallest body worth compressing (1 KiB): below it the
	// saving is a few hundred bytes at best, less than the work costs.
	MinSize = 1024
	// GzipLevel is nginx's default gzip level: most of the saving for the
	// least CPU, which matters because cache hits are compressed per answer.
	GzipLevel = 1
	// BrotliLevel 2 compresses as fast as gzip 1 and about a third smaller
	// on JSON.
	BrotliLevel = 2
	// MaxSize bounds the answers compressed: the gateway streams answers
	// over 64 KiB or without a Content-Length, and this stage reads such an
	// answer whole to compress it. A larger one with a Content-Length is
	// passed on as it is; a larger one without fails with 502.
	MaxSize = 8 << 20
)

// Policy is a route's compiled compress setting. A nil Policy does nothing.
type Policy struct {
	minSize int
}

// Compile returns the stage for a route with compress set to on (nil when off).
func Compile(on bool) *Policy {
	if !on {
		return nil
	}
	return &Policy{minSize: MinSize}
}

// Encoding is a content coding the stage may apply.
type Encoding uint8

// Encodings, in the order of preference on equal quality.
const (
	Identity Encoding = iota
	Brotli
	Gzip
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// Respond compresses the answer in x.Ctx.Response in place when it is
// eligible and the client accepts gzip or br. Every answer of a compressible
// type gets Vary: Accept-Encoding, compressed or not, so shared caches keep
// the encodings apart.
func (p *Policy) Respond(x *pipeline.Exchange) {
	if p == nil {
		return
	}
	ctx := x.Ctx
	resp := &ctx.Response
	h := &resp.Header
	switch resp.StatusCode() {
	case fasthttp.StatusNoContent, fasthttp.StatusPartialContent, fasthttp.StatusNotModified:
		return
	}
	if resp.StatusCode() < 200 || len(h.ContentEncoding()) > 0 ||
		!Compressible(h.ContentType()) || hasNoTransform(h.Peek(fasthttp.HeaderCacheControl)) {
		return
	}
	pipeline.AddVary(h, fasthttp.HeaderAcceptEncoding)
	if ctx.IsHead() {
		return
	}
	enc := Negotiate(ctx.Request.Header.Peek(fasthttp.HeaderAcceptEncoding))
	if enc == Identity {
		return
	}
	if resp.IsBodyStream() && !readWhole(x) {
		return
	}
	body := resp.Body()
	if len(body) < p.minSize {
		return
	}
	bp := bufPool.Get().(*[]byte)
	out := (*bp)[:0]
	if enc == Brotli {
		out = fasthttp.AppendBrotliBytesLevel(out, body, BrotliLevel)
	} else {
		out = fasthttp.AppendGzipBytesLevel(out, body, GzipLevel)
	}
	if len(out) < len(body) {
		resp.SetBody(out) // copies into the response's own buffer
		if enc == Brotli {
			h.SetContentEncoding("br")
		} else {
			h.SetContentEncoding("gzip")
		}
		// The compressed body is another representation: a strong
		// validator of the identity body no longer identifies it.
		if etag := h.Peek(fasthttp.HeaderETag); len(etag) > 0 && !bytes.HasPrefix(etag, weakPrefix) {
			weakenETag(h, etag)
		}
		h.Del(fasthttp.HeaderAcceptRanges)
	}
	if cap(out) <= 1<<20 {
		*bp = out
		bufPool.Put(bp)
	}
}

// readWhole reads a streamed answer into the response's buffer so that it
// can be compressed. It returns false, leaving the answer to stream as it is,
// when its Content-Length is over MaxSize; an answer without one that runs
// past MaxSize, or one cut short, fails x with 502 (a truncated answer is
// never passed on as complete).
func readWhole(x *pipeline.Exchange) bool {
	resp := &x.Ctx.Response
	n := resp.Header.ContentLength()
	if n > MaxSize {
		return false
	}
	limit := int64(MaxSize) + 1
	if n >= 0 {
		limit = int64(n) + 1
	}
	bp := bufPool.Get().(*[]byte)
	buf := bytes.NewBuffer((*bp)[:0])
	defer func() {
		if b := buf.Bytes(); cap(b) <= 1<<20 {
			*bp = b[:0]
			bufPool.Put(bp)
		}
	}()
	_, err := buf.ReadFrom(io.LimitReader(resp.BodyStream(), limit))
	switch {
	case err != nil || n >= 0 && buf.Len() != n:
		resp.CloseBodyStream() //nolint:errcheck // the answer is failed anyway
		x.Fail(fault.BadGateway, "upstream answer cut short")
		return false
	case n < 0 && buf.Len() > MaxSize:
		resp.CloseBodyStream() //nolint:errcheck
		x.Fail(fault.BadGateway, "upstream answer without Content-Length too large to compress")
		return false
	}
	resp.SetBody(buf.Bytes()) // closes the finished stream
	return true
}

var weakPrefix = []byte("W/")

func weakenETag(h *fasthttp.ResponseHeader, etag []byte) {
	var arr [128]byte
	buf := append(append(arr[:0], weakPrefix...), etag...)
	h.SetBytesV(fasthttp.HeaderETag, buf)
}

// hasNoTransform reports a Cache-Control no-transform directive.
func hasNoTransform(cc []byte) bool {
	return len(cc) > 0 && httpbytes.ContainsFold(cc, "no-transform")
}

// Compressible reports whether a Content-Type names a type that compresses
// well: text (but not event streams), JSON, JavaScript, XML, SVG, WebAssembly
// and uncompressed font formats.
func Compressible(ct []byte) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	if len(ct) == 0 {
		return false
	}
	if httpbytes.HasPrefixFold(ct, "text/") {
		return !httpbytes.EqualFold(ct, "text/event-stream")
	}
	for _, t := range compressibleTypes {
		if httpbytes.EqualFold(ct, t) {
			return true
		}
	}
	return httpbytes.HasSuffixFold(ct, "+json") || httpbytes.HasSuffixFold(ct, "+xml")
}

var compressibleTypes = []string{
	"application/json", "application/javascript", "application/x-javascript", "application/ecmascript",
	"application/xml", "application/xhtml+xml", "application/rss+xml", "application/atom+xml",
	"image/svg+xml", "application/wasm", "application/graphql", "application/x-yaml", "application/yaml",
	"application/x-www-form-urlencoded", "application/vnd.ms-fontobject", "font/ttf", "font/otf",
	"application/manifest+json", "image/x-icon", "image/bmp",
}

// Negotiate picks the coding for an Accept-Encoding value: the accepted
// one (gzip or br) with the highest quality, br on a tie; "*" covers the
// codings not named; q=0 refuses. Identity when neither is acceptable.
func Negotiate(ae []byte) Encoding {
	if len(ae) == 0 {
		return Identity
	}
	brQ, gzQ, starQ := -1, -1, -1 // quality in thousandths; -1: not named
	for len(ae) > 0 {
		var item []byte
		item, ae = httpbytes.NextItem(ae)
		name := item
		q := 1000
		if i := bytes.IndexByte(item, ';'); i >= 0 {
			name = item[:i]
			q = parseQ(item[i+1:])
		}
		name = bytes.TrimSpace(name)
		switch {
		case httpbytes.EqualFold(name, "br"):
			brQ = max(brQ, q)
		case httpbytes.EqualFold(name, "gzip"), httpbytes.EqualFold(name, "x-gzip"):
			gzQ = max(gzQ, q)
		case len(name) == 1 && name[0] == '*':
			starQ = max(starQ, q)
		}
	}
	if brQ < 0 {
		brQ = starQ
	}
	if gzQ < 0 {
		gzQ = starQ
	}
	switch {
	case brQ > 0 && brQ >= gzQ:
		return Brotli
	case gzQ > 0:
		return Gzip
	}
	return Identity
}

// parseQ reads the q parameter of an Accept-Encoding item ("q=0.5") in
// thousandths; a malformed value counts as 0 (not acceptable).
func parseQ(params []byte) int {
	for len(params) > 0 {
		var p []byte
		if i := bytes.IndexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			p, params = params, nil
		}
		p = bytes.TrimSpace(p)
		if len(p) < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=' {
			continue
		}
		v := p[2:]
		if len(v) == 0 || v[0] != '0' && v[0] != '1' {
			return 0
		}
		q := int(v[0]-'0') * 1000
		if len(v) > 1 {
			if v[1] != '.' || len(v) > 5 {
				return 0
			}
			scale := 100
			for _, c := range v[2:] {
				if c < '0' || c > '9' {
					return 0
				}
				q += int(c-'0') * scale
				scale /= 10
			}
		}
		if q > 1000 {
			return 0
		}
		return q
	}
	return 1000
}
