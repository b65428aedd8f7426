// Package aggregate is the upstream stage of aggregate routes: it calls
// several backends in parallel and answers one JSON object holding each
// backend's answer under its key, in config order.
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
	"github.com/sluice-gw/sluice/engine/config"
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

// Compile compiles a route's aggregate. services holds every compiled
// service; a name present with a nil value is a declared service that failed
// to compile (already reported, so not reported again here). path is the
// aggregate's JSON path ("routes[4].aggregate"). routeParams are the route
// path's parameter names, for {param} templates.
func Compile(cfg *config.Aggregate, services map[string]*upstream.Service, routeParams []string, path string) (*Plan, config.Errors) {
	var errs config.Errors
	if cfg == nil {
		errs.Add(path, "expected an object")
		return nil, errs
	}
	p := &Plan{timeout: cfg.Timeout.D()}
	timeoutOK := true
	if p.timeout < 0 {
		errs.Add(config.Join(path, "timeout"), "must not be negative")
		timeoutOK = false
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	bpath := config.Join(path, "backends")
	if len(cfg.Backends) == 0 {
		errs.Add(bpath, "at least one backend is required")
	}
	keys := make(map[string]int, len(cfg.Backends))
	for j := range cfg.Backends {
		b, es := p.compileBackend(&cfg.Backends[j], services, routeParams, config.Index(bpath, j), timeoutOK)
		errs = append(errs, es...)
		if bc := &cfg.Backends[j]; bc.Key != "" {
			if k, dup := keys[bc.Key]; dup {
				errs.Add(config.Join(config.Index(bpath, j), "key"), "duplicate key %q (also backends[%d])", bc.Key, k)
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

func (p *Plan) compileBackend(bc *config.Backend, services map[string]*upstream.Service, routeParams []string, path string, timeoutOK bool) (backend, config.Errors) {
	var errs config.Errors
	b := backend{key: bc.Key, optional: bc.Optional}

	if bc.Service == "" {
		errs.Add(config.Join(path, "service"), "required")
	} else if svc, ok := services[bc.Service]; !ok {
		errs.Add(config.Join(path, "service"), "unknown service %q", bc.Service)
	} else {
		b.svc = svc // nil: declared but broken, reported by the service itself
	}

	if bc.Path == "" {
		errs.Add(config.Join(path, "path"), "required")
	} else if t, err := parseTemplate(bc.Path, routeParams); err != nil {
		errs.Add(config.Join(path, "path"), "%v", err)
	} else {
		b.path = t
	}

	if bc.Key == "" {
		errs.Add(config.Join(path, "key"), "required")
	} else {
		q, _ := json.Marshal(bc.Key)
		b.keyJSON = append(q, ':')
		b.logKey = append([]byte(`{"key":`), q...)
		for o := range b.messages {
			b.messages[o] = failMessage(bc.Key, outcome(o))
		}
	}

	b.timeout = bc.Timeout.D()
	switch {
	case b.timeout < 0:
		errs.Add(config.Join(path, "timeout"), "must not be negative")
	case timeoutOK && b.timeout > p.timeout:
		errs.Add(config.Join(path, "timeout"), "%s exceeds the aggregate timeout (%s)", b.timeout, p.timeout)
	case b.timeout == 0:
		// Unset: the service's own timeout, within the aggregate's.
		b.timeout = p.timeout
		if b.svc != nil && b.svc.Timeout > 0 && b.svc.Timeout < b.timeout {
			b.timeout = b.svc.Timeout
		}
	}

	allow, es := compileAllow(bc.Allow, config.Join(path, "allow"))
	errs = append(errs, es...)
	b.allow = allow
	return b, errs
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
