package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// HTTP/2 design: fasthttp has no HTTP/2 server, so the TLS listener offers
// ALPN ["h2", "http/1.1"] and, once a connection's handshake is done, hands
// http/1.1 connections to the fasthttp server as before and h2 connections
// to an x/net/http2 server whose handler bridges every stream into the same
// compiled engine (h2bridge.go). HTTP/1.1 keeps its zero-allocation path;
// HTTP/2 pays for net/http's request objects and one header copy each way.

// h2MaxConcurrentStreams bounds the streams a client may open at once on one
// connection (the x/net default as well).
const h2MaxConcurrentStreams = 250

// h2Server serves the h2 connections of the client listener.
type h2Server struct {
	e       *Engine
	hs      *http.Server
	h2      *http2.Server
	streams sync.Pool // of *h2Stream

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	// shut is set once Shutdown began: late connections are refused.
	shut bool
}

// http2Enabled reports whether the client listener offers h2: with TLS and
// server.http2 not false.
func (e *Engine) http2Enabled() bool {
	return e.tls != nil && e.server.http2
}

// tlsListener wraps the client listener in TLS. With HTTP/2 enabled it
// offers h2 by ALPN and dispatches each connection by the negotiated
// protocol; otherwise it offers only http/1.1.
func (s *Server) tlsListener(ln net.Listener) net.Listener {
	cfg := s.tlsConfig.Clone()
	if !s.engine.http2Enabled() {
		cfg.NextProtos = []string{"http/1.1"}
		return tls.NewListener(ln, cfg)
	}
	cfg.NextProtos = []string{http2.NextProtoTLS, "http/1.1"}
	s.h2 = newH2Server(s.engine)
	d := &alpnListener{
		inner:   tls.NewListener(ln, cfg),
		h2:      s.h2,
		timeout: s.engine.server.readTimeout,
		conns:   make(chan net.Conn),
		stopped: make(chan struct{}),
	}
	go d.run()
	return d
}

func newH2Server(e *Engine) *h2Server {
	st := e.server
	h := &h2Server{e: e, conns: map[net.Conn]struct{}{}}
	h.hs = &http.Server{
		// Per stream: reading the request body and writing the answer
		// (gRPC pass-through moves both to the call's deadline).
		ReadTimeout:  st.readTimeout,
		WriteTimeout: st.writeTimeout,
		IdleTimeout:  st.idleTimeout,
		// The engine enforces max_header_bytes exactly (431 with the JSON
		// body); x/net's own limit (which also counts 32 bytes a field,
		// and answers a plain 431) is only a backstop well above it.
		MaxHeaderBytes: 4*st.maxHeaderBytes + 64<<10,
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	h.h2 = &http2.Server{
		MaxConcurrentStreams: h2MaxConcurrentStreams,
		IdleTimeout:          st.idleTimeout,
	}
	// ConfigureServer makes hs.Shutdown send GOAWAY to every h2 connection.
	// It fails only for a TLSConfig that lacks the h2 ciphers; hs has none.
	_ = http2.ConfigureServer(h.hs, h.h2)
	return h
}

// serve runs one h2 connection until it closes.
func (h *h2Server) serve(c *tls.Conn) {
	h.mu.Lock()
	if h.shut {
		h.mu.Unlock()
		c.Close()
		return
	}
	h.conns[c] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
		h.wg.Done()
	}()
	h.h2.ServeConn(c, &http2.ServeConnOpts{
		BaseConfig: h.hs,
		Handler:    &h2Bridge{e: h.e, conn: c, streams: &h.streams},
	})
}

// drain sends GOAWAY to the h2 connections open when draining starts, as
// HTTP/1.1 answers then carry Connection: close: their clients finish their
// streams and reconnect (to another instance, or to this listener, which
// serves new connections normally until drain_delay ends).
func (h *h2Server) drain() {
	if h == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no listeners to wait for: only start the GOAWAYs
	_ = h.hs.Shutdown(ctx)
}

// shutdown sends GOAWAY to every h2 connection (streams in flight finish,
// new ones go elsewhere) and waits for them to close, or until ctx ends,
// when the rest are closed. It reports whether every connection ended
// on its own.
func (h *h2Server) shutdown(ctx context.Context) bool {
	if h == nil {
		return true
	}
	h.mu.Lock()
	h.shut = true
	h.mu.Unlock()
	_ = h.hs.Shutdown(ctx) // no listeners: it only starts the graceful GOAWAYs
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		h.mu.Lock()
		for c := range h.conns {
			c.Close()
		}
		h.mu.Unlock()
		<-done
		return false
	}
}

// alpnListener is the TLS client listener when HTTP/2 is on. A goroutine per
// accepted connection runs its TLS handshake (bounded by read_timeout, as
// fasthttp bounds it) so that a slow client never holds up the others; h2
// connections are served by the h2 server, http/1.1 ones are returned by
// Accept to the fasthttp server.
type alpnListener struct {
	inner   net.Listener
	h2      *h2Server
	timeout time.Duration
	conns   chan net.Conn
	stopped chan struct{}
	err     error // why the inner listener stopped, read after stopped
}

func (l *alpnListener) run() {
	defer close(l.stopped)
	for {
		c, err := l.inner.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond) // out of file descriptors: back off
				continue
			}
			l.err = err
			return
		}
		go l.dispatch(c)
	}
}

func (l *alpnListener) dispatch(c net.Conn) {
	tc, ok := c.(*tls.Conn)
	if !ok { // the inner listener is always a TLS listener
		c.Close()
		return
	}
	if l.timeout > 0 {
		_ = tc.SetDeadline(time.Now().Add(l.timeout))
	}
	if err := tc.Handshake(); err != nil {
		tc.Close()
		return
	}
	_ = tc.SetDeadline(time.Time{})
	if tc.ConnectionState().NegotiatedProtocol == http2.NextProtoTLS {
		l.h2.serve(tc)
		return
	}
	select {
	case l.conns <- tc:
	case <-l.stopped:
		tc.Close()
	}
}

// Accept returns the next http/1.1 connection (its handshake done).
func (l *alpnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.stopped:
		if l.err != nil && !errors.Is(l.err, net.ErrClosed) {
			return nil, l.err
		}
		return nil, net.ErrClosed
	}
}

// Close stops accepting; connections already handed out stay open.
func (l *alpnListener) Close() error { return l.inner.Close() }

// Addr is the listening address.
func (l *alpnListener) Addr() net.Addr { return l.inner.Addr() }
