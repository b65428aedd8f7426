// Package ratelimit is the rate-limit stage: it compiles the rate-limit
// policies the engine's compile step hands it (Options, built from the
// config's rate_limits and cluster blocks) and admits or rejects requests on
// the routes that list them.
//
// Each policy owns one limiter.Limiter (token buckets keyed by the xxhash of
// the request's key), shared by every route that lists the policy, except key
// "route", which gives each route its own bucket. A request without its key
// (no header, no claim, no consumer) uses the policy's one anonymous bucket.
//
// A route may list several policies and all must admit. A request that one
// policy rejects consumes nothing: tokens already taken from the policies
// before it are given back, so a client that is being throttled by one quota
// does not also drain another.
//
// scope "cluster" without cluster.redis splits requests and burst evenly over
// cluster.instances. With cluster.redis (one Redis, Sentinel or Cluster) the
// split bucket is the starting point and, once per sync_interval, a
// background loop reports each active key's usage and demand to Redis and
// sets the local bucket from the fleet's remaining tokens and this instance's
// share of the fleet's demand, so instances admit in proportion to their
// demand (see README.md for the algorithm and its worst-case overshoot).
// Requests never wait on Redis; when Redis fails the instance keeps the plain
// split.
package ratelimit

import (
	"context"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/cespare/xxhash/v2"
	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/fielderr"
	"github.com/sluice-gw/sluice/engine/internal/tick"
	"github.com/sluice-gw/sluice/engine/pipeline"
)

// sweepEvery is how often idle (refilled) buckets are freed.
const sweepEvery = time.Second

// Set is every compiled rate-limit policy of a config.
type Set struct {
	policies map[string]*policy // nil value: named but invalid
	order    []*policy
	sync     *syncer // nil without cluster.redis or cluster-scoped policies

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// Options are the rate-limit policies of a config and what they need from
// the rest of it.
type Options struct {
	// Instances is how many gateway instances share a cluster-scoped
	// policy (cluster.instances); less than 1 means 1.
	Instances int
	// Store is the shared quota store (cluster.redis). Nil: cluster-scoped
	// policies are split evenly over Instances and nothing is synced.
	Store *Store
	// Policies are the rate_limits entries, in file order.
	Policies []PolicyOptions
}

// PolicyOptions is one rate_limits entry.
type PolicyOptions struct {
	// Name is the policy's key; routes list policies by it.
	Name string
	// Invalid marks a policy the compile step refused already (say, not an
	// object): routes may list it without a second error, and nothing else
	// of it is read.
	Invalid bool
	// Key is what requests are counted by: ip, header:NAME, claim:NAME,
	// consumer or route.
	Key string
	// Requests per Per is the refill rate; both must be positive.
	Requests int
	Per      time.Duration
	// Burst is the bucket size; 0 means Requests.
	Burst int
	// Scope is "instance" (or empty) for a bucket per instance, "cluster"
	// for a quota shared by the fleet.
	Scope string
}

// New compiles o's policies, with their series in set (the engine's). It
// always returns a usable Set; its problems are a fielderr.List with paths
// relative to the rate_limits object ("NAME.key"). The Redis sync is set up
// only when every policy compiled.
func New(o Options, set *metrics.Set) (*Set, error) {
	var errs fielderr.List
	instances := max(o.Instances, 1)
	s := &Set{policies: make(map[string]*policy, len(o.Policies))}
	var shared []*policy
	for i := range o.Policies {
		po := &o.Policies[i]
		if po.Invalid {
			s.policies[po.Name] = nil
			continue
		}
		p := compilePolicy(po, instances, o.Store != nil, set, &errs)
		s.policies[po.Name] = p
		if p != nil {
			s.order = append(s.order, p)
			if p.cluster {
				shared = append(shared, p)
			}
		}
	}
	if o.Store != nil && len(shared) > 0 && len(errs) == 0 {
		s.sync = newSyncer(o.Store.opts, shared, instances, set)
	}
	return s, errs.Err()
}

// Start starts the background work (idle sweeps, Redis sync) and returns at
// once; the work stops when ctx ends or Close is called. Calls after the
// first do nothing.
func (s *Set) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.sweep(ctx)
	}()
	if s.sync != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.sync.run(ctx)
		}()
	}
}

// Close stops the background work, waits for it and closes the Redis client.
// Routes keep admitting from their local buckets afterwards.
func (s *Set) Close() {
	s.mu.Lock()
	if s.cancel != nil {
		s.cancel()
	}
	s.started = true // no Start after Close
	s.mu.Unlock()
	s.wg.Wait()
	if s.sync != nil {
		s.sync.close()
	}
}

// sweep frees refilled buckets and publishes the live-key gauges.
func (s *Set) sweep(ctx context.Context) {
	tick.Every(ctx, sweepEvery, func(time.Time) {
		for _, p := range s.order {
			p.lim.Sweep()
			p.keys.Set(float64(p.lim.Len()))
		}
	})
}

// Route compiles the limits of one route: names are its rate_limits list,
// id names the route's own bucket of key "route" policies (the route's name,
// else its JSON path). It returns nil (which admits everything) when names
// is empty. Its problems are a fielderr.List with paths relative to the
// list ("[2]").
func (s *Set) Route(names []string, id string) (*Route, error) {
	var errs fielderr.List
	if len(names) == 0 {
		return nil, nil
	}
	if len(names) > maxPolicies {
		errs.Add("", "at most %d policies a route", maxPolicies)
		return nil, errs
	}
	r := &Route{routeHash: xxhash.Sum64String(id)}
	seen := make(map[string]bool, len(names))
	for i, name := range names {
		at := fielderr.Index("", i)
		p, ok := s.policies[name]
		switch {
		case !ok:
			errs.Add(at, "unknown rate limit policy %q", name)
		case seen[name]:
			errs.Add(at, "rate limit policy %q listed twice", name)
		case p != nil:
			r.policies = append(r.policies, p)
		}
		seen[name] = true
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return r, nil
}

// maxPolicies bounds the policies of one route so Allow can keep its bucket
// keys on the stack.
const maxPolicies = 16

// Route is the compiled rate-limit stage of a route.
type Route struct {
	policies  []*policy
	routeHash uint64 // bucket of key "route" policies
}

// Name is the stage's name in GET /routes.
func (r *Route) Name() string { return "rate_limit" }

// Handle is Allow as a pipeline stage.
func (r *Route) Handle(x *pipeline.Exchange) pipeline.Verdict {
	if r.Allow(x) {
		return pipeline.Next
	}
	return pipeline.Replied
}

// Allow takes a token from every policy of the route. It queues the RateLimit-*
// headers on x and, when a policy rejects, fails x with 429 and Retry-After.
// A nil Route admits everything.
func (r *Route) Allow(x *pipeline.Exchange) bool {
	if r == nil || len(r.policies) == 0 {
		return true
	}
	var keys [maxPolicies]uint64
	var best limitResult
	for i, p := range r.policies {
		h := p.hash(x, r.routeHash)
		res := p.lim.Allow(h)
		if !res.Allowed {
			// Give back what the earlier policies took: a rejected request
			// consumes no quota. The rejecting policy has no whole token left,
			// so its headers are the ones shown (fewest left, ties to it).
			for j := i - 1; j >= 0; j-- {
				r.policies[j].lim.Refund(keys[j])
			}
			p.rejected.Inc()
			writeHeaders(x, res, true)
			return x.Fail(fault.RateLimited, "rate limit exceeded")
		}
		keys[i] = h
		if i == 0 || res.Remaining < best.Remaining {
			best = res
		}
	}
	writeHeaders(x, best, false)
	return true
}
