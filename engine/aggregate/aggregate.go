// Package aggregate is the upstream stage of aggregate routes: it calls
// several backends in parallel and answers one JSON object holding each
// backend's answer under its key, in config order. The engine's compile step
// hands it a route's aggregate object as Options (New).
//
// Backends are called through the same upstream.Service as proxied routes
// (pooled clients, balancer, health, breakers, retries, metrics), on a
// shared pool of worker goroutines; the answer is ready in about the slowest
// backend's time. Answers are checked (strict JSON, 2xx; 204 counts as null)
// and spliced into the merged object as raw bytes; only a backend with an
// allow list is rewritten, by an in-place filter that keeps the listed
// fields ("name", or dotted paths such as "address.city") of objects,
// filters arrays element by element and passes other values unchanged.
//
// Semantics:
//   - Backend paths are templates: {param} (route path parameter), {claim.X}
//     (the caller's verified token claim) and {query.X} (a client query
//     parameter). Values are percent-encoded for where they land: in a path,
//     claims and query values have '/' encoded, route parameters keep it
//     (only a {name...} rest parameter holds one); after '?', everything but
//     unreserved characters is encoded. The client's own query string is not
//     forwarded otherwise.
//   - A required backend whose {claim.X} or {query.X} is absent makes the
//     request a 400 bad_request before any backend is called; an optional
//     one is dropped.
//   - The aggregate timeout (default 3s) counts from the request's arrival;
//     a backend's timeout defaults to its service's timeout, capped by the
//     aggregate's, and may not exceed it.
//   - A failed, late or non-JSON optional backend drops its key; the answer
//     then has X-Partial-Response: true and Cache-Control: no-store (so a
//     partial answer is never cached). A failed required backend fails the
//     request at once, without waiting for the others: 504 upstream_timeout
//     when it timed out, else 502 bad_gateway.
//   - Every backend gets the client's request headers as prepared for
//     upstreams (X-Request-Id, traceparent, X-Forwarded-*, forward_claims),
//     as a bodiless GET without Content-*, Accept-Encoding, conditional and
//     Range headers.
//   - The access log line gets a "backends" member: key, status, ms, target
//     and, for a backend that did not answer well, error.
package aggregate

import (
	"strconv"
	"sync"
	"time"

	json "github.com/goccy/go-json"
	"github.com/sluice-gw/sluice/engine/fielderr"
	"github.com/sluice-gw/sluice/engine/upstream"
)

// DefaultTimeout bounds an aggregate route whose config sets no timeout.
const DefaultTimeout = 3 * time.Second

// Plan is the compiled aggregate of one route. It is immutable and safe for
// concurrent use; per-request state comes from its pool.
type Plan struct {
	timeout    time.Duration
	backends   []backend
	usesClaims bool
	states     sync.Pool
}

// backend is one compiled call of the aggregate.
type backend struct {
	key      string
	keyJSON  []byte // `"profile":`, the member prefix in the merged object
	logKey   []byte // `{"key":"profile"`, the access log entry's start
	svc      *upstream.Service
	path     *template
	optional bool
	timeout  time.Duration
	allow    []*allowNode
	// messages are the error messages of a failed required backend, by outcome.
	messages [len(outcomeNames)]string
}

// Options are a route's aggregate object.
type Options struct {
	// Timeout bounds the whole aggregate, counted from the request's
	// arrival; 0 means DefaultTimeout. It must not be negative.
	Timeout time.Duration
	// Backends are the calls, in answer order; at least one.
	Backends []BackendOptions
}

// BackendOptions is one call of an aggregate.
type BackendOptions struct {
	// Service names the upstream service called (required).
	Service string
	// Path is the request path template (required): {param}, {claim.X},
	// {query.X}.
	Path string
	// Key is the backend's member in the merged answer (required, unique).
	Key string
	// Optional backends that fail drop their key instead of failing the
	// request.
	Optional bool
	// Timeout bounds the call; 0 means the service's timeout, capped by the
	// aggregate's. It must not be negative nor exceed the aggregate's.
	Timeout time.Duration
	// Allow lists the fields of the answer kept ("name", "address.city");
	// empty keeps the whole answer.
	Allow []string
}

