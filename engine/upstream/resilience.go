package upstream

import (
	"time"

	"log/slog"
	"sync/atomic"

	"github.com/sluice-gw/sluice/engine/fielderr"
)

// serviceResilience is a service's retry budget and the settings its
// targets' health checks and circuits share.
type serviceResilience struct {
	budget  retryBudget
	health  *healthSettings  // nil: no active checks
	breaker *breakerSettings // nil: no circuit breaker
	started atomic.Bool      // Start launched the checkers
	settled atomic.Int32     // targets whose first check has finished
}

// targetResilience is a target's health, ejection and circuit state.
type targetResilience struct {
	health  health
	eject   ejector
	breaker breaker
}

// HealthCheckOptions configure active health checks. Zero values mean the
// defaults (DefaultHealth*); negative ones are refused.
type HealthCheckOptions struct {
	// Path is the probed path; it must start with "/".
	Path string
	// Interval is the time between probes of one target.
	Interval time.Duration
	// Timeout bounds one probe; a longer one is capped at Interval.
	Timeout time.Duration
	// HealthyAfter and UnhealthyAfter are the consecutive passes (failures)
	// that bring a target back (take it out).
	HealthyAfter, UnhealthyAfter int
}

// BreakerOptions configure the per-target circuit breaker. Zero durations
// mean the defaults (DefaultBreaker*); negative ones are refused.
type BreakerOptions struct {
	// Window is the span the failure ratio is measured over.
	Window time.Duration
	// MinRequests is how many requests a window needs before the circuit
	// may open; nil is DefaultBreakerMinRequests, an explicit 0 is kept.
	MinRequests *int
	// FailureRatio is the share of failures that opens the circuit, in
	// (0,1]; nil is DefaultBreakerFailureRatio.
	FailureRatio *float64
	// OpenFor is how long an opened circuit stays open.
	OpenFor time.Duration
	// Fallback, when set, answers while every target's circuit is open: a
	// Status of 0 is 503 and Body is a JSON value sent verbatim (empty or
	// "null": the gateway's own error body).
	Fallback *Fallback
}

// compileResilience reads the health check and circuit breaker options and
// sets the service's fallback.
func compileResilience(s *Service, o *ServiceOptions, errs *fielderr.List) *serviceResilience {
	r := &serviceResilience{}
	r.budget.init()
	if o.HealthCheck != nil {
		r.health = compileHealth(o.HealthCheck, "health_check", fielderr.Join(o.LogPath, "health_check"), errs)
	}
	if o.CircuitBreaker != nil {
		r.breaker, s.Fallback = compileBreaker(o.CircuitBreaker, "circuit_breaker", errs)
	}
	return r
}

// compileHealth compiles c; path is its path relative to the service's
// options and logPath its full path, for warnings.
func compileHealth(c *HealthCheckOptions, path, logPath string, errs *fielderr.List) *healthSettings {
	h := &healthSettings{
		path: c.Path, interval: c.Interval, timeout: c.Timeout,
		healthyAfter: c.HealthyAfter, unhealthyAfter: c.UnhealthyAfter,
	}
	if h.path == "" {
		h.path = DefaultHealthPath
	} else if h.path[0] != '/' {
		errs.Add(fielderr.Join(path, "path"), "must start with \"/\"")
	}
	orDefault(&h.interval, DefaultHealthInterval, errs, fielderr.Join(path, "interval"), "must be positive")
	orDefault(&h.timeout, min(DefaultHealthTimeout, h.interval), errs, fielderr.Join(path, "timeout"), "must be positive")
	if h.timeout > h.interval {
		// A probe may not outlive its interval; cap it rather than refuse a
		// config that only sped up the interval.
		slog.Warn("health check timeout capped at the interval", "path", fielderr.Join(logPath, "timeout"), "interval", h.interval.String())
		h.timeout = h.interval
	}
	orDefault(&h.healthyAfter, DefaultHealthHealthyAfter, errs, fielderr.Join(path, "healthy_after"), "must be at least 1")
	orDefault(&h.unhealthyAfter, DefaultHealthUnhealthyAfter, errs, fielderr.Join(path, "unhealthy_after"), "must be at least 1")
	return h
}

// orDefault reports a negative setting at path with msg, and replaces a
// zero (unset) or negative one with def.
func orDefault[T int | int64 | time.Duration](v *T, def T, errs *fielderr.List, path, msg string) {
	if *v < 0 {
		errs.Add(path, "%s", msg)
	}
	if *v <= 0 {
		*v = def
	}
}

