// Package engine compiles a sluice configuration into an immutable request
// engine — a router whose routes carry their compiled pipeline (validate →
// auth → rate limit → cache → upstream → response transform) — and serves
// client and admin traffic with it.
package engine

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/auth"
	"github.com/sluice-gw/sluice/engine/cache"
	"github.com/sluice-gw/sluice/engine/forward"
	"github.com/sluice-gw/sluice/engine/grpcgw"
	"github.com/sluice-gw/sluice/engine/ratelimit"
	"github.com/sluice-gw/sluice/engine/tracing"
	"github.com/sluice-gw/sluice/engine/upstream"
	"github.com/sluice-gw/sluice/engine/wsproxy"
	"github.com/sluice-gw/sluice/router"
)

// Server defaults for keys the config leaves out.
const (
	DefaultListen          = "127.0.0.1:8080"
	DefaultReadTimeout     = 10 * time.Second
	DefaultWriteTimeout    = 10 * time.Second
	DefaultIdleTimeout     = 60 * time.Second
	DefaultMaxHeaderBytes  = 8192
	DefaultMaxBodyBytes    = 1 << 20
	DefaultShutdownTimeout = 15 * time.Second
	DefaultCacheMaxBytes   = 64 << 20
)

// Engine is a compiled, immutable configuration ready to serve requests.
type Engine struct {
	server   serverSettings
	router   *router.Router
	routes   []*route
	services map[string]*upstream.Service
	auth     *auth.Set
	limits   *ratelimit.Set
	cache    *cache.Store
	grpc     *grpcgw.Set
	passes   map[string]*grpcPass // gRPC pass-through per service (grpcpass.go)
	proxies  *forward.Proxies
	tls      *tls.Config
	log      *accessLog
	tracer   *tracing.Tracer

	// configSHA256 is the hex SHA-256 of the config file (ConfigSHA256).
	configSHA256 string
	// routesDoc is the body of GET /routes (compile_describe.go).
	routesDoc []byte

	unmatched  *statusCounters
	unmatchedD *metrics.PrometheusHistogram
	// metrics holds every series of this engine; /metrics writes it (it is
	// not registered globally, so that two engines in one process, or a
	// `sluice check`, never share or leave behind a series).
	metrics     *metrics.Set
	proxyErrors *proxyErrors

	pool     sync.Pool
	draining atomic.Bool
	closing  atomic.Bool
	stop     context.CancelFunc
}

type serverSettings struct {
	listen, adminListen          string
	readTimeout, writeTimeout    time.Duration
	idleTimeout                  time.Duration
	maxHeaderBytes, maxBodyBytes int
	drainDelay, shutdownTimeout  time.Duration
	cacheMaxBytes                int64
	accessLog                    string
	listener                     listenerSettings
	// http2 is server.http2 (default true); the client listener offers h2
	// only under TLS as well (http2Enabled).
	http2 bool
	// adminPprof is server.admin_pprof: /debug/pprof/ on the admin listener.
	adminPprof bool
}

// Start launches background work: health checks, JWKS refresh, quota sync and
// the access log writer.
func (e *Engine) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	e.stop = cancel
	log, err := newAccessLog(e.server.accessLog, e.metrics)
	if err != nil {
		cancel()
		return fmt.Errorf("access log: %w", err)
	}
	e.log = log
	upstream.Start(e.services, ctx.Done())
	e.auth.Start(ctx)
	e.limits.Start(ctx)
	return nil
}

// Close stops background work and flushes the access log.
func (e *Engine) Close() {
	if e.stop != nil {
		e.stop()
	}
	// Hijacked WebSocket tunnels are outside the server's drain.
	for _, svc := range e.services {
		wsproxy.CloseTunnels(svc)
	}
	if e.log != nil {
		e.log.Close()
	}
	e.closeStores()
}

func (e *Engine) closeStores() {
	if e.cache != nil {
		e.cache.Close()
	}
	if e.auth != nil {
		e.auth.Close()
	}
	if e.limits != nil {
		e.limits.Close()
	}
	if e.grpc != nil {
		e.grpc.Close()
	}
	for _, p := range e.passes {
		p.close()
	}
	e.tracer.Close()
}

// Ready reports whether the engine should receive traffic: not draining and
// every service's first health-check round settled.
func (e *Engine) Ready() bool {
	return !e.draining.Load() && upstream.Ready(e.services)
}

// SetDraining marks the engine as draining: /readyz answers 503.
func (e *Engine) SetDraining() { e.draining.Store(true) }

// ConfigSHA256 returns the hex SHA-256 of the config file.
func (e *Engine) ConfigSHA256() string { return e.configSHA256 }
