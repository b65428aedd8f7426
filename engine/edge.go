package engine

import (
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/ipfilter"
	"github.com/sluice-gw/sluice/engine/pipeline"
)

// edgePolicies are a route's edge stages (ip_filter, cors, compress, split),
// each compiled by its own package; a nil stage is not configured and costs
// one pointer test.
type edgePolicies struct {
	ipFilter *ipfilter.Filter
}

// compileEdge compiles the edge keys of route rc at JSON path path.
func (e *Engine) compileEdge(rc *config.Route, path string) (edgePolicies, config.Errors) {
	var p edgePolicies
	var errs config.Errors
	if rc.IPFilter != nil {
		f, es := ipfilter.Compile(rc.IPFilter, config.Join(path, "ip_filter"))
		errs = append(errs, es...)
		p.ipFilter = f
	}
	return p, errs
}

// request runs the stages that come before validate (ip_filter, then the CORS
// preflight). It returns false when the request has been answered.
func (p *edgePolicies) request(x *pipeline.Exchange) bool {
	return p.ipFilter.Check(x)
}