func compileBreaker(c *BreakerOptions, path string, errs *fielderr.List) (*breakerSettings, *Fallback) {
	b := &breakerSettings{
		window: c.Window, minRequests: DefaultBreakerMinRequests,
		ratio: DefaultBreakerFailureRatio, openFor: int64(c.OpenFor),
	}
	orDefault(&b.window, DefaultBreakerWindow, errs, fielderr.Join(path, "window"), "must be positive")
	// An explicit 0 is honoured: the circuit may open from the first failure.
	if c.MinRequests != nil {
		if *c.MinRequests < 0 {
			errs.Add(fielderr.Join(path, "min_requests"), "must not be negative")
		}
		b.minRequests = int64(max(*c.MinRequests, 0))
	}
	if r := c.FailureRatio; r != nil {
		// 0 would open the circuit on a window without any failure.
		if !(*r > 0 && *r <= 1) {
			errs.Add(fielderr.Join(path, "failure_ratio"), "must be within (0,1] (a share of failed requests), got %v", *r)
		} else {
			b.ratio = *r
		}
	}
	orDefault(&b.openFor, int64(DefaultBreakerOpenFor), errs, fielderr.Join(path, "open_for"), "must be positive")
	var fb *Fallback
	if f := c.Fallback; f != nil {
		fb = &Fallback{Status: f.Status, Body: f.Body}
		if fb.Status == 0 {
			fb.Status = 503
		} else if fb.Status < 200 || fb.Status > 599 {
			errs.Add(fielderr.Join(fielderr.Join(path, "fallback"), "status"), "must be between 200 and 599")
		}
		if len(fb.Body) == 0 || string(fb.Body) == "null" {
			fb.Body = nil // the gateway's own JSON error body, with the fallback's status
		}
	}
	return b, fb
}

func initTargetResilience(t *Target) {
	t.state.breaker.init(t.service.res.breaker)
}

// available reports, without side effects, whether t may take a request at
// now. In panic mode (ignoreEjection: every target is ejected) ejection is
// ignored; health checks and circuits never are.
func (t *Target) available(now int64, ignoreEjection bool) bool {
	r := &t.state
	return !r.health.down.Load() &&
		(ignoreEjection || !r.eject.ejected(now)) &&
		r.breaker.allows(now)
}

// admit commits a request to t, taking a half-open trial slot if needed. It
// fails when another request took the last slot since available said yes.
func (t *Target) admit(now int64) (trial, ok bool) { return t.state.breaker.admit(now) }

// onResult records the outcome of one request to t (err is an Err* class).
// ErrBusy is the gateway's own pool being full, not a fault of the target: it
// counts as neither success nor failure (but frees a half-open trial slot as
// a success, so the circuit cannot stall half-open).
//
// start is when the request began: a success is counted in its bucket (the
// clock is costly on some hosts), while a failure reads the clock, as an
// ejection or an opened circuit must start now, not when a slow request did.
func (t *Target) onResult(start int64, trial bool, err error, status int) {
	if err == ErrBusy {
		if trial {
			t.state.breaker.record(start, true, false)
		}
		return
	}
	failed := err != nil || status >= 500
	now := start
	if failed {
		now = nanotime()
	}
	t.state.eject.record(now, failed)
	t.state.breaker.record(now, trial, failed)
}

// allowRetry takes one retry from the service's budget.
func (r *serviceResilience) allowRetry(now int64) bool { return r.budget.allow(now) }

// onRequest counts a first attempt for the retry budget.
func (r *serviceResilience) onRequest(now int64) { r.budget.request(now) }

// noTargetError says why no target could be picked: ErrCircuitOpen when every
// target the health checks allow has its circuit open, else ErrNoTarget.
func (s *Service) noTargetError(now int64) error {
	if s.res.breaker == nil {
		return ErrNoTarget
	}
	healthy := 0
	for _, t := range s.targets {
		if t.state.health.down.Load() {
			continue
		}
		healthy++
		if t.state.breaker.allows(now) {
			return ErrNoTarget
		}
	}
	if healthy == 0 {
		return ErrNoTarget
	}
	return ErrCircuitOpen
}

// Start runs the services' background work (active health checks, one
// goroutine per target) until stop closes. Starting a service twice is a no-op.
func Start(services map[string]*Service, stop <-chan struct{}) {
	for _, s := range services {
		hs := s.res.health
		if hs == nil || !s.res.started.CompareAndSwap(false, true) {
			continue
		}
		for _, t := range s.targets {
			probe := s.probe
			if probe == nil {
				probe = httpProbe(t, hs)
			}
			go runHealthChecks(t, hs, probe, stop)
		}
	}
}

// Ready reports whether every service's first health-check round has settled
// (services without active checks are ready at once).
func Ready(services map[string]*Service) bool {
	for _, s := range services {
		if s.res.health != nil && int(s.res.settled.Load()) < len(s.targets) {
			return false
		}
	}
	return true
}
