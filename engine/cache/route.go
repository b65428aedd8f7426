package cache

import (
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
	"github.com/sluice-gw/sluice/engine/pipeline"
)

// Route is the compiled cache stage of a route.
type Route struct {
	store       *Store
	id          uint32 // joins the key: routes told apart by headers never share
	ttl         time.Duration
	stale       time.Duration
	vary        []string
	perConsumer bool
}

// Route compiles one route's cache settings. path is the route's JSON path
// (e.g. "routes[2]"). A nil cfg yields a nil Route, whose Serve just fetches.
func (s *Store) Route(cfg *config.Cache, routeHasAuth bool, path string) (*Route, config.Errors) {
	if cfg == nil {
		return nil, nil
	}
	var errs config.Errors
	base := config.Join(path, "cache")
	if cfg.TTL.D() <= 0 {
		errs.Add(config.Join(base, "ttl"), "must be a duration greater than 0")
	}
	if cfg.StaleIfError.D() < 0 {
		errs.Add(config.Join(base, "stale_if_error"), "must not be negative")
	}
	if cfg.PerConsumer && !routeHasAuth {
		errs.Add(config.Join(base, "per_consumer"), "needs the route to have auth")
	}
	vary := make([]string, 0, len(cfg.Vary))
	for i, name := range cfg.Vary {
		if !httpbytes.ValidToken(name) {
			errs.Add(config.Index(config.Join(base, "vary"), i), "invalid header name %q", name)
			continue
		}
		vary = append(vary, name)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &Route{
		store:       s,
		id:          s.routes.Add(1),
		ttl:         cfg.TTL.D(),
		stale:       cfg.StaleIfError.D(),
		vary:        vary,
		perConsumer: cfg.PerConsumer,
	}, nil
}

// Serve answers x from the cache or through fetch, storing what may be stored.
// It always queues X-Cache and sets x.CacheResult.
//
// A GET or HEAD is looked up (HEAD shares the GET entry); a fresh entry is a
// HIT. On a miss the first GET for a key calls fetch; concurrent GETs for the
// same key wait for that call, bounded by x.Deadline, and answer from its
// copy (HIT, or STALE when it served stale). When the leader's answer may not
// be shared (not storable, streamed, failed without a stale entry) each
// waiter fetches on its own; a waiter whose deadline passes answers stale if
// it can, else 504 upstream_timeout. A HEAD miss is fetched as a HEAD and
// never stored. When the upstream fails (5xx, or x failed with 5xx) and an
// entry expired less than stale_if_error ago, that entry answers as STALE.
func (r *Route) Serve(x *pipeline.Exchange, fetch pipeline.Fetch) {
	if r == nil {
		fetch(x)
		return
	}
	h := &x.Ctx.Request.Header
	get := h.IsGet()
	if (!get && !h.IsHead()) || clientBypass(h) {
		mark(x, resBypass)
		fetch(x)
		return
	}
	kb := getKeyBuf()
	defer putKeyBuf(kb)
	r.appendKey(kb, x)
	key := kb.b
	sum := xxhash.Sum64(key)
	now := time.Now().UnixNano()
	e := r.store.lookup(sum, key)
	if e != nil && now < e.freshUntil {
		e.writeTo(x, now, &kb.num)
		mark(x, resHit)
		return
	}
	if e != nil && now >= e.staleUntil {
		e = nil
	}
	if !get {
		r.fetch(x, fetch, nil, 0, e, &kb.num)
		return
	}
	f, leader := r.store.join(sum, key)
	switch {
	case f == nil:
		r.fetch(x, fetch, key, sum, e, &kb.num)
	case leader:
		r.lead(x, fetch, f, key, sum, e, &kb.num)
	default:
		r.follow(x, fetch, f, key, sum, e, &kb.num)
	}
}

// lead makes the flight's upstream call and publishes its answer, even if
// fetch panics.
func (r *Route) lead(x *pipeline.Exchange, fetch pipeline.Fetch, f *flight, key []byte, sum uint64, stale *entry, num *[20]byte) {
	var shared *entry
	var wasStale bool
	defer func() { r.store.finish(sum, f, shared, wasStale) }()
	shared, wasStale = r.fetch(x, fetch, key, sum, stale, num)
}

// follow waits for the leader and answers from its copy.
func (r *Route) follow(x *pipeline.Exchange, fetch pipeline.Fetch, f *flight, key []byte, sum uint64, stale *entry, num *[20]byte) {
	if !f.wait(x.Deadline) {
		if stale != nil {
			stale.writeTo(x, time.Now().UnixNano(), num)
			mark(x, resStale)
			return
		}
		x.Fail(fault.UpstreamTimeout, "upstream did not answer in time")
		mark(x, resMiss)
		return
	}
	if f.e == nil {
		r.fetch(x, fetch, key, sum, stale, num)
		return
	}
	f.e.writeTo(x, time.Now().UnixNano(), num)
	if f.stale {
		mark(x, resStale)
	} else {
		mark(x, resHit)
	}
}

// fetch calls the upstream for x, answers stale when it failed and an entry
// allows it, and stores the answer when key is set and the answer may be
// stored. It returns the entry others may answer with.
func (r *Route) fetch(x *pipeline.Exchange, fetch pipeline.Fetch, key []byte, sum uint64, stale *entry, num *[20]byte) (shared *entry, wasStale bool) {
	fetch(x)
	now := time.Now().UnixNano()
	// The upstream failed: a 5xx, or x failed with 502/503/504 (connect
	// error, timeout, open circuit and its fallback).
	rej, failed := x.Rejected()
	if failed || x.Ctx.Response.StatusCode() >= 500 {
		if (!failed || rej.Status >= 500) && stale != nil && now < stale.staleUntil {
			x.ClearReject()
			stale.writeTo(x, now, num)
			mark(x, resStale)
			return stale, true
		}
		mark(x, resMiss)
		return nil, false
	}
	mark(x, resMiss)
	resp := &x.Ctx.Response
	if key == nil || resp.IsBodyStream() {
		return nil, false
	}
	fresh, age0, ok := storable(resp, r.ttl)
	if !ok {
		return nil, false
	}
	e := newEntry(key, resp, now, fresh, r.stale, age0)
	r.store.set(sum, e)
	return e, false
}

// mark records the outcome: X-Cache header, access-log field and counter.
func mark(x *pipeline.Exchange, res *result) {
	x.CacheResult = res.name
	x.AddResponseHeaderString("X-Cache", res.header)
	res.counter.Inc()
}