// New compiles a route's aggregate. services holds every compiled service
// a backend may name; a name present with a nil value is a declared service
// that failed to compile (already reported, so not reported again here, and
// New returns no plan and no error). routeParams are the route path's
// parameter names, for {param} templates. Its problems are a fielderr.List
// with paths relative to o ("backends[1].path").
func New(o Options, services map[string]*upstream.Service, routeParams []string) (*Plan, error) {
	var errs fielderr.List
	p := &Plan{timeout: o.Timeout}
	timeoutOK := true
	if p.timeout < 0 {
		errs.Add("timeout", "must not be negative")
		timeoutOK = false
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	if len(o.Backends) == 0 {
		errs.Add("backends", "at least one backend is required")
	}
	keys := make(map[string]int, len(o.Backends))
	for j := range o.Backends {
		bc := &o.Backends[j]
		at := fielderr.Index("backends", j)
		b := p.compileBackend(bc, services, routeParams, at, timeoutOK, &errs)
		if bc.Key != "" {
			if k, dup := keys[bc.Key]; dup {
				errs.Add(fielderr.Join(at, "key"), "duplicate key %q (also backends[%d])", bc.Key, k)
			} else {
				keys[bc.Key] = j
			}
		}
		p.backends = append(p.backends, b)
		p.usesClaims = p.usesClaims || (b.path != nil && b.path.usesClaims())
	}
	if len(errs) > 0 {
		return nil, errs
	}
	for i := range p.backends {
		if p.backends[i].svc == nil {
			return nil, nil // a broken service: the engine reports it and never serves
		}
	}
	p.states.New = func() any { return newState(p) }
	return p, nil
}

// compileBackend compiles bc; its problems go to errs under path (relative
// to the aggregate's options).
func (p *Plan) compileBackend(bc *BackendOptions, services map[string]*upstream.Service, routeParams []string, path string, timeoutOK bool, errs *fielderr.List) backend {
	b := backend{key: bc.Key, optional: bc.Optional}

	if bc.Service == "" {
		errs.Add(fielderr.Join(path, "service"), "required")
	} else if svc, ok := services[bc.Service]; !ok {
		errs.Add(fielderr.Join(path, "service"), "unknown service %q", bc.Service)
	} else {
		b.svc = svc // nil: declared but broken, reported by the service itself
	}

	if bc.Path == "" {
		errs.Add(fielderr.Join(path, "path"), "required")
	} else if t, err := parseTemplate(bc.Path, routeParams); err != nil {
		errs.Add(fielderr.Join(path, "path"), "%v", err)
	} else {
		b.path = t
	}

	if bc.Key == "" {
		errs.Add(fielderr.Join(path, "key"), "required")
	} else {
		q, _ := json.Marshal(bc.Key)
		b.keyJSON = append(q, ':')
		b.logKey = append([]byte(`{"key":`), q...)
		for o := range b.messages {
			b.messages[o] = failMessage(bc.Key, outcome(o))
		}
	}

	b.timeout = bc.Timeout
	switch {
	case b.timeout < 0:
		errs.Add(fielderr.Join(path, "timeout"), "must not be negative")
	case timeoutOK && b.timeout > p.timeout:
		errs.Add(fielderr.Join(path, "timeout"), "%s exceeds the aggregate timeout (%s)", b.timeout, p.timeout)
	case b.timeout == 0:
		// Unset: the service's own timeout, within the aggregate's.
		b.timeout = p.timeout
		if b.svc != nil && b.svc.Timeout > 0 && b.svc.Timeout < b.timeout {
			b.timeout = b.svc.Timeout
		}
	}

	b.allow = compileAllow(bc.Allow, fielderr.Join(path, "allow"), errs)
	return b
}

// Timeout returns the aggregate's overall timeout.
func (p *Plan) Timeout() time.Duration { return p.timeout }

// UsesClaims reports whether a backend path reads {claim.X}: such a route
// needs auth (the engine may reject it at compile time when it has none).
func (p *Plan) UsesClaims() bool { return p.usesClaims }

// failMessage is the error message when required backend key fails with o.
func failMessage(key string, o outcome) string {
	switch o {
	case resTimeout:
		return "backend " + strconv.Quote(key) + " did not answer in time"
	case resStatus:
		return "backend " + strconv.Quote(key) + " answered an error status"
	case resNotJSON:
		return "backend " + strconv.Quote(key) + " did not answer JSON"
	case resConnect:
		return "backend " + strconv.Quote(key) + " refused the connection"
	case resUnavailable:
		return "backend " + strconv.Quote(key) + " has no available target"
	}
	return "backend " + strconv.Quote(key) + " answered badly or reset the connection"
}
