package cache

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"time"

	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

// entry is one stored response. key, hdr and body share one allocation:
// key is the full cache key (compared on every lookup, so a hash collision
// can never answer another request), hdr the serialised headers and body the
// body. A header record is: name length uint16, value length uint32, a byte
// that is 1 when the name occurred before, the canonical name, the value.
// An entry is immutable once built; hits reference its body without copying.
type entry struct {
	key, hdr, body []byte
	status         int
	noContentType  bool  // the upstream sent no Content-Type: add none
	storedAt       int64 // unix nanoseconds
	freshUntil     int64 // HIT before this
	staleUntil     int64 // STALE (upstream failed) before this
	age0           int64 // Age the upstream reported, seconds
}

// hdrRecord is the size of a header record's fixed part.
const hdrRecord = 7

// entryOverhead approximates the struct and ristretto's bookkeeping, so tiny
// responses still cost something.
const entryOverhead = 128

func (e *entry) cost() int64 { return int64(len(e.key)+len(e.hdr)+len(e.body)) + entryOverhead }

// keepFor is how long ristretto keeps e: fresh life plus the stale window.
func (e *entry) keepFor() time.Duration { return time.Duration(e.staleUntil - e.storedAt) }

// skipStored lists response headers not stored: framing is rebuilt on every
// answer, Age is computed, and X-Cache belongs to this cache.
func skipStored(k []byte) bool {
	switch len(k) {
	case 3:
		return bytes.EqualFold(k, []byte("Age"))
	case 7:
		return bytes.EqualFold(k, []byte("X-Cache"))
	case 10:
		return bytes.EqualFold(k, []byte("Set-Cookie")) || bytes.EqualFold(k, []byte("Connection"))
	case 14:
		return bytes.EqualFold(k, []byte("Content-Length"))
	case 17:
		return bytes.EqualFold(k, []byte("Transfer-Encoding"))
	}
	return false
}

// newEntry copies resp into a new entry under key, fresh for fresh and kept
// stale for staleFor after that.
func newEntry(key []byte, resp *fasthttp.Response, now int64, fresh, staleFor time.Duration, age0 int64) *entry {
	body := resp.Body()
	size := len(key) + len(body)
	for k, v := range resp.Header.All() {
		if !skipStored(k) && len(k) <= 0xffff {
			size += hdrRecord + len(k) + len(v)
		}
	}
	buf := make([]byte, 0, size)
	buf = append(buf, key...)
	klen := len(buf)
	for k, v := range resp.Header.All() {
		if skipStored(k) || len(k) > 0xffff {
			continue
		}
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(k)))
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(v)))
		buf = append(buf, 0)
		name := len(buf)
		buf = append(buf, k...)
		canonicalize(buf[name:])
		if seenBefore(buf[klen:name-hdrRecord], buf[name:]) {
			buf[name-1] = 1
		}
		buf = append(buf, v...)
	}
	hlen := len(buf)
	buf = append(buf, body...)
	return &entry{
		key:           buf[:klen:klen],
		hdr:           buf[klen:hlen:hlen],
		body:          buf[hlen:],
		status:        resp.StatusCode(),
		noContentType: len(resp.Header.ContentType()) == 0,
		storedAt:      now,
		freshUntil:    now + int64(fresh),
		staleUntil:    now + int64(fresh) + int64(staleFor),
		age0:          age0,
	}
}

// writeTo makes e the response of x, with Age computed at now. num is
// scratch space for formatting the Age value.
func (e *entry) writeTo(x *pipeline.Exchange, now int64, num *[20]byte) {
	resp := &x.Ctx.Response
	skipBody := resp.SkipBody
	resp.Reset()
	resp.SkipBody = skipBody
	resp.Header.SetStatusCode(e.status)
	for h := e.hdr; len(h) >= hdrRecord; {
		kl := int(binary.BigEndian.Uint16(h))
		vl := int(binary.BigEndian.Uint32(h[2:]))
		repeat := h[6] == 1
		h = h[hdrRecord:]
		// Names are stored canonical: the first of a name needs no
		// normalising on a freshly reset header; repeats are added.
		if repeat {
			resp.Header.AddBytesKV(h[:kl], h[kl:kl+vl])
		} else {
			resp.Header.SetCanonical(h[:kl], h[kl:kl+vl])
		}
		h = h[kl+vl:]
	}
	if e.noContentType {
		resp.Header.SetNoDefaultContentType(true)
	}
	age := e.age0 + (now-e.storedAt)/int64(time.Second)
	resp.Header.SetBytesV("Age", strconv.AppendInt(num[:0], age, 10))
	resp.SetBodyRaw(e.body)
}

// canonicalize puts a header name in the form fasthttp stores it:
// "content-type" becomes "Content-Type".
func canonicalize(k []byte) {
	upper := true
	for i, c := range k {
		switch {
		case upper && 'a' <= c && c <= 'z':
			k[i] = c - ('a' - 'A')
		case !upper && 'A' <= c && c <= 'Z':
			k[i] = c + ('a' - 'A')
		}
		upper = c == '-'
	}
}

// seenBefore reports whether records (serialised so far) hold name.
func seenBefore(records, name []byte) bool {
	for len(records) >= hdrRecord {
		kl := int(binary.BigEndian.Uint16(records))
		vl := int(binary.BigEndian.Uint32(records[2:]))
		records = records[hdrRecord:]
		if bytes.Equal(records[:kl], name) {
			return true
		}
		records = records[kl+vl:]
	}
	return false
}
