// Package cors is the CORS stage of a route: it answers preflight requests
// at the edge and marks answers for allowed origins.
//
// A preflight is an OPTIONS request carrying Origin and
// Access-Control-Request-Method. For an allowed origin it is answered with
// 204 and the Access-Control-Allow-* headers, without touching the upstream;
// from any other origin it gets 403 forbidden. Every other request from an
// allowed origin goes on through the pipeline and its answer (the upstream's,
// a cache hit or a gateway error) gets Access-Control-Allow-Origin and,
// when configured, -Credentials and -Expose-Headers. Every answer of a CORS
// route has Vary: Origin. Header values are built once at compile time.
package cors

import (
	"strconv"
	"strings"
	"time"

	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/fielderr"
	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

// Header names.
const (
	HeaderOrigin           = "Origin"
	HeaderRequestMethod    = "Access-Control-Request-Method"
	HeaderRequestHeaders   = "Access-Control-Request-Headers"
	HeaderAllowOrigin      = "Access-Control-Allow-Origin"
	HeaderAllowMethods     = "Access-Control-Allow-Methods"
	HeaderAllowHeaders     = "Access-Control-Allow-Headers"
	HeaderAllowCredentials = "Access-Control-Allow-Credentials"
	HeaderExposeHeaders    = "Access-Control-Expose-Headers"
	HeaderMaxAge           = "Access-Control-Max-Age"
)

// DefaultMaxAge is sent when max_age is not set: the browsers' own default,
// so leaving it out changes nothing but makes the answer explicit.
const DefaultMaxAge = 5 * time.Second

// defaultMethods are allowed when neither allow_methods nor the route's
// methods name any.
const defaultMethods = "GET, HEAD, PUT, PATCH, POST, DELETE"

// Policy is a route's compiled cors block.
type Policy struct {
	anyOrigin   bool
	origins     []string  // exact origins, lower case
	suffixes    []pattern // https://*.example.com
	credentials bool

	allowMethods  string
	allowHeaders  string // empty: echo Access-Control-Request-Headers
	exposeHeaders string
	maxAge        string
}

// pattern is an origin with a wildcard first label: scheme "https://" and
// suffix ".example.com" (port included, when given).
type pattern struct{ scheme, suffix string }

var knownMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
	"DELETE": true, "OPTIONS": true, "TRACE": true, "CONNECT": true,
}

// Options are a route's cors block.
type Options struct {
	// AllowOrigins are "*", "null", scheme://host[:port] or
	// scheme://*.domain; none allows any origin.
	AllowOrigins []string
	// AllowMethods are answered to preflights; none: the route's methods
	// (or, when the route names none, defaultMethods).
	AllowMethods []string
	// AllowHeaders are answered to preflights; none: the preflight's
	// Access-Control-Request-Headers are echoed.
	AllowHeaders []string
	// ExposeHeaders are the answer headers a page may read.
	ExposeHeaders []string
	// AllowCredentials lets pages send cookies; it needs listed origins.
	AllowCredentials bool
	// MaxAge is how long a browser may keep a preflight's answer (rounded
	// up to seconds); 0 means DefaultMaxAge.
	MaxAge time.Duration
}

// New compiles o for a route allowing routeMethods (empty: every method).
// Its problems are a fielderr.List with paths relative to o
// ("allow_origins[1]").
func New(o Options, routeMethods []string) (*Policy, error) {
	var errs fielderr.List
	p := &Policy{credentials: o.AllowCredentials}

	if len(o.AllowOrigins) == 0 {
		p.anyOrigin = true
	}
	for i, origin := range o.AllowOrigins {
		switch {
		case origin == "*":
			p.anyOrigin = true
		case origin == "null":
			p.origins = append(p.origins, origin)
		default:
			scheme, host, ok := splitOrigin(origin)
			if !ok {
				errs.Add(fielderr.Index("allow_origins", i), `want "*" or scheme://host[:port] (optionally scheme://*.domain), got %q`, origin)
				continue
			}
			if strings.HasPrefix(host, "*.") {
				p.suffixes = append(p.suffixes, pattern{scheme: strings.ToLower(scheme) + "://", suffix: strings.ToLower(host[1:])})
				continue
			}
			p.origins = append(p.origins, strings.ToLower(origin))
		}
	}
	if p.anyOrigin && p.credentials {
		errs.Add("allow_credentials", `cannot be true with a wildcard origin ("*" or no allow_origins): browsers refuse it; list the origins`)
	}

	methods := o.AllowMethods
	if len(methods) == 0 {
		methods = routeMethods
	}
	var ms []string
	for i, m := range methods {
		switch {
		case m == "*" && len(o.AllowMethods) > 0:
			if p.credentials {
				errs.Add(fielderr.Index("allow_methods", i), `"*" is taken literally by browsers when credentials are allowed: list the methods`)
			}
		case !knownMethods[m]:
			if len(o.AllowMethods) > 0 {
				errs.Add(fielderr.Index("allow_methods", i), "unknown method %q (use upper case)", m)
			}
			continue
		}
		ms = appendOnce(ms, m)
		if m == "GET" {
			ms = appendOnce(ms, "HEAD")
		}
	}
	p.allowMethods = strings.Join(ms, ", ")
	if p.allowMethods == "" {
		p.allowMethods = defaultMethods
	}
	p.allowHeaders = headerList(o.AllowHeaders, "allow_headers", p.credentials, &errs)
	p.exposeHeaders = headerList(o.ExposeHeaders, "expose_headers", p.credentials, &errs)

	maxAge := o.MaxAge
	switch {
	case maxAge < 0:
		errs.Add("max_age", "must not be negative")
	case maxAge == 0:
		maxAge = DefaultMaxAge
	}
	p.maxAge = strconv.FormatInt(int64((maxAge+time.Second-1)/time.Second), 10)
	if len(errs) > 0 {
		return nil, errs
	}
	return p, nil
}

