package engine

import (
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
