package engine

import (
	"github.com/sluice-gw/sluice/engine/aggregate"
	"github.com/sluice-gw/sluice/engine/config"
)

// compileAggregate hands a route's aggregate object (at path) to the
// aggregate stage; params are the route path's parameter names.
func (e *Engine) compileAggregate(a *config.Aggregate, params []string, path string) (*aggregate.Plan, config.Errors) {
	var errs config.Errors
	if a == nil {
		errs.Add(path, "expected an object")
		return nil, errs
	}
	o := aggregate.Options{Timeout: a.Timeout.D(), Backends: make([]aggregate.BackendOptions, len(a.Backends))}
	for i := range a.Backends {
		b := &a.Backends[i]
		o.Backends[i] = aggregate.BackendOptions{
			Service:  b.Service,
			Path:     b.Path,
			Key:      b.Key,
			Optional: b.Optional,
			Timeout:  b.Timeout.D(),
			Allow:    b.Allow,
		}
	}
	plan, err := aggregate.New(o, e.services, params)
	errs.Merge(path, err)
	return plan, errs
}