func appendOnce(list []string, s string) []string {
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}

func headerList(names []string, key string, credentials bool, errs *fielderr.List) string {
	var out []string
	for i, n := range names {
		switch {
		case n == "*":
			if credentials {
				errs.Add(fielderr.Index(key, i), `"*" is taken literally by browsers when credentials are allowed: list the headers`)
			}
		case !httpbytes.ValidToken(n):
			errs.Add(fielderr.Index(key, i), "invalid header name %q", n)
			continue
		}
		out = appendOnce(out, n)
	}
	return strings.Join(out, ", ")
}

// splitOrigin splits "scheme://host[:port]" (no path, no user info).
func splitOrigin(o string) (scheme, host string, ok bool) {
	i := strings.Index(o, "://")
	if i <= 0 {
		return "", "", false
	}
	scheme, host = o[:i], o[i+3:]
	for j := 0; j < len(scheme); j++ {
		c := scheme[j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", "", false
		}
	}
	if host == "" || strings.ContainsAny(host, "/?#@ \t") || strings.Count(host, "*") > 1 ||
		strings.Contains(host, "*") && !strings.HasPrefix(host, "*.") || host == "*." {
		return "", "", false
	}
	return scheme, host, true
}

// IsPreflight reports whether h is a CORS preflight: OPTIONS with Origin and
// Access-Control-Request-Method.
func IsPreflight(h *fasthttp.RequestHeader) bool {
	return string(h.Method()) == fasthttp.MethodOptions &&
		len(h.Peek(HeaderOrigin)) > 0 && len(h.Peek(HeaderRequestMethod)) > 0
}

// Allowed reports whether origin may read the route's answers.
func (p *Policy) Allowed(origin []byte) bool {
	if len(origin) == 0 {
		return false
	}
	if p.anyOrigin {
		return true
	}
	for _, o := range p.origins {
		if httpbytes.EqualFold(origin, o) {
			return true
		}
	}
	for _, s := range p.suffixes {
		n := len(origin)
		if n > len(s.scheme)+len(s.suffix) && httpbytes.EqualFold(origin[:len(s.scheme)], s.scheme) &&
			httpbytes.EqualFold(origin[n-len(s.suffix):], s.suffix) && noSlash(origin[len(s.scheme):n-len(s.suffix)]) {
			return true
		}
	}
	return false
}

func noSlash(b []byte) bool {
	for _, c := range b {
		if c == '/' || c == '@' {
			return false
		}
	}
	return true
}

// Name is the stage's name in GET /routes.
func (p *Policy) Name() string { return "cors" }

// Handle is Request as a pipeline stage: it answers preflights. (Respond
// runs on every answer of the route, the gateway's own included, so the
// engine calls it after the pipeline.)
func (p *Policy) Handle(x *pipeline.Exchange) pipeline.Verdict {
	if p.Request(x) {
		return pipeline.Next
	}
	return pipeline.Replied
}

// Request runs the stage before validate. A preflight is answered here (204,
// or 403 forbidden for an origin not allowed) and Request returns false; any
// other request goes on (true), with the Access-Control-Allow-Origin headers
// queued for its answer when its origin is allowed. A nil Policy does nothing.
func (p *Policy) Request(x *pipeline.Exchange) bool {
	if p == nil {
		return true
	}
	h := &x.Ctx.Request.Header
	origin := h.Peek(HeaderOrigin)
	if IsPreflight(h) {
		if !p.Allowed(origin) {
			return x.Fail(fault.Forbidden, "origin not allowed by the route's CORS policy")
		}
		resp := &x.Ctx.Response
		resp.SetStatusCode(fasthttp.StatusNoContent)
		rh := &resp.Header
		p.setOrigin(rh, origin)
		rh.Set(HeaderAllowMethods, p.allowMethods)
		if p.allowHeaders != "" {
			rh.Set(HeaderAllowHeaders, p.allowHeaders)
		} else if req := h.Peek(HeaderRequestHeaders); len(req) > 0 {
			rh.SetBytesV(HeaderAllowHeaders, req)
		}
		rh.Set(HeaderMaxAge, p.maxAge)
		return false
	}
	if !p.Allowed(origin) {
		return true
	}
	if p.anyOrigin {
		x.AddResponseHeaderString(HeaderAllowOrigin, "*")
	} else {
		x.AddResponseHeader(HeaderAllowOrigin, origin)
	}
	if p.credentials {
		x.AddResponseHeaderString(HeaderAllowCredentials, "true")
	}
	if p.exposeHeaders != "" {
		x.AddResponseHeaderString(HeaderExposeHeaders, p.exposeHeaders)
	}
	return true
}

func (p *Policy) setOrigin(rh *fasthttp.ResponseHeader, origin []byte) {
	if p.anyOrigin {
		rh.Set(HeaderAllowOrigin, "*")
	} else {
		rh.SetBytesV(HeaderAllowOrigin, origin)
	}
	if p.credentials {
		rh.Set(HeaderAllowCredentials, "true")
	}
}

// Respond adds Vary: Origin to every answer of the route (a shared cache
// must not hand one origin's answer to another). A nil Policy does nothing.
func (p *Policy) Respond(x *pipeline.Exchange) {
	if p == nil {
		return
	}
	pipeline.AddVary(&x.Ctx.Response.Header, HeaderOrigin)
}
