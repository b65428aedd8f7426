// Package aggregate is the upstream stage of aggregate routes: it calls
// several backends in parallel and answers one JSON object holding each
// backend's answer under its key.
package aggregate

import (
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/sluice-gw/sluice/engine/upstream"
)

// Plan is the compiled aggregate of one route.
type Plan struct{}

// Compile compiles a route's aggregate. services holds every compiled
// service; path is the aggregate's JSON path ("routes[4].aggregate").
// routeParams are the route path's parameter names, for {param} templates.
func Compile(cfg *config.Aggregate, services map[string]*upstream.Service, routeParams []string, path string) (*Plan, config.Errors) {
	var errs config.Errors
	errs.Add(path, "not supported yet")
	return nil, errs
}

// Serve calls the backends for x and writes the merged answer to
// x.Ctx.Response, or fails x (502, or 504 when a required backend timed out).
func (p *Plan) Serve(x *pipeline.Exchange) {}
