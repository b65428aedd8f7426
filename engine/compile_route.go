package engine

import (
	"errors"
	"sort"
	"strings"

	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
	"github.com/sluice-gw/sluice/engine/internal/promlabel"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/sluice-gw/sluice/router"
)

// The compilation of each route: its keys checked and turned into a route
// (compile_edge.go, compile_grpcpass.go and friends compile its blocks), the
// router table built, and the route's stage list assembled.

var knownMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
	"DELETE": true, "OPTIONS": true, "TRACE": true, "CONNECT": true,
}

func (e *Engine) compileRoutes(cfg *config.Config) config.Errors {
	var errs config.Errors
	if len(cfg.Routes) == 0 {
		errs.Add("routes", "at least one route is required")
	}
	names := map[string]int{}
	var table []router.Route
	for i, rc := range cfg.Routes {
		path := config.Index("routes", i)
		if rc == nil {
			errs.Add(path, "expected an object")
			continue
		}
		r, es := e.compileRoute(cfg, rc, path)
		errs = append(errs, es...)
		if rc.Name == "" {
			errs.Add(config.Join(path, "name"), "required")
		} else if j, dup := names[rc.Name]; dup {
			errs.Add(config.Join(path, "name"), "duplicate route name %q (also routes[%d])", rc.Name, j)
		} else {
			names[rc.Name] = i
		}
		rr := router.Route{Path: rc.Path, Methods: rc.Methods, Host: rc.Host, ID: i}
		for _, k := range sortedKeys(rc.Headers) {
			rr.Headers = append(rr.Headers, [2]string{k, rc.Headers[k]})
		}
		table = append(table, rr)
		e.routes = append(e.routes, r)
	}
	if len(errs) > 0 {
		return errs
	}
	rt, rerrs := router.Build(table)
	for _, err := range rerrs {
		var re *router.Error
		if errors.As(err, &re) {
			errs.Add(config.Join(config.Index("routes", re.Index), re.Field), "%v", re.Err)
			continue
		}
		errs.Add("routes", "%v", err)
	}
	e.router = rt
	return errs
}

// compileRoute compiles route rc of cfg, at JSON path path.
func (e *Engine) compileRoute(cfg *config.Config, rc *config.Route, path string) (*route, config.Errors) {
	var errs config.Errors
	r := &route{name: rc.Name}
	if rc.Path == "" {
		errs.Add(config.Join(path, "path"), "required")
	} else if rc.Path[0] != '/' {
		errs.Add(config.Join(path, "path"), "must start with '/'")
	}
	for j, m := range rc.Methods {
		if !knownMethods[m] {
			errs.Add(config.Index(config.Join(path, "methods"), j), "unknown method %q (use upper case)", m)
		}
	}
	for k, v := range rc.Headers {
		if !httpbytes.ValidToken(k) {
			errs.Add(config.Join(config.Join(path, "headers"), k), "invalid header name")
		} else if v == "" {
			errs.Add(config.Join(config.Join(path, "headers"), k), "value must not be empty")
		}
	}

	switch {
	case rc.Aggregate != nil:
		if rc.Service != "" {
			errs.Add(config.Join(path, "service"), "an aggregate route names its services in aggregate.backends")
		}
		plan, es := e.compileAggregate(rc.Aggregate, pathParams(rc.Path), config.Join(path, "aggregate"))
		errs = append(errs, es...)
		r.aggregate = plan
	case rc.GRPCMethod != "":
		m, es := e.grpcMethod(rc, path)
		errs = append(errs, es...)
		r.grpc = m
		r.service = e.services[rc.Service]
	case rc.Service == "":
		errs.Add(config.Join(path, "service"), "required")
	default:
		svc, ok := e.services[rc.Service]
		if !ok {
			if _, declared := cfg.Services[rc.Service]; !declared {
				errs.Add(config.Join(path, "service"), "unknown service %q", rc.Service)
			}
		}
		r.service = svc
		if c := cfg.Services[rc.Service]; svc != nil && c != nil && c.Protocol == "grpc" {
			var es config.Errors
			r.grpcPass, es = e.grpcPassFor(cfg, rc.Service, path)
			errs = append(errs, es...)
			errs = append(errs, checkGRPCPass(rc, path)...)
		}
	}
	if rc.WebSocket {
		if rc.Aggregate != nil || rc.GRPCMethod != "" || rc.Cache != nil {
			errs.Add(config.Join(path, "websocket"), "a websocket route proxies to a service: no aggregate, grpc_method or cache")
		}
		r.websocket = true
	}

	if rc.StripPrefix != "" {
		if rc.StripPrefix[0] != '/' || (len(rc.StripPrefix) > 1 && strings.HasSuffix(rc.StripPrefix, "/")) {
			errs.Add(config.Join(path, "strip_prefix"), "must start with '/' and not end with '/'")
		}
		r.stripPrefix = []byte(rc.StripPrefix)
	}
	if rc.Rewrite != "" {
		t, err := parseTemplate(rc.Rewrite, pathParams(rc.Path))
		if err != nil {
			errs.Add(config.Join(path, "rewrite"), "%v", err)
		}
		r.rewrite = t
		if rc.StripPrefix != "" {
			errs.Add(config.Join(path, "rewrite"), "use either strip_prefix or rewrite, not both")
		}
	}

	if rc.Validate != nil {
		v, es := compileValidation(rc.Validate, config.Join(path, "validate"))
		errs = append(errs, es...)
		r.validate = v
	}
	if rc.Auth != "" {
		a, err := e.auth.Route(rc.Auth, rc.Scopes)
		errs.Merge(path, err)
		r.auth = a
	} else if len(rc.Scopes) > 0 {
		errs.Add(config.Join(path, "scopes"), "scopes need the route to have auth")
	}
	if len(rc.RateLimits) > 0 {
		l, es := e.routeRateLimits(rc, path)
		errs = append(errs, es...)
		r.limits = l
	}
	if rc.Cache != nil {
		c, err := e.cache.Route(cacheOptions(rc.Cache), rc.Auth != "")
		errs.Merge(config.Join(path, "cache"), err)
		r.cache = c
	}
	var es config.Errors
	r.requestHeaders, es = compileHeaderOps(rc.RequestHeaders, config.Join(path, "request_headers"))
	errs = append(errs, es...)
	r.responseHeaders, es = compileHeaderOps(rc.ResponseHeaders, config.Join(path, "response_headers"))
	errs = append(errs, es...)
	r.edge, es = e.compileEdge(cfg, rc, path)
	errs = append(errs, es...)
	errs = append(errs, e.grpcPassSplit(cfg, r, path)...) // compile_grpcpass.go

	r.wholeBody = r.aggregate != nil || r.grpc != nil || (r.validate != nil && r.validate.jsonBody) ||
		(rc.Auth != "" && cfg.Auth[rc.Auth] != nil && cfg.Auth[rc.Auth].Type == "hmac")
	r.pipeline = r.compilePipeline(rc)
	r.requests = newStatusCounters(e.metrics, rc.Name)
	r.duration = e.metrics.GetOrCreatePrometheusHistogram(`sluice_request_duration_seconds{route="` + promlabel.Value(rc.Name) + `"}`)
	return r, errs
}

