package engine

import (
	"net/url"

	json "github.com/goccy/go-json"
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/upstream"
)

// redacted stands in for every secret and every `set` header value in /routes.
const redacted = "[redacted]"

// routeView is one route of the /routes document: what it matches, its
// stages in pipeline order and their settings, without secrets.
type routeView struct {
	Name            string            `json:"name"`
	Path            string            `json:"path"`
	Methods         []string          `json:"methods"`
	Host            string            `json:"host,omitempty"`
	Headers         map[string]string `json:"headers,omitempty"`
	Stages          []string          `json:"stages"`
	Service         string            `json:"service,omitempty"`
	StripPrefix     string            `json:"strip_prefix,omitempty"`
	Rewrite         string            `json:"rewrite,omitempty"`
	Auth            string            `json:"auth,omitempty"`
	Scopes          []string          `json:"scopes,omitempty"`
	RateLimits      []string          `json:"rate_limits,omitempty"`
	Cache           *config.Cache     `json:"cache,omitempty"`
	Validate        *config.Validate  `json:"validate,omitempty"`
	RequestHeaders  *headerOpsView    `json:"request_headers,omitempty"`
	ResponseHeaders *headerOpsView    `json:"response_headers,omitempty"`
	Aggregate       *config.Aggregate `json:"aggregate,omitempty"`
	GRPCMethod      string            `json:"grpc_method,omitempty"`
	Split           *config.Split     `json:"split,omitempty"`
	CORS            *config.CORS      `json:"cors,omitempty"`
	IPFilter        *config.IPFilter  `json:"ip_filter,omitempty"`
}

// headerOpsView shows which headers a route sets (values redacted: they
// often carry upstream credentials) and removes.
type headerOpsView struct {
	Set    map[string]string `json:"set,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}

type serviceView struct {
	Protocol   string   `json:"protocol"`
	Balancer   string   `json:"balancer"`
	Targets    []string `json:"targets"`
	Timeout    string   `json:"timeout"`
	TryTimeout string   `json:"try_timeout,omitempty"`
	Retries    int      `json:"retries"`
	Health     bool     `json:"health_check"`
	Breaker    bool     `json:"circuit_breaker"`
}

// authView is an auth policy without its secrets: key ids are listed, key
// material and secrets are redacted.
type authView struct {
	Type          string            `json:"type"`
	Algorithms    []string          `json:"algorithms,omitempty"`
	JWKSFile      string            `json:"jwks_file,omitempty"`
	JWKSURL       string            `json:"jwks_url,omitempty"`
	Secret        string            `json:"secret,omitempty"`
	Issuer        string            `json:"issuer,omitempty"`
	Audience      []string          `json:"audience,omitempty"`
	ForwardClaims map[string]string `json:"forward_claims,omitempty"`
	Header        string            `json:"header,omitempty"`
	Keys          map[string]string `json:"keys,omitempty"`
}

// routesDocument is the body of GET /routes, built and marshalled once by
// Compile: nothing in it changes while the engine runs. It is nil when the
// document cannot be marshalled; the admin listener then answers 500.
func routesDocument(cfg *config.Config, compiled []*route, svcs map[string]*upstream.Service) []byte {
	body, err := json.MarshalIndent(describe(cfg, compiled, svcs), "", "  ")
	if err != nil {
		return nil
	}
	return append(body, '\n')
}

// describe is the /routes document: the compiled route table with the
// config's hash. No secret appears in it, nor any `set` header value.
// compiled are the routes compiled from cfg.Routes, svcs its services.
func describe(cfg *config.Config, compiled []*route, svcs map[string]*upstream.Service) any {
	routes := make([]routeView, 0, len(cfg.Routes))
	for i, rc := range cfg.Routes {
		if rc == nil || i >= len(compiled) {
			continue
		}
		methods := rc.Methods
		if len(methods) == 0 {
			methods = []string{"*"}
		}
		routes = append(routes, routeView{
			Name: rc.Name, Path: rc.Path, Methods: methods, Host: rc.Host, Headers: rc.Headers,
			Stages: compiled[i].stageNames(), Service: rc.Service, StripPrefix: rc.StripPrefix, Rewrite: rc.Rewrite,
			Auth: rc.Auth, Scopes: rc.Scopes, RateLimits: rc.RateLimits, Cache: rc.Cache,
			Validate: rc.Validate, RequestHeaders: headerOpsOf(rc.RequestHeaders),
			ResponseHeaders: headerOpsOf(rc.ResponseHeaders), Aggregate: rc.Aggregate,
			GRPCMethod: rc.GRPCMethod, Split: rc.Split, CORS: rc.CORS, IPFilter: rc.IPFilter,
		})
	}
	services := map[string]serviceView{}
	for name, svc := range svcs {
		c := cfg.Services[name]
		v := serviceView{Protocol: c.Protocol, Balancer: c.Balancer, Timeout: svc.Timeout.String(),
			Retries: svc.Retries, Health: c.HealthCheck != nil, Breaker: c.CircuitBreaker != nil}
		if c.TryTimeout != 0 {
			v.TryTimeout = c.TryTimeout.D().String()
		}
		if v.Protocol == "" {
			v.Protocol = "http"
		}
		if v.Balancer == "" {
			v.Balancer = "round_robin"
		}
		for _, t := range svc.Targets() {
			v.Targets = append(v.Targets, t.Addr)
		}
		services[name] = v
	}
	auth := map[string]authView{}
	for name, a := range cfg.Auth {
		if a != nil {
			auth[name] = authOf(a)
		}
	}
	return map[string]any{
		"config_sha256": cfg.SHA256,
		"routes":        routes,
		"services":      services,
		"auth":          auth,
		"rate_limits":   cfg.RateLimits,
	}
}

func headerOpsOf(h *config.HeaderOps) *headerOpsView {
	if h == nil {
		return nil
	}
	v := &headerOpsView{Remove: h.Remove}
	if len(h.Set) > 0 {
		v.Set = make(map[string]string, len(h.Set))
		for k := range h.Set {
			v.Set[k] = redacted
		}
	}
	return v
}

func authOf(a *config.Auth) authView {
	v := authView{Type: a.Type, Algorithms: a.Algorithms, JWKSFile: a.JWKSFile, JWKSURL: safeURL(a.JWKSURL),
		Issuer: a.Issuer, Audience: a.Audience, ForwardClaims: a.ForwardClaims, Header: a.Header}
	if a.Secret != "" || a.SecretEnv != "" {
		v.Secret = redacted
	}
	if len(a.Keys) > 0 {
		v.Keys = map[string]string{}
		_ = config.Object(a.Keys, func(id string, _ []byte) { v.Keys[id] = redacted })
	}
	return v
}

// safeURL drops the user info and the query of a URL, where tokens hide.
func safeURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return redacted
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = redacted
	}
	u.Fragment = ""
	return u.String()
}
