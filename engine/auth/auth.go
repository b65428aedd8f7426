// Package auth compiles the config's auth policies (jwt, api_key, hmac, mtls)
// and checks callers against them on routes that name a policy.
package auth

import (
	"context"

	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

// Set is every compiled auth policy of a config.
type Set struct{}

// Compile compiles cfg.Auth. Problems are reported with their JSON paths.
func Compile(cfg *config.Config) (*Set, config.Errors) {
	var errs config.Errors
	for _, name := range cfg.Order.Auth {
		errs.Add(config.Join("auth", name), "not supported yet")
	}
	return &Set{}, errs
}

// Start runs background work (JWKS refresh) until ctx ends.
func (s *Set) Start(ctx context.Context) {}

// StripForwarded removes from a client request every header that some
// policy's forward_claims sets, so clients can never forge them.
func (s *Set) StripForwarded(h *fasthttp.RequestHeader) {}

// Route compiles the auth of one route: the policy name and required scopes.
// path is the route's JSON path ("routes[3]").
func (s *Set) Route(policy string, scopes []string, path string) (*Route, config.Errors) {
	var errs config.Errors
	errs.Add(config.Join(path, "auth"), "not supported yet")
	return nil, errs
}

// Route is the compiled auth stage of a route.
type Route struct{}

// Check authenticates x's caller, checks scopes, sets x.Consumer and x.Claims
// and the forward_claims request headers. On failure it fails x (401 or 403,
// with WWW-Authenticate) and returns false.
func (r *Route) Check(x *pipeline.Exchange) bool { return true }