// pathParams lists the parameter names of a route pattern.
func pathParams(pattern string) []string {
	var out []string
	for _, seg := range strings.Split(pattern, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, strings.TrimSuffix(seg[1:len(seg)-1], "..."))
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// compilePipeline lists the stages of r in the order they run, following
// the contract's pipeline order: ip_filter → cors preflight → validate →
// auth → rate limit → cache → upstream → response transform → compress.
//
// The steps that act on the answer only (response_headers, compress) are
// Finishers placed before (response_headers) or right after (compress) the
// cache, so that they run in the order they always have: compress on the
// way back from the upstream, before the cache stores the answer (the cache
// keys entries by Accept-Encoding class, so a hit costs no compression), and
// the response transform after the cache, on hits too. The upstream step is
// chosen here, once: proxy, aggregate, grpc method, gRPC pass-through, or
// WebSocket-or-proxy. rc must be the configuration r was compiled from.
func (r *route) compilePipeline(rc *config.Route) *pipeline.Pipeline {
	var st []pipeline.Stage
	if r.edge.ipFilter != nil {
		st = append(st, r.edge.ipFilter)
	}
	if r.edge.cors != nil {
		st = append(st, r.edge.cors)
	}
	if r.validate != nil {
		st = append(st, r.validate)
	}
	if r.auth != nil {
		st = append(st, r.auth)
	}
	if r.limits != nil {
		st = append(st, r.limits)
	}
	st = append(st, r.target())
	if rc.ResponseHeaders != nil {
		st = append(st, &responseHeaders{ops: r.responseHeaders})
	}
	if r.cache != nil {
		st = append(st, &cacheStage{c: r.cache})
	}
	if r.edge.compress != nil {
		st = append(st, &compressStage{p: r.edge.compress})
	}
	if r.grpcPass != nil {
		st = append(st, grpcPassCheck{})
	}
	st = append(st, prepareStage{})
	if rc.RequestHeaders != nil {
		st = append(st, &requestHeaders{ops: r.requestHeaders})
	}
	st = append(st, r.terminal(upstreamName(rc)))
	return pipeline.New(st...)
}

// upstreamName is how GET /routes names the upstream step of rc.
func upstreamName(rc *config.Route) string {
	switch {
	case rc.Aggregate != nil:
		return "aggregate"
	case rc.GRPCMethod != "":
		return "grpc"
	case rc.WebSocket:
		return "websocket"
	case rc.Split != nil:
		return "split"
	}
	return "proxy"
}

func compileHeaderOps(c *config.HeaderOps, path string) (headerOps, config.Errors) {
	var errs config.Errors
	var ops headerOps
	if c == nil {
		return ops, nil
	}
	for _, k := range sortedKeys(c.Set) {
		if !httpbytes.ValidToken(k) {
			errs.Add(config.Join(config.Join(path, "set"), k), "invalid header name")
			continue
		}
		ops.set = append(ops.set, [2]string{k, c.Set[k]})
	}
	for i, k := range c.Remove {
		if !httpbytes.ValidToken(k) {
			errs.Add(config.Index(config.Join(path, "remove"), i), "invalid header name %q", k)
			continue
		}
		ops.remove = append(ops.remove, k)
	}
	return ops, errs
}
