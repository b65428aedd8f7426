// Package upstream holds the compiled services of a config: their targets,
// pooled fasthttp clients, balancers, retries and the per-target resilience
// state (health, passive ejection, circuit breaker).
//
// A target takes requests while its active health checks pass (health.go),
// it is not passively ejected (eject.go: 5 consecutive connect errors,
// timeouts, bad answers or 5xx eject it for 1s, doubling on repeats within
// 30s, capped at 30s; it returns on its own when the back-off ends) and its
// circuit lets requests through (breaker.go). When ejection alone keeps every
// target out, requests go to the ejected ones anyway (panic mode): stale
// ejections must not fail a whole service. Retries draw on a per-service
// budget (budget.go). All request-path state is atomics on compiled structs.
//
// New builds one service from typed ServiceOptions; the engine's compile
// step translates each service of the config into them.
package upstream

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/fielderr"
	"github.com/sluice-gw/sluice/engine/tlsconf"
	"github.com/valyala/fasthttp"
)

// Defaults for service settings the config leaves out.
const (
	DefaultTimeout           = 30 * time.Second
	DefaultConnectTimeout    = 2 * time.Second
	DefaultMaxConnsPerTarget = 512
	DefaultRetries           = 1
)

// Service is one compiled upstream service.
type Service struct {
	// Name is the service's key in the config.
	Name string
	// Timeout bounds one upstream request, retries included.
	Timeout time.Duration
	// TryTimeout bounds one try (0: the whole Timeout); a try that times out
	// with time left is retried like a connect error.
	TryTimeout time.Duration
	// Retries is how many other targets a failed idempotent request may try.
	Retries int
	// Fallback, when set, answers requests while every target's circuit is open.
	Fallback *Fallback
	// ConnectTimeout bounds connecting to a target.
	ConnectTimeout time.Duration
	// TLS is the compiled tls block of an https or grpc service (nil:
	// plain). It is shared: clone it before changing it. The grpc packages
	// build their own connections from it; the settings above are compiled
	// here once for every protocol.
	TLS *tls.Config

	targets   []*Target
	balancer  balancer
	truncated *metrics.Counter
	// metrics is the engine's set that holds the service's series.
	metrics *metrics.Set
	probe   Probe
	res     *serviceResilience
}

// Fallback is the verbatim answer of a service whose circuits are all open.
type Fallback struct {
	Status int
	Body   []byte
}

// Metrics returns the engine's metric set the service's series live in,
// for the stages that count calls to it.
func (s *Service) Metrics() *metrics.Set { return s.metrics }

// Targets returns the service's targets.
func (s *Service) Targets() []*Target { return s.targets }

// ServiceOptions are one service's settings. Zero durations and counts
// mean the package defaults (Default*), as noted per field.
type ServiceOptions struct {
	// Protocol is "http" (also ""), "https" or "grpc".
	Protocol string
	// Targets are the service's addresses; at least one is required.
	Targets []TargetOptions
	// Balancer is "round_robin" (also ""), "least_conn", "weighted" or "p2c".
	Balancer string
	// Timeout bounds one upstream request, retries included (0: DefaultTimeout).
	Timeout time.Duration
	// TryTimeout bounds one try (0: the whole Timeout); it may not exceed Timeout.
	TryTimeout time.Duration
	// ConnectTimeout bounds connecting to a target (0: DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// MaxConnsPerTarget bounds each target's pool (0: DefaultMaxConnsPerTarget).
	MaxConnsPerTarget int
	// Pipelining is how many of those connections pipeline requests (0: none).
	Pipelining int
	// Retries is how many other targets a failed idempotent request may try;
	// nil is DefaultRetries, while an explicit 0 turns retries off.
	Retries *int
	// HealthCheck, when set, turns on active health checks.
	HealthCheck *HealthCheckOptions
	// CircuitBreaker, when set, turns on the per-target circuit breaker.
	CircuitBreaker *BreakerOptions
	// TLS is the service's tls object (nil: none), for https and grpc only.
	TLS *tlsconf.UpstreamOptions
	// LogPath is where these options sit in the config ("services.users");
	// it only names them in log warnings (errors carry relative paths).
	LogPath string
}

