// Package auth compiles the config's auth policies (jwt, api_key, hmac, mtls)
// and checks callers against them on routes that name a policy.
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
	"github.com/sluice-gw/sluice/engine/config"
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

// Compile compiles cfg.Auth, with its series in set (the engine's).
// Problems are reported with their JSON paths.
func Compile(cfg *config.Config, set *metrics.Set) (*Set, config.Errors) {
	var errs config.Errors
	s := &Set{policies: make(map[string]policy, len(cfg.Auth)), metrics: set}
	seen := map[string]bool{}
	for _, name := range authOrder(cfg) {
		a := cfg.Auth[name]
		path := config.Join("auth", name)
		if a == nil {
			errs.Add(path, "expected an object")
			continue
		}
		checkFields(a, path, &errs)
		var p policy
		switch a.Type {
		case "":
			errs.Add(config.Join(path, "type"), "required (jwt, api_key, hmac or mtls)")
		case "jwt":
			if s.cache == nil {
				s.cache = newTokenCache(defaultCacheBytes)
			}
			jp := compileJWT(a, path, len(s.jwts), s.cache, set, &errs)
			if jp != nil {
				s.jwts = append(s.jwts, jp)
				for _, fc := range jp.forward {
					if !seen[fc.header] {
						seen[fc.header] = true
						s.forwarded = append(s.forwarded, fc.header)
					}
				}
				p = jp
			}
		case "api_key":
			if kp := compileAPIKey(a, path, &errs); kp != nil {
				p = kp
			}
		case "hmac":
			if hp := compileHMAC(a, path, &errs); hp != nil {
				s.hmacs = append(s.hmacs, hp)
				p = hp
			}
		case "mtls":
			p = compileMTLS(cfg, path, &errs)
		default:
			errs.Add(config.Join(path, "type"), "unknown auth type %q (want jwt, api_key, hmac or mtls)", a.Type)
		}
		if p != nil {
			s.policies[name] = p
		}
	}
	if len(errs) > 0 {
		s.Close()
	}
	return s, errs
}

// authOrder is the policies' names in file order (falling back to the map
// when Order was not filled, as in hand-built configs).
func authOrder(cfg *config.Config) []string {
	if len(cfg.Order.Auth) == len(cfg.Auth) {
		return cfg.Order.Auth
	}
	names := make([]string, 0, len(cfg.Auth))
	for n := range cfg.Auth {
		names = append(names, n)
	}
	sortStrings(names)
	return names
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

// Route compiles the auth of one route: the policy name and required scopes.
// path is the route's JSON path ("routes[3]"). A route without a policy gets
// a nil *Route, whose Check lets every request through.
func (s *Set) Route(policy string, scopes []string, path string) (*Route, config.Errors) {
	var errs config.Errors
	if policy == "" {
		if len(scopes) > 0 {
			errs.Add(config.Join(path, "scopes"), "scopes need an auth policy on the route")
		}
		return nil, errs
	}
	p, ok := s.policies[policy]
	if !ok {
		errs.Add(config.Join(path, "auth"), "unknown auth policy %q", policy)
		return nil, errs
	}
	for i, sc := range scopes {
		if sc == "" || containsSpace(sc) {
			errs.Add(config.Index(config.Join(path, "scopes"), i), "invalid scope %q", sc)
		}
	}
	if len(scopes) > 0 && !p.hasScopes() {
		errs.Add(config.Join(path, "scopes"), "auth policy %q carries no scopes (only jwt policies do)", policy)
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
