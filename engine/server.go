package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

// headerSlack enlarges the read buffer beyond max_header_bytes: fasthttp
// refuses header blocks somewhat smaller than its buffer, so the exact limit
// is enforced by the handler (headerBlockSize).
const headerSlack = 1024

// Server runs an Engine on its client and admin listeners.
type Server struct {
	engine    *Engine
	http      *fasthttp.Server
	admin     *fasthttp.Server
	ln        net.Listener
	adminLn   net.Listener
	tlsConfig *tls.Config
	served    chan error
	h2        *h2Server // serves ALPN h2 connections (h2.go); nil without
}

// NewServer prepares the listeners' settings of e (nothing is bound yet).
func NewServer(e *Engine) (*Server, error) {
	st := e.server
	s := &Server{engine: e, served: make(chan error, 2), tlsConfig: e.tls}
	s.http = &fasthttp.Server{
		Handler:                      e.Handle,
		Logger:                       quietLogger{},
		ErrorHandler:                 e.handleParseError,
		Name:                         "sluice",
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		NoDefaultDate:                false,
		ReadTimeout:                  st.readTimeout,
		WriteTimeout:                 st.writeTimeout,
		IdleTimeout:                  st.idleTimeout,
		ReadBufferSize:               st.maxHeaderBytes + headerSlack,
		MaxRequestBodySize:           st.maxBodyBytes,
		StreamRequestBody:            true,
		LazyRequestTime:              true, // we keep our own start time
		CloseOnShutdown:              true,
		DisablePreParseMultipartForm: true,
		Concurrency:                  256 * 1024,
		ReduceMemoryUsage:            false,
	}
	s.admin = &fasthttp.Server{
		Handler:               e.handleAdmin,
		Name:                  "sluice-admin",
		NoDefaultServerHeader: true,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           60 * time.Second,
	}
	return s, nil
}

// Listen binds the client and admin listeners.
func (s *Server) Listen() error {
	ln, err := s.engine.listenClient()
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.engine.server.listen, err)
	}
	if s.tlsConfig != nil {
		ln = s.tlsListener(ln) // TLS, with ALPN h2 dispatch (h2.go)
	} else {
		ln = wrapClientListener(ln)
	}
	s.ln = ln
	if a := s.engine.server.adminListen; a != "" {
		aln, err := s.engine.listenAdmin()
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen %s (admin): %w", a, err)
		}
		s.adminLn = aln
	}
	return nil
}

// Addr returns the bound client address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// AdminAddr returns the bound admin address (nil without admin_listen).
func (s *Server) AdminAddr() net.Addr {
	if s.adminLn == nil {
		return nil
	}
	return s.adminLn.Addr()
}

// Serve serves both listeners in the background.
func (s *Server) Serve() {
	go func() { s.served <- s.http.Serve(s.ln) }()
	if s.adminLn != nil {
		go func() { _ = s.admin.Serve(s.adminLn) }()
	}
}

// Shutdown drains as the contract says: /readyz turns 503 at once, the
// listener keeps serving for drain_delay, then closes; idle connections are
// closed, busy ones get Connection: close on their last answer, and requests
// in flight get up to shutdown_timeout. It returns false when the timeout cut
// requests off. The admin listener closes last.
func (s *Server) Shutdown() bool {
	e := s.engine
	e.SetDraining()
	s.h2.drain() // GOAWAY, as HTTP/1.1 answers now carry Connection: close
	if d := e.server.drainDelay; d > 0 {
		time.Sleep(d)
	}
	e.closing.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), e.server.shutdownTimeout)
	defer cancel()
	h2clean := make(chan bool, 1)
	go func() { h2clean <- s.h2.shutdown(ctx) }()
	err := s.http.ShutdownWithContext(ctx)
	h2ok := <-h2clean
	clean := (err == nil || !errors.Is(err, context.DeadlineExceeded)) && h2ok
	if err != nil && clean {
		slog.Warn("shutdown", "err", err)
	}
	if s.adminLn != nil {
		actx, acancel := context.WithTimeout(context.Background(), time.Second)
		_ = s.admin.ShutdownWithContext(actx)
		acancel()
	}
	return clean
}

// handleParseError answers requests fasthttp could not parse: 431 for
// oversized headers and 413 for oversized bodies with the JSON error body,
// a plain 400 for anything else.
func (e *Engine) handleParseError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var rej pipeline.Reject
	switch {
	case errors.As(err, &small):
		rej = pipeline.RejectOf(fault.HeadersTooLarge, "")
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		rej = pipeline.RejectOf(fault.PayloadTooLarge, "")
	default:
		var te interface{ Timeout() bool }
		if errors.As(err, &te) && te.Timeout() {
			rej = pipeline.RejectOf(fault.RequestTimeout, "")
		} else {
			rej = pipeline.RejectOf(fault.BadRequest, "malformed HTTP request")
		}
	}
	id := forwardRequestID()
	writeError(ctx, rej, id)
	ctx.Response.Header.SetBytesV("X-Request-Id", id)
	ctx.SetConnectionClose()
	e.unmatched.inc(rej.Status)
}

// quietLogger drops fasthttp's per-connection error lines (client resets,
// malformed requests): they are answered, counted and access-logged already.
type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}
