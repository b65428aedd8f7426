package upstream

import (
	"time"

	"github.com/sluice-gw/sluice/engine/config"
)

// serviceResilience is a service's retry budget and health-check settings.
type serviceResilience struct {
	fallback *Fallback
}

// targetResilience is a target's health and circuit state.
type targetResilience struct{}

func compileResilience(s *Service, c *config.Service, path string) (*serviceResilience, config.Errors) {
	var errs config.Errors
	if c.HealthCheck != nil {
		errs.Add(config.Join(path, "health_check"), "not supported yet")
	}
	if c.CircuitBreaker != nil {
		errs.Add(config.Join(path, "circuit_breaker"), "not supported yet")
	}
	return &serviceResilience{}, errs
}

func initTargetResilience(t *Target) {}

// available reports whether t may take a request now.
func (t *Target) available(now time.Time) bool { return true }

// onResult records the outcome of one request to t (err is an Err* class).
func (t *Target) onResult(err error, status int) {}

func (r *serviceResilience) allowRetry() bool                  { return true }
func (r *serviceResilience) onRequest(isRetry bool)            {}
func (r *serviceResilience) noTargetError(now time.Time) error { return ErrNoTarget }

// Start runs the services' background work (active health checks) until stop closes.
func Start(services map[string]*Service, stop <-chan struct{}) {}

// Ready reports whether every service's first health-check round has settled.
func Ready(services map[string]*Service) bool { return true }
