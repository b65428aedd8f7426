package cache

import (
	"bytes"
	"time"

	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
	"github.com/valyala/fasthttp"
)

// directives are the Cache-Control tokens the cache acts on.
type directives struct {
	noStore, noCache, private bool
	maxAge, sMaxAge           int64 // seconds; -1 when absent
}

// parseCacheControl adds the directives of one Cache-Control value to d.
// Unknown directives are ignored; a malformed age counts as absent.
func parseCacheControl(d *directives, v []byte) {
	for len(v) > 0 {
		var tok []byte
		tok, v = httpbytes.NextItem(v)
		name, val := tok, []byte(nil)
		if i := bytes.IndexByte(tok, '='); i >= 0 {
			name, val = bytes.TrimSpace(tok[:i]), bytes.Trim(bytes.TrimSpace(tok[i+1:]), `"`)
		}
		switch {
		case bytes.EqualFold(name, []byte("no-store")):
			d.noStore = true
		case bytes.EqualFold(name, []byte("no-cache")):
			d.noCache = true
		case bytes.EqualFold(name, []byte("private")):
			d.private = true
		case bytes.EqualFold(name, []byte("max-age")):
			d.maxAge = seconds(val, d.maxAge)
		case bytes.EqualFold(name, []byte("s-maxage")):
			d.sMaxAge = seconds(val, d.sMaxAge)
		}
	}
}

// seconds parses a delta-seconds value; on error it keeps old. A huge value
// is capped rather than rejected (RFC 9111 §1.2.2).
func seconds(v []byte, old int64) int64 {
	if len(v) == 0 {
		return old
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return old
		}
		if n < 1<<31 {
			n = n*10 + int64(c-'0')
		}
	}
	return min(n, 1<<31)
}

// clientBypass reports whether the client asked not to be served from the
// cache: Cache-Control no-cache or no-store, or Pragma: no-cache.
func clientBypass(h *fasthttp.RequestHeader) bool {
	d := directives{maxAge: -1, sMaxAge: -1}
	for _, v := range h.PeekAll(fasthttp.HeaderCacheControl) {
		parseCacheControl(&d, v)
	}
	// Pragma has the same token syntax; only its no-cache means anything.
	for _, v := range h.PeekAll(fasthttp.HeaderPragma) {
		parseCacheControl(&d, v)
	}
	return d.noCache || d.noStore
}

// storable decides whether resp may be stored, and for how long it stays
// fresh: the route's ttl, or the upstream's s-maxage / max-age (less the Age
// it reported) when shorter. age0 is that reported Age in seconds.
func storable(resp *fasthttp.Response, ttl time.Duration) (fresh time.Duration, age0 int64, ok bool) {
	switch resp.StatusCode() {
	case 200, 203, 204, 301, 404:
	default:
		return 0, 0, false
	}
	for range resp.Header.Cookies() {
		return 0, 0, false
	}
	d := directives{maxAge: -1, sMaxAge: -1}
	for _, v := range resp.Header.PeekAll(fasthttp.HeaderCacheControl) {
		parseCacheControl(&d, v)
	}
	if d.noStore || d.private || d.noCache {
		return 0, 0, false
	}
	for _, v := range resp.Header.PeekAll(fasthttp.HeaderVary) {
		if bytes.Contains(v, []byte("*")) {
			return 0, 0, false // varies on something no key can capture
		}
	}
	age0 = seconds(resp.Header.Peek(fasthttp.HeaderAge), 0)
	fresh = ttl
	limit := d.maxAge
	if d.sMaxAge >= 0 {
		limit = d.sMaxAge // a shared cache obeys s-maxage over max-age
	}
	if limit >= 0 {
		if left := time.Duration(limit-age0) * time.Second; left < fresh {
			fresh = left
		}
	}
	if fresh <= 0 {
		return 0, 0, false
	}
	return fresh, age0, true
}
