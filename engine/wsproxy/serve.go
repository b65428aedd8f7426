package wsproxy

import (
	"bufio"
	"errors"
	"net"
	"time"

	"github.com/sluice-gw/sluice/engine/forward"
	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/sluice-gw/sluice/engine/upstream"
	"github.com/valyala/fasthttp"
)

// maxResponseBody bounds the body of a refused upgrade passed back to the
// client (an upstream error page, normally tiny).
const maxResponseBody = 4 << 20

// Serve proxies the upgrade request in x to svc (the request URI has already
// been rewritten for upstream) or fails x. When the target answers 101, x's
// response becomes that 101 (fasthttp writes it, with the headers the engine
// adds) and the connection is hijacked for the tunnel; any other answer is
// passed back as a normal response.
func Serve(x *pipeline.Exchange, svc *upstream.Service) {
	deadline := x.Deadline
	if deadline.IsZero() {
		deadline = time.Now().Add(svc.Timeout)
	}
	tun, err := svc.Dial(deadline)
	if err != nil {
		upstream.FailExchange(x, svc, err)
		return
	}
	x.Target = tun.Target.Addr
	upr, err := handshake(x.Ctx, tun, deadline)
	if err != nil {
		tun.Answered(err, 0)
		tun.Close()
		upstream.FailExchange(x, svc, err)
		return
	}
	resp := &x.Ctx.Response
	status := resp.StatusCode()
	tun.Answered(nil, status)
	if status != fasthttp.StatusSwitchingProtocols {
		tun.Close()
		forward.Response(&resp.Header, nil)
		return
	}
	switched(&resp.Header)
	if err := tun.Conn.SetDeadline(time.Time{}); err != nil {
		tun.Close()
		upstream.FailExchange(x, svc, upstream.ErrBadResponse)
		return
	}
	x.Ctx.Hijack(newSplice(svc, tun, upr, svc.Timeout).run)
}

// handshake sends the upgrade request over tun and reads the answer into
// ctx.Response. The returned reader holds whatever the target sent after
// its answer (the first frames may come right behind a 101).
func handshake(ctx *fasthttp.RequestCtx, tun *upstream.Tunnel, deadline time.Time) (*bufio.Reader, error) {
	req := &ctx.Request
	// Hop-by-hop removal took these off; the upgrade is what this hop is for.
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.SetHost(tun.Target.Addr)
	req.UseHostHeader = true // never the client's host, even from a parsed URI
	if err := tun.Conn.SetDeadline(deadline); err != nil {
		return nil, upstream.ErrBadResponse
	}
	bw := bufio.NewWriterSize(tun.Conn, 4<<10)
	if err := req.Write(bw); err != nil {
		return nil, classify(err)
	}
	if err := bw.Flush(); err != nil {
		return nil, classify(err)
	}
	br := bufio.NewReaderSize(tun.Conn, 16<<10)
	if err := ctx.Response.ReadLimitBody(br, maxResponseBody); err != nil {
		return nil, classify(err)
	}
	return br, nil
}

func classify(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return upstream.ErrTimeout
	}
	return upstream.ErrBadResponse
}

// dropOnSwitch are the hop-by-hop headers of a 101 that do not belong to the
// client's hop. Connection and Upgrade do: they are the switch itself.
var dropOnSwitch = [...]string{"Keep-Alive", "TE", "Trailer", "Transfer-Encoding", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization"}

// switched prepares the target's 101 for the client.
func switched(h *fasthttp.ResponseHeader) {
	var buf [256]byte
	names := append(buf[:0], h.Peek("Connection")...)
	for len(names) > 0 {
		var tok []byte
		tok, names = httpbytes.NextItem(names)
		if len(tok) > 0 && !httpbytes.EqualFold(tok, "upgrade") && !httpbytes.EqualFold(tok, "close") && !httpbytes.EqualFold(tok, "keep-alive") {
			h.Del(string(tok))
		}
	}
	for _, name := range dropOnSwitch {
		h.Del(name)
	}
	h.Set("Connection", "Upgrade")
	if len(h.Peek("Upgrade")) == 0 {
		h.Set("Upgrade", "websocket")
	}
	h.ResetConnectionClose()
	h.SetProtocol(http11)
}

var http11 = []byte("HTTP/1.1")