// TargetOptions are one target: "host:port" and its weight (0: 1).
type TargetOptions struct {
	Addr   string
	Weight int
}

// New builds the service name (its key in the config, used in metric
// labels) from o, with its series in set (the engine's). Its problems are a
// fielderr.List with paths relative to o ("targets[1]",
// "health_check.interval").
func New(name string, o ServiceOptions, set *metrics.Set) (*Service, error) {
	var errs fielderr.List
	s := &Service{Name: name, Timeout: o.Timeout, Retries: DefaultRetries, metrics: set}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if tt := o.TryTimeout; tt > 0 {
		if tt > s.Timeout {
			errs.Add("try_timeout", "must not be longer than timeout (%v)", s.Timeout)
		} else if tt < s.Timeout {
			s.TryTimeout = tt
		}
	}
	if o.Retries != nil {
		if *o.Retries < 0 {
			errs.Add("retries", "must not be negative")
		}
		s.Retries = *o.Retries
	}
	connect := o.ConnectTimeout
	if connect == 0 {
		connect = DefaultConnectTimeout
	}
	s.ConnectTimeout = connect
	maxConns := o.MaxConnsPerTarget
	if maxConns < 0 {
		errs.Add("max_conns_per_target", "must not be negative")
	}
	if maxConns <= 0 {
		maxConns = DefaultMaxConnsPerTarget
	}

	pipeConns := o.Pipelining
	switch {
	case pipeConns < 0:
		errs.Add("pipelining", "must not be negative")
	case pipeConns > maxConns:
		errs.Add("pipelining", "must not exceed max_conns_per_target (%d)", maxConns)
	case pipeConns > 0 && o.Protocol == "grpc":
		errs.Add("pipelining", "only for protocol \"http\" or \"https\"")
	}

	s.res = compileResilience(s, &o, &errs)

	var tlsCfg *tls.Config
	switch o.Protocol {
	case "", "http":
		// An empty block (all fields "") is tolerated: it sets nothing.
		if t := o.TLS; t != nil && !t.IsZero() {
			errs.Add("tls", "only for protocol \"https\" or \"grpc\"")
		}
	case "https":
		var err error
		tlsCfg, err = tlsconf.Upstream(tlsOptions(o.TLS))
		errs.Merge("tls", err)
		s.TLS = tlsCfg
	case "grpc":
		// The grpc packages dial grpc targets themselves (HTTP/2) with these
		// settings; the HTTP clients of the targets compiled here stay plain.
		if o.TLS != nil {
			var err error
			s.TLS, err = tlsconf.Upstream(*o.TLS)
			errs.Merge("tls", err)
		}
	default:
		errs.Add("protocol", "unknown protocol %q (want http, https or grpc)", o.Protocol)
	}

	if len(o.Targets) == 0 {
		errs.Add("targets", "at least one target is required")
	}
	for i, t := range o.Targets {
		tp := fielderr.Index("targets", i)
		host, port, err := net.SplitHostPort(t.Addr)
		if err != nil || host == "" || port == "" {
			errs.Add(tp, "invalid address %q (want host:port)", t.Addr)
			continue
		}
		w := t.Weight
		if w < 0 {
			errs.Add(fielderr.Join(tp, "weight"), "must not be negative")
			continue
		}
		if w == 0 {
			w = 1
		}
		s.targets = append(s.targets, newTarget(s, t.Addr, host, w, maxConns, max(pipeConns, 0), connect, tlsCfg))
	}

	bal, err := newBalancer(o.Balancer, s.targets)
	if err != nil {
		errs.Add("balancer", "%v", err)
	}
	s.balancer = bal
	if len(errs) > 0 {
		return nil, errs
	}
	for _, t := range s.targets {
		bindTargetMetrics(t)
	}
	s.truncated = truncatedCounter(set, name)
	return s, nil
}

