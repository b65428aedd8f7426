package cache

import (
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/fielderr"
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

// Options are a route's cache settings.
type Options struct {
	// TTL is how long an answer stays fresh (shorter when the upstream's
	// s-maxage or max-age says so); it must be greater than 0.
	TTL time.Duration
	// StaleIfError is how long past its freshness an entry may still answer
	// when the upstream fails; 0 never answers stale.
	StaleIfError time.Duration
	// Vary lists request headers whose values join the key.
	Vary []string
	// PerConsumer adds the authenticated consumer to the key; it needs a
	// route with auth.
	PerConsumer bool
}

// Route compiles one route's cache settings; routeHasAuth tells whether the
// route authenticates its consumers (per_consumer needs it). Its problems
// are a fielderr.List with paths relative to o ("vary[1]").
func (s *Store) Route(o Options, routeHasAuth bool) (*Route, error) {
	var errs fielderr.List
	if o.TTL <= 0 {
		errs.Add("ttl", "must be a duration greater than 0")
	}
	if o.StaleIfError < 0 {
		errs.Add("stale_if_error", "must not be negative")
	}
	if o.PerConsumer && !routeHasAuth {
		errs.Add("per_consumer", "needs the route to have auth")
	}
	vary := make([]string, 0, len(o.Vary))
	for i, name := range o.Vary {
		if !httpbytes.ValidToken(name) {
			errs.Add(fielderr.Index("vary", i), "invalid header name %q", name)
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
		ttl:         o.TTL,
		stale:       o.StaleIfError,
		vary:        vary,
		perConsumer: o.PerConsumer,
	}, nil
}

// Pending is the cache stage's state of one request between Lookup and
// Fill: the key, the expired entry that may answer if the upstream fails,
// and the flight this request leads. The engine keeps one in its pooled
// per-request state, so its buffers are reused and nothing is allocated.
// The zero value is ready to use.
type Pending struct {
	kb     keyBuf
	active bool    // Lookup left work for Fill
	store  bool    // the answer may be stored under kb.b
	sum    uint64  // hash of kb.b
	stale  *entry  // expired entry still within stale_if_error, or nil
	flight *flight // the flight this request leads, or nil
}

// release drops the references p holds into the store, and buffers one odd
// request grew, so that an idle pooled Pending keeps no memory alive.
func (p *Pending) release() {
	p.active, p.store, p.stale, p.flight = false, false, nil, nil
	if cap(p.kb.b) > 64<<10 || cap(p.kb.spans) > 1024 {
		p.kb = keyBuf{}
		return
	}
	p.kb.b = p.kb.b[:0]
	p.kb.spans = p.kb.spans[:0]
}

// Name is the stage's name in GET /routes.
func (r *Route) Name() string { return "cache" }

// Lookup answers x from the cache when it can (pipeline.Replied), or
// prepares p for Fill and lets the request go on to the upstream
// (pipeline.Next). Fill must be called with the same p after the upstream
// stages whenever Lookup ran, whatever it returned. Every answer of the
// route queues X-Cache and sets x.CacheResult.
//
// A GET or HEAD is looked up (HEAD shares the GET entry); a fresh entry is a
// HIT. On a miss the first GET for a key goes upstream; concurrent GETs for
// the same key wait for it, bounded by x.Deadline, and answer from its copy
// (HIT, or STALE when it served stale). When the leader's answer may not be
// shared (not storable, streamed, failed without a stale entry) each waiter
// goes upstream on its own; a waiter whose deadline passes answers stale if
// it can, else 504 upstream_timeout. A HEAD miss is fetched as a HEAD and
// never stored. Methods other than GET and HEAD, and requests the client
// marks no-cache, BYPASS the cache.
func (r *Route) Lookup(x *pipeline.Exchange, p *Pending) pipeline.Verdict {
	p.release()
	h := &x.Ctx.Request.Header
	get := h.IsGet()
	if (!get && !h.IsHead()) || clientBypass(h) {
		mark(x, r.store.res.bypass)
		return pipeline.Next
	}
	r.appendKey(&p.kb, x)
	key := p.kb.b
	sum := xxhash.Sum64(key)
	now := time.Now().UnixNano()
	e := r.store.lookup(sum, key)
	if e != nil && now < e.freshUntil {
		e.writeTo(x, now, &p.kb.num)
		mark(x, r.store.res.hit)
		return pipeline.Replied
	}
	if e != nil && now >= e.staleUntil {
		e = nil
	}
	p.active, p.stale, p.sum = true, e, sum
	if !get {
		return pipeline.Next // a HEAD miss: never stored
	}
	f, leader := r.store.join(sum, key)
	switch {
	case f == nil:
		// Another key with the same hash is in flight: go upstream alone.
		p.store = true
		return pipeline.Next
	case leader:
		p.store, p.flight = true, f
		return pipeline.Next
	}
	return r.follow(x, p, f)
}

// follow waits for the leader of f and answers from its copy; when the copy
// may not be shared, the request goes upstream on its own.
func (r *Route) follow(x *pipeline.Exchange, p *Pending, f *flight) pipeline.Verdict {
	if !f.wait(x.Deadline) {
		if p.stale != nil {
			p.stale.writeTo(x, time.Now().UnixNano(), &p.kb.num)
			mark(x, r.store.res.stale)
		} else {
			x.Fail(fault.UpstreamTimeout, "upstream did not answer in time")
			mark(x, r.store.res.miss)
		}
		p.active = false
		return pipeline.Replied
	}
	if f.e == nil {
		p.store = true
		return pipeline.Next
	}
	f.e.writeTo(x, time.Now().UnixNano(), &p.kb.num)
	if f.stale {
		mark(x, r.store.res.stale)
	} else {
		mark(x, r.store.res.hit)
	}
	p.active = false
	return pipeline.Replied
}

// Fill completes what Lookup started once the upstream stages have run:
// it answers stale when the upstream failed and an entry allows it, stores
// the answer when it may be stored, and publishes it to the requests
// waiting on this one. It does nothing after a hit or a bypass.
func (r *Route) Fill(x *pipeline.Exchange, p *Pending) {
	if !p.active {
		p.release()
		return
	}
	shared, wasStale := r.fill(x, p)
	if p.flight != nil {
		r.store.finish(p.sum, p.flight, shared, wasStale)
	}
	p.release()
}

// fill answers stale when the upstream failed and an entry allows it, and
// stores the answer when it may be stored. It returns the entry others may
// answer with.
func (r *Route) fill(x *pipeline.Exchange, p *Pending) (shared *entry, wasStale bool) {
	now := time.Now().UnixNano()
	// The upstream failed: a 5xx, or x failed with 502/503/504 (connect
	// error, timeout, open circuit and its fallback).
	rej, failed := x.Rejected()
	if failed || x.Ctx.Response.StatusCode() >= 500 {
		if stale := p.stale; (!failed || rej.Status >= 500) && stale != nil && now < stale.staleUntil {
			x.ClearReject()
			stale.writeTo(x, now, &p.kb.num)
			mark(x, r.store.res.stale)
			return stale, true
		}
		mark(x, r.store.res.miss)
		return nil, false
	}
	mark(x, r.store.res.miss)
	resp := &x.Ctx.Response
	if !p.store || resp.IsBodyStream() {
		return nil, false
	}
	fresh, age0, ok := storable(resp, r.ttl)
	if !ok {
		return nil, false
	}
	e := newEntry(p.kb.b, resp, now, fresh, r.stale, age0)
	r.store.set(p.sum, e)
	return e, false
}

// mark records the outcome: X-Cache header, access-log field and counter.
func mark(x *pipeline.Exchange, res *result) {
	x.CacheResult = res.name
	x.AddResponseHeaderString("X-Cache", res.header)
	res.counter.Inc()
}
