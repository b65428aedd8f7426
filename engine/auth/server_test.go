package auth

import (
	"crypto/tls"
	"net"
	"testing"

	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

// serve runs a real fasthttp server on 127.0.0.1 that strips forwarded
// headers and checks r, as the engine does, answering 200 "consumer=..."
// or the failure's status and "code: message". tc enables TLS.
func serve(t *testing.T, s *Set, r *Route, tc *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		x := &pipeline.Exchange{Ctx: ctx, TLS: ctx.IsTLS()}
		s.StripForwarded(&ctx.Request.Header)
		ok := r.Check(x)
		x.ApplyResponseHeaders(&ctx.Response.Header)
		if !ok {
			rej, _ := x.Rejected()
			ctx.SetStatusCode(rej.Status)
			ctx.SetBodyString(rej.Code + ": " + rej.Message)
			return
		}
		ctx.SetBodyString("consumer=" + string(x.Consumer))
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return addr
}
