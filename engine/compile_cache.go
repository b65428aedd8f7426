package engine

import (
	"github.com/sluice-gw/sluice/engine/cache"
	"github.com/sluice-gw/sluice/engine/config"
)

// cacheOptions translates a route's cache block for package cache.
func cacheOptions(c *config.Cache) cache.Options {
	return cache.Options{
		TTL:          c.TTL.D(),
		StaleIfError: c.StaleIfError.D(),
		Vary:         c.Vary,
		PerConsumer:  c.PerConsumer,
	}
}
