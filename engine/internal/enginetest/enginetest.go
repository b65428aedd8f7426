// Package enginetest is the test harness the engine's packages share: a
// fake upstream that is a real HTTP server on 127.0.0.1, and a builder of
// the Exchange a stage handles.
//
// The upstream owns the mechanics every test needs (loopback listener,
// counters, forced status and delay, a health endpoint, a gate that holds
// requests, and kill/revive with every connection cut at once). What it
// answers is the test's own handler, because that is what differs.
package enginetest

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

// HealthPath is the path the upstream answers as a health check: 200, or
// 500 while Sick is set. Health checks are counted in Probes, not Hits.
const HealthPath = "/health"

// Upstream is a real fasthttp server on 127.0.0.1. Tests steer it through
// its atomic fields while requests are in flight.
type Upstream struct {
	Hits   atomic.Int64 // requests given to the handler
	Probes atomic.Int64 // requests to HealthPath
	Status atomic.Int64 // forced answer status; 0 keeps the handler's
	Delay  atomic.Int64 // nanoseconds to wait before answering
	Sick   atomic.Bool  // HealthPath answers 500

	// HealthDelay is nanoseconds HealthPath waits before answering.
	HealthDelay atomic.Int64

	t       testing.TB
	handler fasthttp.RequestHandler
	dead    atomic.Bool // killed: connections not closed yet drop requests
	gate    atomic.Pointer[chan struct{}]

	mu    sync.Mutex
	addr  string
	ln    net.Listener
	srv   *fasthttp.Server
	conns map[net.Conn]struct{}
}

// StartUpstream starts an upstream answering with h (nil: an empty 200)
// and stops it when the test ends.
func StartUpstream(t testing.TB, h fasthttp.RequestHandler) *Upstream {
	t.Helper()
	if h == nil {
		h = func(*fasthttp.RequestCtx) {}
	}
	u := &Upstream{t: t, handler: h}
	u.listen("127.0.0.1:0")
	t.Cleanup(u.Kill)
	return u
}

// Addr is the upstream's host:port; it stays the same across Kill and Revive.
func (u *Upstream) Addr() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.addr
}

// SetDelay makes every answer wait d (0: none).
func (u *Upstream) SetDelay(d time.Duration) { u.Delay.Store(int64(d)) }

// Hold makes requests wait, after they are counted, until the returned
// release is called (once).
func (u *Upstream) Hold() (release func()) {
	g := make(chan struct{})
	u.gate.Store(&g)
	var once sync.Once
	return func() {
		once.Do(func() {
			u.gate.Store(nil)
			close(g)
		})
	}
}

// Kill closes the listener and every open connection at once, like a
// crashed process.
func (u *Upstream) Kill() {
	u.dead.Store(true)
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ln == nil {
		return
	}
	u.ln.Close()
	for c := range u.conns {
		c.Close()
	}
	u.ln = nil
}

// Revive listens again on the same address.
func (u *Upstream) Revive() { u.listen(u.Addr()) }

func (u *Upstream) listen(addr string) {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly after a kill
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		u.t.Fatalf("listen %s: %v", addr, err)
	}
	tl := &trackingListener{Listener: ln, u: u}
	srv := &fasthttp.Server{
		Handler:                       u.handle,
		DisableHeaderNamesNormalizing: true,
		ReadBufferSize:                64 << 10,
		Logger:                        quiet{},
	}
	u.mu.Lock()
	u.addr = ln.Addr().String()
	u.conns = map[net.Conn]struct{}{}
	u.ln, u.srv = tl, srv
	u.dead.Store(false)
	u.mu.Unlock()
	go srv.Serve(tl) //nolint:errcheck // ends at Kill
}

func (u *Upstream) handle(ctx *fasthttp.RequestCtx) {
	if u.dead.Load() {
		ctx.Conn().Close()
		return
	}
	if string(ctx.Path()) == HealthPath {
		u.Probes.Add(1)
		if d := u.HealthDelay.Load(); d > 0 {
			time.Sleep(time.Duration(d))
		}
		if u.Sick.Load() {
			ctx.SetStatusCode(fasthttp.StatusInternalServerError)
		}
		return
	}
	u.Hits.Add(1)
	if g := u.gate.Load(); g != nil {
		<-*g
	}
	if d := u.Delay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	u.handler(ctx)
	if s := u.Status.Load(); s != 0 {
		ctx.SetStatusCode(int(s))
	}
}

// trackingListener records the connections it accepts, so Kill can cut them.
type trackingListener struct {
	net.Listener
	u *Upstream
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.u.mu.Lock()
	defer l.u.mu.Unlock()
	if l.u.ln != l { // killed while accepting
		c.Close()
		return c, nil
	}
	l.u.conns[c] = struct{}{}
	return &trackedConn{Conn: c, u: l.u}, nil
}

type trackedConn struct {
	net.Conn
	u *Upstream
}

func (c *trackedConn) Close() error {
	c.u.mu.Lock()
	delete(c.u.conns, c.Conn)
	c.u.mu.Unlock()
	return c.Conn.Close()
}

// quiet drops fasthttp's log lines about the connections tests cut.
type quiet struct{}

func (quiet) Printf(string, ...any) {}

// Exchange builds the Exchange of a request that has not reached a stage
// yet: method and request URI, headers given as "Name: value" (names kept as
// written), Path set from the URI and Start now.
func Exchange(method, uri string, headers ...string) *pipeline.Exchange {
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.Header.DisableNormalizing()
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(uri)
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		ctx.Request.Header.Add(k, v)
	}
	x := &pipeline.Exchange{Ctx: ctx, Start: time.Now()}
	x.Path = append(x.Path, ctx.Path()...)
	return x
}
