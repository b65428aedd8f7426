// Package auth is the auth stage: it compiles named policies (jwt, api_key,
// hmac, mtls) from typed options and checks callers against them on routes
// that name a policy.
//
// The engine's compile step builds a Set with New, adds each policy of the
// config with Add (in file order), then compiles each route's policy and
// scopes with Set.Route. Problems come back as fielderr.List values whose
// paths are relative to the options given.
//
// Everything is compiled once; on the request path a policy reads the
// request's bytes, consults immutable tables (and, for jwt, a cache of
// verified tokens) and writes x.Consumer, x.Claims and the forward_claims
// request headers.
package auth

import (
	"context"
	"fmt"
	"sync"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/fielderr"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

// Set is every compiled auth policy of a config.
type Set struct {
	policies  map[string]policy
	forwarded []string // header names set by some forward_claims, stripped from every request
	jwts      []*jwtPolicy
	hmacs     []*hmacPolicy
	cache     *tokenCache
	metrics   *metrics.Set // the engine's

	mu        sync.Mutex
	cancel    context.CancelFunc
	closed    bool
	closeOnce sync.Once
}

// policy is one compiled auth policy.
type policy interface {
	// check authenticates x for route r, failing x when it returns false.
	check(x *pipeline.Exchange, r *Route) bool
	// hasScopes reports whether the policy's credentials carry scopes.
	hasScopes() bool
}

// Policy holds the options of one named policy. Type selects which of the
// option groups applies; the others are ignored.
type Policy struct {
	// Type is "jwt", "api_key", "hmac" or "mtls".
	Type   string
	JWT    JWTOptions
	APIKey APIKeyOptions
	HMAC   HMACOptions
	MTLS   MTLSOptions
}

// New returns a Set without policies whose series go to set (the engine's).
// Add fills it; Close releases it, also when Add reported problems.
func New(set *metrics.Set) *Set {
	return &Set{policies: map[string]policy{}, metrics: set}
}

// Add compiles the policy name from p. Policies are added before Start,
// and the order of Add numbers the jwt policies' token-cache seeds. A policy
// with problems is not added: its problems are a fielderr.List with paths
// relative to p ("type", "keys.acme", "" for the policy as a whole).
func (s *Set) Add(name string, p Policy) error {
	var errs fielderr.List
	var pol policy
	switch p.Type {
	case "":
		errs.Add("type", "required (jwt, api_key, hmac or mtls)")
	case "jwt":
		if s.cache == nil {
			s.cache = newTokenCache(defaultCacheBytes)
		}
		jp := compileJWT(p.JWT, name, len(s.jwts), s.cache, s.metrics, &errs)
		if jp != nil {
			s.jwts = append(s.jwts, jp)
			for _, fc := range jp.forward {
				if !contains(s.forwarded, fc.header) {
					s.forwarded = append(s.forwarded, fc.header)
				}
			}
			pol = jp
		}
	case "api_key":
		if kp := compileAPIKey(p.APIKey, &errs); kp != nil {
			pol = kp
		}
	case "hmac":
		if hp := compileHMAC(p.HMAC, &errs); hp != nil {
			s.hmacs = append(s.hmacs, hp)
			pol = hp
		}
	case "mtls":
		pol = compileMTLS(p.MTLS, &errs)
	default:
		errs.Add("type", "unknown auth type %q (want jwt, api_key, hmac or mtls)", p.Type)
	}
	if pol != nil {
		s.policies[name] = pol
	}
	return errs.Err()
}

// Start runs background work (JWKS refresh) until ctx ends or Close is called.
func (s *Set) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.cancel != nil {
		return
	}
	ctx, s.cancel = context.WithCancel(ctx)
	for _, p := range s.jwts {
		if p.remote != nil {
			go p.remote.run(ctx)
		}
	}
	for _, p := range s.hmacs {
		go p.replay.run(ctx)
	}
}

// Close stops background work and releases the token cache. Checks after
// Close still work but no longer cache.
func (s *Set) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		if s.cancel != nil {
			s.cancel()
		}
		s.mu.Unlock()
		if s.cache != nil {
			s.cache.close()
		}
	})
}

// StripForwarded removes from a client request every header that some
// policy's forward_claims sets, so clients can never forge them.
func (s *Set) StripForwarded(h *fasthttp.RequestHeader) {
	for _, name := range s.forwarded {
		h.Del(name)
	}
}

// Route compiles the auth of one route: the name of its policy and the
// scopes it requires. Problems are a fielderr.List with paths relative to
// the route ("auth", "scopes[1]"). A route without a policy gets a nil
// *Route, whose Check lets every request through.
func (s *Set) Route(policy string, scopes []string) (*Route, error) {
	var errs fielderr.List
	if policy == "" {
		if len(scopes) > 0 {
			errs.Add("scopes", "scopes need an auth policy on the route")
		}
		return nil, errs.Err()
	}
	p, ok := s.policies[policy]
	if !ok {
		errs.Add("auth", "unknown auth policy %q", policy)
		return nil, errs.Err()
	}
	for i, sc := range scopes {
		if sc == "" || containsSpace(sc) {
			errs.Add(fielderr.Index("scopes", i), "invalid scope %q", sc)
		}
	}
	if len(scopes) > 0 && !p.hasScopes() {
		errs.Add("scopes", "auth policy %q carries no scopes (only jwt policies do)", policy)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &Route{p: p, scopes: append([]string(nil), scopes...),
		rejected: s.metrics.GetOrCreateCounter(fmt.Sprintf(`sluice_auth_rejected_total{policy=%q}`, policy))}, nil
}

// Route is the compiled auth stage of a route.
type Route struct {
	p        policy
	scopes   []string
	rejected *metrics.Counter // shared by the policy's routes
}

// Name is the stage's name in GET /routes.
func (r *Route) Name() string { return "auth" }

// Handle is Check as a pipeline stage.
func (r *Route) Handle(x *pipeline.Exchange) pipeline.Verdict {
	if r.Check(x) {
		return pipeline.Next
	}
	return pipeline.Replied
}

// Check authenticates x's caller, checks scopes, sets x.Consumer and x.Claims
// and the forward_claims request headers. On failure it fails x (401 or 403,
// with WWW-Authenticate) and returns false. A nil Route allows everything.
func (r *Route) Check(x *pipeline.Exchange) bool {
	if r == nil {
		return true
	}
	if !r.p.check(x, r) {
		r.rejected.Inc()
		return false
	}
	return true
}

func containsSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
