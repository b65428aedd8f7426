// Package ratelimit is the rate-limit stage: it compiles the config's
// rate_limits policies and admits or rejects requests on the routes that list them.
package ratelimit

import (
	"context"

	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/pipeline"
)

// Set is every compiled rate-limit policy of a config.
type Set struct{}

// Compile compiles cfg.RateLimits and cfg.Cluster.
func Compile(cfg *config.Config) (*Set, config.Errors) {
	var errs config.Errors
	for _, name := range cfg.Order.RateLimits {
		errs.Add(config.Join("rate_limits", name), "not supported yet")
	}
	if cfg.Cluster.Redis != nil {
		errs.Add("cluster.redis", "not supported yet")
	}
	return &Set{}, errs
}

// Start runs background work (Redis sync, idle sweeps) until ctx ends.
func (s *Set) Start(ctx context.Context) {}

// Route compiles the limits of one route. path is the route's JSON path.
func (s *Set) Route(names []string, routeName, path string) (*Route, config.Errors) {
	var errs config.Errors
	errs.Add(config.Join(path, "rate_limits"), "not supported yet")
	return nil, errs
}

// Route is the compiled rate-limit stage of a route.
type Route struct{}

// Allow takes a token from every policy of the route. It queues the RateLimit-*
// headers on x and, when a policy rejects, fails x with 429 and Retry-After.
func (r *Route) Allow(x *pipeline.Exchange) bool { return true }
