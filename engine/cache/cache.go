// Package cache is the response cache stage: a byte-bounded in-memory store
// shared by every cached route, with coalesced misses and stale-if-error.
package cache

import (
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/pipeline"
)

// Store holds cached responses for every route, bounded in bytes.
type Store struct{}

// New returns a store bounded by maxBytes.
func New(maxBytes int64) (*Store, error) { return &Store{}, nil }

// Close releases the store.
func (s *Store) Close() {}

// Route compiles one route's cache settings. path is the route's JSON path.
func (s *Store) Route(cfg *config.Cache, routeHasAuth bool, path string) (*Route, config.Errors) {
	var errs config.Errors
	errs.Add(config.Join(path, "cache"), "not supported yet")
	return nil, errs
}

// Route is the compiled cache stage of a route.
type Route struct{}

// Serve answers x from the cache or through fetch, storing what may be stored.
func (r *Route) Serve(x *pipeline.Exchange, fetch pipeline.Fetch) { fetch(x) }