// tlsOptions returns *o, or the defaults (system pool, no client
// certificate) for an https service without a tls object.
func tlsOptions(o *tlsconf.UpstreamOptions) tlsconf.UpstreamOptions {
	if o == nil {
		return tlsconf.UpstreamOptions{}
	}
	return *o
}

// Failure classes of an upstream call, mapped to the contract's statuses.
var (
	// ErrNoTarget: no healthy target (503), answered without dialing.
	ErrNoTarget = errors.New("no healthy target")
	// ErrCircuitOpen: every target's circuit is open (503 or the fallback).
	ErrCircuitOpen = errors.New("circuit open")
	// ErrTimeout: the upstream did not answer in time (504).
	ErrTimeout = errors.New("upstream timeout")
	// ErrConnect: the upstream could not be reached (502).
	ErrConnect = errors.New("upstream connection failed")
	// ErrBadResponse: the upstream reset the connection or answered garbage (502).
	ErrBadResponse = errors.New("upstream answered badly")
	// ErrBusy: every connection to the target is busy (503).
	ErrBusy = errors.New("upstream connections exhausted")
)

// maxExclude bounds the targets Do remembers as tried; beyond it a retry may
// land on a target it already tried.
const maxExclude = 8

// Do sends req to one of the service's targets and fills resp. It retries
// idempotent requests on connect errors, 503 answers and tries that
// exceeded try_timeout, each time on a
// different target and only while the service's retry budget lasts. It
// returns the target that answered (or failed last) and one of the Err*
// classes on failure: ErrNoTarget or ErrCircuitOpen when no target could be
// tried at all.
func (s *Service) Do(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, idempotent bool) (*Target, error) {
	var buf [maxExclude]*Target
	tried := buf[:0]
	var last *Target
	var lastErr error
	attempts := 1
	if idempotent {
		attempts += s.Retries
	}
	now := nanotime()
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 {
			now = nanotime()
			if !s.res.allowRetry(now) {
				break
			}
		} else {
			s.res.onRequest(now)
		}
		t, trial, err := s.pick(now, tried)
		if err != nil {
			if last == nil {
				return nil, err
			}
			break
		}
		if len(tried) < cap(tried) {
			tried = append(tried, t)
		}
		last = t
		tryDeadline := deadline
		if s.TryTimeout > 0 {
			if d := time.Now().Add(s.TryTimeout); d.Before(deadline) {
				tryDeadline = d
			}
		}
		lastErr = t.do(req, resp, tryDeadline, trial, now)
		if lastErr == nil && resp.StatusCode() != fasthttp.StatusServiceUnavailable {
			return t, nil
		}
		// Retried: connect errors, 503s and a try cut by try_timeout while
		// the request's own deadline has time left.
		if lastErr != nil && lastErr != ErrConnect && (lastErr != ErrTimeout || tryDeadline.Equal(deadline)) {
			return t, lastErr
		}
		if !time.Now().Before(deadline) {
			break
		}
	}
	return last, lastErr
}

// pick chooses a target that is not in tried and admits the request to it.
// When no target is available but for passive ejection, it picks among the
// ejected ones anyway (panic mode, as Envoy does): better a try than failing
// everything on ejections that may be stale.
func (s *Service) pick(now int64, tried []*Target) (*Target, bool, error) {
	exclude := tried
	for range len(s.targets) + 1 {
		t := s.balancer.pick(now, exclude, false)
		if t == nil && s.allEjected(now) {
			t = s.balancer.pick(now, exclude, true)
		}
		if t == nil {
			break
		}
		if trial, ok := t.admit(now); ok {
			return t, trial, nil
		}
		// A half-open circuit's last trial slot went to another request.
		if len(exclude) == cap(exclude) {
			break
		}
		exclude = append(exclude, t)
	}
	return nil, false, s.noTargetError(now)
}

// allEjected reports whether passive ejection alone keeps every target out:
// none would be available if ejection were respected.
func (s *Service) allEjected(now int64) bool {
	for _, t := range s.targets {
		if t.available(now, false) {
			return false
		}
	}
	return true
}

// HostOnly strips the port from an address for TLS server names.
func hostOnly(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return strings.TrimSuffix(addr, ":")
}
