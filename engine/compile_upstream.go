package engine

import (
	"github.com/VictoriaMetrics/metrics"

	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/upstream"
)

// compileServices builds every service of cfg, in file order, with their
// series in set. A service that fails is left out of the map (its problems
// are in the returned list, under "services.<name>").
func compileServices(cfg *config.Config, set *metrics.Set) (map[string]*upstream.Service, config.Errors) {
	var errs config.Errors
	out := make(map[string]*upstream.Service, len(cfg.Services))
	for _, name := range cfg.Order.Services {
		path := config.Join("services", name)
		c := cfg.Services[name]
		if c == nil {
			errs.Add(path, "expected an object")
			continue
		}
		svc, err := upstream.New(name, serviceOptions(c, path), set)
		errs.Merge(path, err)
		if svc != nil {
			out[name] = svc
		}
	}
	return out, errs
}

// serviceOptions translates one service; path is its JSON path.
func serviceOptions(c *config.Service, path string) upstream.ServiceOptions {
	o := upstream.ServiceOptions{
		Protocol:          c.Protocol,
		Balancer:          c.Balancer,
		Timeout:           c.Timeout.D(),
		TryTimeout:        c.TryTimeout.D(),
		ConnectTimeout:    c.ConnectTimeout.D(),
		MaxConnsPerTarget: c.MaxConnsPerTarget,
		Pipelining:        c.Pipelining,
		Retries:           c.Retries,
		TLS:               serviceTLSOptions(c.TLS, config.Join(path, "tls")),
		LogPath:           path,
	}
	for _, t := range c.Targets {
		o.Targets = append(o.Targets, upstream.TargetOptions{Addr: t.Addr, Weight: t.Weight})
	}
	if h := c.HealthCheck; h != nil {
		o.HealthCheck = &upstream.HealthCheckOptions{
			Path: h.Path, Interval: h.Interval.D(), Timeout: h.Timeout.D(),
			HealthyAfter: h.HealthyAfter, UnhealthyAfter: h.UnhealthyAfter,
		}
	}
	if b := c.CircuitBreaker; b != nil {
		o.CircuitBreaker = &upstream.BreakerOptions{
			Window: b.Window.D(), MinRequests: b.MinRequests,
			FailureRatio: b.FailureRatio, OpenFor: b.OpenFor.D(),
		}
		if f := b.Fallback; f != nil {
			o.CircuitBreaker.Fallback = &upstream.Fallback{Status: f.Status, Body: []byte(f.Body)}
		}
	}
	return o
}
