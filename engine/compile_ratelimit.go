package engine

import (
	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/ratelimit"
)

// compileRateLimits hands cfg's rate_limits and cluster blocks to the
// rate-limit stage, with their series in set. The returned Set is usable
// even when there are errors (Close releases it).
func compileRateLimits(cfg *config.Config, set *metrics.Set) (*ratelimit.Set, config.Errors) {
	var errs config.Errors
	if cfg.Cluster.Instances < 0 {
		errs.Add("cluster.instances", "must be at least 1")
	}
	var store *ratelimit.Store
	if r := cfg.Cluster.Redis; r != nil {
		s, err := ratelimit.NewStore(ratelimit.RedisOptions{
			Addr:         r.Addr,
			Addrs:        r.Addrs,
			MasterName:   r.MasterName,
			SyncInterval: r.SyncInterval.D(),
			KeyPrefix:    r.KeyPrefix,
			Password:     r.Password,
			PasswordEnv:  r.PasswordEnv,
		})
		errs.Merge("cluster.redis", err)
		store = s
	}
	o := ratelimit.Options{Instances: cfg.Cluster.Instances, Policies: make([]ratelimit.PolicyOptions, 0, len(cfg.Order.RateLimits))}
	for _, name := range cfg.Order.RateLimits {
		rl := cfg.RateLimits[name]
		if rl == nil {
			errs.Add(config.Join("rate_limits", name), "must be an object")
			o.Policies = append(o.Policies, ratelimit.PolicyOptions{Name: name, Invalid: true})
			continue
		}
		o.Policies = append(o.Policies, ratelimit.PolicyOptions{
			Name:     name,
			Key:      rl.Key,
			Requests: rl.Requests,
			Per:      rl.Per.D(),
			Burst:    rl.Burst,
			Scope:    rl.Scope,
		})
	}
	if len(errs) == 0 {
		o.Store = store // a broken cluster block syncs nothing
	}
	limits, err := ratelimit.New(o, set)
	errs.Merge("rate_limits", err)
	return limits, errs
}

// routeRateLimits compiles the rate_limits list of route rc at path.
func (e *Engine) routeRateLimits(rc *config.Route, path string) (*ratelimit.Route, config.Errors) {
	var errs config.Errors
	id := rc.Name
	if id == "" {
		id = path // the route's own bucket for key "route" policies
	}
	l, err := e.limits.Route(rc.RateLimits, id)
	errs.Merge(config.Join(path, "rate_limits"), err)
	return l, errs
}
