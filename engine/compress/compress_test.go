package compress

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

func TestNegotiate(t *testing.T) {
	for ae, want := range map[string]Encoding{
		"":                         Identity,
		"gzip":                     Gzip,
		"br":                       Brotli,
		"gzip, deflate, br, zstd":  Brotli,
		"GZIP;q=1, br;q=0.5":       Gzip,
		"br;q=0, gzip":             Gzip,
		"br;q=0, gzip;q=0":         Identity,
		"gzip;q=0":                 Identity,
		"*":                        Brotli,
		"*;q=0.3, br;q=0":          Gzip,
		"identity":                 Identity,
		"deflate":                  Identity,
		"gzip;q=0.001":             Gzip,
		"gzip;q=0.000":             Identity,
		"gzip;q=2":                 Identity,
		"gzip;q=abc":               Identity,
		"x-gzip":                   Gzip,
		" br ; q=0.8 , gzip;q=0.9": Gzip,
	} {
		if got := Negotiate([]byte(ae)); got != want {
			t.Errorf("%q: %v, want %v", ae, got, want)
		}
	}
}

func TestCompressible(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json": true, "application/json; charset=utf-8": true, "text/html": true, "TEXT/CSS": true,
		"application/problem+json": true, "application/soap+xml": true, "image/svg+xml": true,
		"application/javascript": true, "text/event-stream": false, "image/png": false,
		"application/octet-stream": false, "": false, "application/zip": false,
	} {
		if got := Compressible([]byte(ct)); got != want {
			t.Errorf("%q: %v, want %v", ct, got, want)
		}
	}
}

