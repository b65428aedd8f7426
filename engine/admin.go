package engine

import (
	"bytes"
	"net/http/pprof"
	"sort"

	"github.com/VictoriaMetrics/metrics"
	json "github.com/goccy/go-json"
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/forward"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// Go's profiles under /debug/pprof/ on the admin listener, for finding where
// a gateway's time goes under real load.
var (
	pprofIndex = fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Index)
	pprofCPU   = fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Profile)
)

// handleAdmin serves the admin listener: /healthz, /readyz, /metrics, /routes.
func (e *Engine) handleAdmin(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/healthz":
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"status":"ok"}` + "\n")
	case "/readyz":
		ctx.SetContentType("application/json")
		if e.Ready() {
			ctx.SetBodyString(`{"status":"ready"}` + "\n")
			return
		}
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		if e.draining.Load() {
			ctx.SetBodyString(`{"status":"draining"}` + "\n")
		} else {
			ctx.SetBodyString(`{"status":"starting"}` + "\n")
		}
	case "/metrics":
		ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
		metrics.WritePrometheus(ctx, true)
	case "/routes":
		ctx.SetContentType("application/json")
		body, err := json.MarshalIndent(e.describe(), "", "  ")
		if err != nil {
			ctx.SetStatusCode(500)
			return
		}
		ctx.SetBody(append(body, '\n'))
	default:
		if string(ctx.Path()) == "/debug/pprof/profile" {
			pprofCPU(ctx)
			return
		}
		if bytes.HasPrefix(ctx.Path(), []byte("/debug/pprof/")) {
			pprofIndex(ctx)
			return
		}
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"error":{"status":404,"code":"not_found","message":"unknown admin endpoint"}}` + "\n")
	}
}

type routeInfo struct {
	Name            string            `json:"name"`
	Path            string            `json:"path"`
	Methods         []string          `json:"methods"`
	Host            string            `json:"host,omitempty"`
	Headers         map[string]string `json:"headers,omitempty"`
	Service         string            `json:"service,omitempty"`
	StripPrefix     string            `json:"strip_prefix,omitempty"`
	Rewrite         string            `json:"rewrite,omitempty"`
	Auth            string            `json:"auth,omitempty"`
	Scopes          []string          `json:"scopes,omitempty"`
	RateLimits      []string          `json:"rate_limits,omitempty"`
	Cache           *config.Cache     `json:"cache,omitempty"`
	Validate        *config.Validate  `json:"validate,omitempty"`
	RequestHeaders  *config.HeaderOps `json:"request_headers,omitempty"`
	ResponseHeaders *config.HeaderOps `json:"response_headers,omitempty"`
	Aggregate       *config.Aggregate `json:"aggregate,omitempty"`
	CORS            *config.CORS      `json:"cors,omitempty"`
	IPFilter        *config.IPFilter  `json:"ip_filter,omitempty"`
	Compress        bool              `json:"compress,omitempty"`
	Split           *config.Split     `json:"split,omitempty"`
}

type serviceInfo struct {
	Protocol string   `json:"protocol"`
	Balancer string   `json:"balancer"`
	Targets  []string `json:"targets"`
	Timeout  string   `json:"timeout"`
	Retries  int      `json:"retries"`
}

// describe is the /routes document: the compiled route table with the
// config's hash. Secrets never appear: auth policies show only their type.
func (e *Engine) describe() any {
	routes := make([]routeInfo, 0, len(e.cfg.Routes))
	for _, rc := range e.cfg.Routes {
		methods := rc.Methods
		if len(methods) == 0 {
			methods = []string{"*"}
		}
		routes = append(routes, routeInfo{
			Name: rc.Name, Path: rc.Path, Methods: methods, Host: rc.Host, Headers: rc.Headers,
			Service: rc.Service, StripPrefix: rc.StripPrefix, Rewrite: rc.Rewrite,
			Auth: rc.Auth, Scopes: rc.Scopes, RateLimits: rc.RateLimits, Cache: rc.Cache,
			Validate: rc.Validate, RequestHeaders: rc.RequestHeaders, ResponseHeaders: rc.ResponseHeaders,
			Aggregate: rc.Aggregate,
			CORS:      rc.CORS, IPFilter: rc.IPFilter, Compress: rc.Compress, Split: rc.Split,
		})
	}
	services := map[string]serviceInfo{}
	for name, svc := range e.services {
		c := e.cfg.Services[name]
		info := serviceInfo{Protocol: c.Protocol, Balancer: c.Balancer, Timeout: svc.Timeout.String(), Retries: svc.Retries}
		if info.Protocol == "" {
			info.Protocol = "http"
		}
		if info.Balancer == "" {
			info.Balancer = "round_robin"
		}
		for _, t := range svc.Targets() {
			info.Targets = append(info.Targets, t.Addr)
		}
		services[name] = info
	}
	auth := map[string]string{}
	for name, a := range e.cfg.Auth {
		auth[name] = a.Type
	}
	names := make([]string, 0, len(auth))
	for n := range auth {
		names = append(names, n)
	}
	sort.Strings(names)
	return map[string]any{
		"config_sha256": e.cfg.SHA256,
		"routes":        routes,
		"services":      services,
		"auth":          auth,
		"rate_limits":   e.cfg.RateLimits,
	}
}

func forwardRequestID() []byte { return forward.AppendRequestID(nil) }
