package engine

import (
	"github.com/sluice-gw/sluice/engine/compress"
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/cors"
	"github.com/sluice-gw/sluice/engine/ipfilter"
	"github.com/sluice-gw/sluice/engine/split"
)

// The translations of a route's edge blocks (ip_filter, cors, split) into the
// options of their packages. Each package reports problems relative to its
// options; compileEdge merges them under the block's JSON path.

func ipFilterOptions(c *config.IPFilter) ipfilter.Options {
	return ipfilter.Options{Allow: c.Allow, Deny: c.Deny}
}

func corsOptions(c *config.CORS) cors.Options {
	return cors.Options{
		AllowOrigins:     c.AllowOrigins,
		AllowMethods:     c.AllowMethods,
		AllowHeaders:     c.AllowHeaders,
		ExposeHeaders:    c.ExposeHeaders,
		AllowCredentials: c.AllowCredentials,
		MaxAge:           c.MaxAge.D(),
	}
}

func splitOptions(c *config.Split) split.Options {
	o := split.Options{By: c.By, Services: make([]split.Side, len(c.Services))}
	for i, s := range c.Services {
		o.Services[i] = split.Side{Service: s.Service, Percent: s.Percent}
	}
	return o
}

// compileEdge compiles the edge keys of route rc of cfg at JSON path path.
func (e *Engine) compileEdge(cfg *config.Config, rc *config.Route, path string) (edgePolicies, config.Errors) {
	var p edgePolicies
	var errs config.Errors
	if rc.IPFilter != nil {
		f, err := ipfilter.New(ipFilterOptions(rc.IPFilter))
		errs.Merge(config.Join(path, "ip_filter"), err)
		p.ipFilter = f
	}
	if rc.CORS != nil {
		c, err := cors.New(corsOptions(rc.CORS), rc.Methods)
		errs.Merge(config.Join(path, "cors"), err)
		p.cors = c
	}
	p.compress = compress.Compile(rc.Compress)
	if rc.Split != nil {
		sp := config.Join(path, "split")
		if rc.Aggregate != nil || rc.GRPCMethod != "" || rc.Service == "" {
			errs.Add(sp, "needs a route that proxies to a service (not aggregate or grpc_method)")
			return p, errs
		}
		known := func(name string) bool { _, ok := cfg.Services[name]; return ok }
		s, names, err := split.New(splitOptions(rc.Split), split.Route{Name: rc.Name, Service: rc.Service, Auth: rc.Auth != "", Known: known, Metrics: e.metrics})
		errs.Merge(sp, err)
		p.split = s
		for j, n := range names {
			if a, b := protocolOf(cfg, rc.Service), protocolOf(cfg, n); a != b {
				errs.Add(config.Join(config.Index(config.Join(sp, "services"), j), "service"),
					"service %q speaks %s, the route's service %s", n, b, a)
			}
			p.sides = append(p.sides, e.services[n])
		}
	}
	return p, errs
}

// protocolOf is "grpc" for a grpc service, else "HTTP" (http and https
// services take the same requests).
func protocolOf(cfg *config.Config, name string) string {
	if svc := cfg.Services[name]; svc != nil && svc.Protocol == "grpc" {
		return "grpc"
	}
	return "HTTP"
}