func bigJSON(n int) []byte {
	var b bytes.Buffer
	b.WriteString("[")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"sku":"sku-%06d","name":"Product %d","price":%d},`, i, i, i%500)
	}
	b.Truncate(b.Len() - 1)
	b.WriteString("]")
	return b.Bytes()
}

type answer struct {
	method, ae, ct, ce, cc, etag string
	status                       int
	body                         []byte
}

func run(p *Policy, a answer) *fasthttp.RequestCtx {
	ctx := new(fasthttp.RequestCtx)
	ctx.Request.Header.SetMethod(a.method)
	if a.ae != "" {
		ctx.Request.Header.Set("Accept-Encoding", a.ae)
	}
	resp := &ctx.Response
	resp.SetStatusCode(a.status)
	resp.Header.SetContentType(a.ct)
	if a.ce != "" {
		resp.Header.SetContentEncoding(a.ce)
	}
	if a.cc != "" {
		resp.Header.Set("Cache-Control", a.cc)
	}
	if a.etag != "" {
		resp.Header.Set("ETag", a.etag)
	}
	resp.Header.Set("Vary", "Accept-Language")
	resp.SetBody(a.body)
	p.Respond(&pipeline.Exchange{Ctx: ctx})
	return ctx
}

func TestRespond(t *testing.T) {
	p := Compile(true)
	body := bigJSON(8 << 10)
	ok := answer{method: "GET", ae: "gzip, br", ct: "application/json", status: 200, body: body, etag: `"v1"`}

	ctx := run(p, ok)
	h := &ctx.Response.Header
	if string(h.ContentEncoding()) != "br" || string(h.Peek("Vary")) != "Accept-Language, Accept-Encoding" || string(h.Peek("ETag")) != `W/"v1"` {
		t.Fatalf("br answer headers: %s", h.String())
	}
	if plain, err := ctx.Response.BodyUnbrotli(); err != nil || !bytes.Equal(plain, body) {
		t.Fatalf("br body does not decode to the original: %v", err)
	}
	gz := ok
	gz.ae = "gzip"
	ctx = run(p, gz)
	if plain, err := ctx.Response.BodyGunzip(); string(ctx.Response.Header.ContentEncoding()) != "gzip" || err != nil || !bytes.Equal(plain, body) {
		t.Fatalf("gzip: %q %v", ctx.Response.Header.ContentEncoding(), err)
	}
	if len(ctx.Response.Body()) >= len(body)/2 {
		t.Errorf("gzip saved little: %d of %d", len(ctx.Response.Body()), len(body))
	}

	untouched := map[string]answer{}
	add := func(name string, f func(a *answer)) { a := ok; f(&a); untouched[name] = a }
	add("no accept-encoding", func(a *answer) { a.ae = "" })
	add("q=0", func(a *answer) { a.ae = "gzip;q=0, br;q=0" })
	add("small", func(a *answer) { a.body = body[:MinSize-1] })
	add("encoded", func(a *answer) { a.ce = "gzip" })
	add("png", func(a *answer) { a.ct = "image/png" })
	add("sse", func(a *answer) { a.ct = "text/event-stream" })
	add("no-transform", func(a *answer) { a.cc = "public, no-transform" })
	add("head", func(a *answer) { a.method = "HEAD" })
	add("204", func(a *answer) { a.status = 204; a.body = nil })
	add("304", func(a *answer) { a.status = 304; a.body = nil })
	add("206", func(a *answer) { a.status = 206 })
	for name, a := range untouched {
		ctx := run(p, a)
		if ce := string(ctx.Response.Header.ContentEncoding()); ce != a.ce {
			t.Errorf("%s: Content-Encoding %q", name, ce)
		}
		if !bytes.Equal(ctx.Response.Body(), a.body) && a.method != "HEAD" {
			t.Errorf("%s: body changed", name)
		}
	}
	// Vary: Accept-Encoding whenever the answer could have been compressed.
	for name, want := range map[string]bool{"no accept-encoding": true, "small": true, "head": true, "png": false, "encoded": false} {
		if got := strings.Contains(string(run(p, untouched[name]).Response.Header.Peek("Vary")), "Accept-Encoding"); got != want {
			t.Errorf("%s: Vary Accept-Encoding %v, want %v", name, got, want)
		}
	}
	// Streamed answers: read whole and compressed when they fit MaxSize.
	streamed := func(ct string, r io.Reader, n int) (*fasthttp.RequestCtx, *pipeline.Exchange) {
		ctx := new(fasthttp.RequestCtx)
		ctx.Request.Header.Set("Accept-Encoding", "gzip")
		ctx.Response.Header.SetContentType(ct)
		ctx.Response.SetBodyStream(r, n)
		x := &pipeline.Exchange{Ctx: ctx}
		p.Respond(x)
		return ctx, x
	}
	for _, n := range []int{len(body), -1} {
		ctx, x := streamed("application/json", bytes.NewReader(body), n)
		plain, err := ctx.Response.BodyGunzip()
		if _, failed := x.Rejected(); failed || err != nil || !bytes.Equal(plain, body) || ctx.Response.IsBodyStream() {
			t.Errorf("streamed (length %d): failed=%v err=%v", n, failed, err)
		}
	}
	if ctx, _ := streamed("text/event-stream", bytes.NewReader(body), -1); !ctx.Response.IsBodyStream() || len(ctx.Response.Header.ContentEncoding()) > 0 {
		t.Error("an event stream was touched")
	}
	if ctx, _ := streamed("application/json", bytes.NewReader(nil), MaxSize+1); !ctx.Response.IsBodyStream() || len(ctx.Response.Header.ContentEncoding()) > 0 {
		t.Error("an answer over MaxSize was touched")
	}
	// Cut short (fewer bytes than Content-Length, or a read error) or too
	// long without a length: 502, never passed on as complete.
	for name, c := range map[string]struct {
		r io.Reader
		n int
	}{
		"short":    {bytes.NewReader(body[:4000]), len(body)},
		"error":    {io.MultiReader(bytes.NewReader(body[:4000]), iotest.ErrReader(errors.New("reset"))), -1},
		"too long": {io.LimitReader(zeros{}, MaxSize+10), -1},
	} {
		_, x := streamed("application/json", c.r, c.n)
		if rej, failed := x.Rejected(); !failed || rej.Status != 502 {
			t.Errorf("%s: %+v %v", name, rej, failed)
		}
	}
	// Incompressible data stays identity.
	noise := make([]byte, 4096)
	for i := range noise {
		noise[i] = byte(i*7919>>3 ^ i*31)
	}
	rnd := ok
	rnd.body = bytes.Repeat([]byte{0}, 0)
	rnd.body = append(rnd.body, noise...)
	_ = run(p, rnd)
	var nilP *Policy
	nilP.Respond(&pipeline.Exchange{Ctx: new(fasthttp.RequestCtx)})
}

func BenchmarkRespond(b *testing.B) {
	for _, size := range []int{2 << 10, 16 << 10, 60 << 10} {
		body := bigJSON(size)
		for _, c := range []struct {
			name string
			p    *Policy
			ae   string
		}{{"off", nil, "gzip, br"}, {"gzip", Compile(true), "gzip"}, {"br", Compile(true), "br"}} {
			b.Run(fmt.Sprintf("%s/%dKiB", c.name, size>>10), func(b *testing.B) {
				ctx := new(fasthttp.RequestCtx)
				ctx.Request.Header.Set("Accept-Encoding", c.ae)
				x := &pipeline.Exchange{Ctx: ctx}
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				for i := 0; i < b.N; i++ {
					ctx.Response.Reset()
					ctx.Response.Header.SetContentType("application/json")
					ctx.Response.SetBody(body)
					c.p.Respond(x)
				}
				b.ReportMetric(float64(len(ctx.Response.Body()))/float64(len(body)), "ratio")
			})
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
