package engine_test

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/internal/enginetest"
	"github.com/valyala/fasthttp"
)

// contentUpstream serves fixed answers by path: /json (8 KiB JSON), /small,
// /png, /encoded (already gzip), /big (100 KiB JSON, streamed by the
// gateway), /chunked (the 8 KiB JSON without Content-Length), /sse (an
// event stream). It counts requests.
func contentUpstream(t testing.TB) (addr string, hits *atomic.Int64, body []byte) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("[")
	for i := 0; b.Len() < 8<<10; i++ {
		fmt.Fprintf(&b, `{"sku":"sku-%06d","name":"Product %d","price":%d},`, i, i, i%500)
	}
	b.Truncate(b.Len() - 1)
	b.WriteString("]")
	body = b.Bytes()
	big := bytes.Repeat([]byte(`{"k":"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"},`), 2000)
	gz := fasthttp.AppendGzipBytes(nil, body)
	u := enginetest.StartUpstream(t, func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/json":
			ctx.SetContentType("application/json")
			ctx.Response.Header.Set("ETag", `"abc"`)
			ctx.SetBody(body)
		case "/small":
			ctx.SetContentType("application/json")
			ctx.SetBody(body[:500])
		case "/png":
			ctx.SetContentType("image/png")
			ctx.SetBody(body)
		case "/encoded":
			ctx.SetContentType("application/json")
			ctx.Response.Header.SetContentEncoding("gzip")
			ctx.SetBody(gz)
		case "/big":
			ctx.SetContentType("application/json")
			ctx.SetBody(big)
		case "/chunked":
			ctx.SetContentType("application/json")
			ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
				w.Write(body[:4000])
				w.Flush()
				w.Write(body[4000:])
			})
		case "/sse":
			ctx.SetContentType("text/event-stream")
			ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
				for i := 0; i < 3; i++ {
					fmt.Fprintf(w, "data: %s\n\n", strings.Repeat("x", 600))
					w.Flush()
				}
			})
		}
	})
	return u.Addr(), &u.Hits, body
}

// TestCompress: gzip and br for an accepting client, identity otherwise, the
// exclusions, and a cached route serving each client its encoding from one
// identity entry.
func TestCompress(t *testing.T) {
	up, hits, body := contentUpstream(t)
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"s": {"targets": [%q]}},
  "routes": [
    {"name": "z", "path": "/z/{p}", "service": "s", "rewrite": "/{p}", "compress": true},
    {"name": "cached", "path": "/cached", "service": "s", "rewrite": "/json", "compress": true, "cache": {"ttl": "1m"}},
    {"name": "off", "path": "/off", "service": "s", "rewrite": "/json"}
  ]
}`, up))
	c := &fasthttp.Client{ReadTimeout: 10 * time.Second}
	fetch := func(method, path, ae string) *fasthttp.Response {
		t.Helper()
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		req.Header.SetMethod(method)
		req.SetRequestURI(g.url + path)
		if ae != "" {
			req.Header.Set("Accept-Encoding", ae)
		}
		resp := new(fasthttp.Response)
		if err := c.Do(req, resp); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return resp
	}
	decode := func(resp *fasthttp.Response) []byte {
		t.Helper()
		var plain []byte
		var err error
		switch ce := string(resp.Header.ContentEncoding()); ce {
		case "gzip":
			plain, err = resp.BodyGunzip()
		case "br":
			plain, err = resp.BodyUnbrotli()
		case "":
			plain = resp.Body()
		default:
			t.Fatalf("Content-Encoding %q", ce)
		}
		if err != nil {
			t.Fatal(err)
		}
		return plain
	}
	for _, c := range []struct{ ae, want string }{
		{"gzip, deflate, br", "br"}, {"gzip", "gzip"}, {"br;q=0.5, gzip", "gzip"}, {"gzip;q=0, br;q=0", ""}, {"", ""}, {"identity", ""},
	} {
		resp := fetch("GET", "/z/json", c.ae)
		if ce := string(resp.Header.ContentEncoding()); ce != c.want {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", c.ae, ce, c.want)
		}
		if !bytes.Equal(decode(resp), body) {
			t.Errorf("Accept-Encoding %q: body does not decode to the upstream's", c.ae)
		}
		if c.want != "" && (resp.Header.ContentLength() != len(resp.Body()) || len(resp.Body()) > len(body)/3) {
			t.Errorf("%s: Content-Length %d, body %d of %d", c.want, resp.Header.ContentLength(), len(resp.Body()), len(body))
		}
		if v := string(resp.Header.Peek("Vary")); v != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: Vary %q", c.ae, v)
		}
	}
	if etag := string(fetch("GET", "/z/json", "gzip").Header.Peek("ETag")); etag != `W/"abc"` {
		t.Errorf("ETag of a compressed answer %q, want the weak W/\"abc\"", etag)
	}
	// Answers the gateway would stream (over 64 KiB, chunked) are read whole and compressed.
	for _, path := range []string{"/z/big", "/z/chunked"} {
		resp := fetch("GET", path, "gzip, br")
		if ce := string(resp.Header.ContentEncoding()); ce != "br" {
			t.Errorf("%s: Content-Encoding %q, want br", path, ce)
		}
		if plain := decode(resp); len(plain) < len(body) || (path == "/z/chunked" && !bytes.Equal(plain, body)) {
			t.Errorf("%s: decoded %d bytes", path, len(plain))
		}
	}
	// Left alone: small, incompressible type, already encoded, SSE, HEAD, route without compress.
	for _, path := range []string{"/z/small", "/z/png", "/z/encoded", "/z/sse", "/off"} {
		resp := fetch("GET", path, "gzip, br")
		want := ""
		if path == "/z/encoded" {
			want = "gzip"
		}
		if ce := string(resp.Header.ContentEncoding()); ce != want {
			t.Errorf("%s: Content-Encoding %q, want %q", path, ce, want)
		}
		if path == "/z/sse" && strings.Count(string(resp.Body()), "data: ") != 3 {
			t.Errorf("SSE body %q", resp.Body())
		}
	}
	if resp := fetch("HEAD", "/z/json", "gzip"); len(resp.Header.ContentEncoding()) != 0 || resp.StatusCode() != 200 {
		t.Errorf("HEAD: %d %q", resp.StatusCode(), resp.Header.ContentEncoding())
	}
	// Cached route: the cache keys by Accept-Encoding class, so each class
	// has one entry, stored compressed; a hit is served as stored.
	before := hits.Load()
	for i, c := range []struct{ ae, want, xcache string }{
		{"gzip", "gzip", "MISS"}, {"br, gzip", "br", "MISS"}, {"", "", "MISS"},
		{"gzip", "gzip", "HIT"}, {"GZIP;q=0.8", "gzip", "HIT"}, {"gzip, br", "br", "HIT"}, {"identity", "", "HIT"},
		{"gzip;q=0", "", "HIT"}, // refusing gzip is the identity class, not the gzip one
	} {
		resp := fetch("GET", "/cached", c.ae)
		if ce := string(resp.Header.ContentEncoding()); ce != c.want || !bytes.Equal(decode(resp), body) {
			t.Errorf("cached %d (%q): Content-Encoding %q, want %q", i, c.ae, ce, c.want)
		}
		if xc := string(resp.Header.Peek("X-Cache")); xc != c.xcache {
			t.Errorf("cached %d (%q): X-Cache %s, want %s", i, c.ae, xc, c.xcache)
		}
	}
	if n := hits.Load() - before; n != 3 {
		t.Errorf("cached route made %d upstream calls, want 3", n)
	}
}
