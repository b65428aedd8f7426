package engine

import (
	"errors"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/cache"
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/forward"
	"github.com/sluice-gw/sluice/engine/tlsconf"
	"github.com/sluice-gw/sluice/engine/tracing"
	"github.com/sluice-gw/sluice/engine/wsproxy"
)

// The compile step. Only the files named compile*.go read the configuration
// (package engine/config): they check it, report every problem with its JSON
// path, and translate it into the compiled values the rest of the package
// runs on — the routes and their stages, the services, the server settings,
// the /routes document. Everything else in the package works on those
// compiled values only; a running Engine holds no config.

// Load parses and compiles a config file's bytes, reporting every problem of
// both steps in one list. A compile problem under a path that already failed
// to decode is left out: it would only repeat the first.
func Load(data []byte) (*Engine, config.Errors) {
	cfg, err := config.Parse(data)
	var parseErrs config.Errors
	if err != nil && !errors.As(err, &parseErrs) {
		return nil, config.Errors{config.Errorf("", "%v", err)}
	}
	if cfg == nil {
		return nil, parseErrs
	}
	e, errs := Compile(cfg)
	if len(parseErrs) == 0 {
		return e, errs
	}
	if e != nil {
		e.Close()
	}
	all := parseErrs
	for _, ce := range errs {
		repeated := false
		for _, pe := range parseErrs {
			repeated = repeated || ce.Path == pe.Path || strings.HasPrefix(ce.Path, pe.Path+".") || strings.HasPrefix(ce.Path, pe.Path+"[")
		}
		if !repeated {
			all = append(all, ce)
		}
	}
	return nil, all
}

// LoadFile is Load for a file name.
func LoadFile(name string) (*Engine, config.Errors) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, config.Errors{config.Errorf("", "read config: %v", err)}
	}
	return Load(data)
}

// Compile turns a decoded config into an Engine, reporting every problem it
// finds with its JSON path. The returned engine is not started.
func Compile(cfg *config.Config) (*Engine, config.Errors) {
	var errs config.Errors
	e := &Engine{configSHA256: cfg.SHA256, metrics: metrics.NewSet()}
	e.proxyErrors = newProxyErrors(e.metrics)
	errs = append(errs, e.compileServer(&cfg.Server)...)

	services, es := compileServices(cfg, e.metrics)
	errs = append(errs, es...)
	e.services = services

	authSet, es := compileAuth(cfg, e.metrics)
	errs = append(errs, es...)
	e.auth = authSet

	limits, es := compileRateLimits(cfg, e.metrics)
	errs = append(errs, es...)
	e.limits = limits

	grpcSet, es := compileGRPC(cfg, e.services)
	errs = append(errs, es...)
	e.grpc = grpcSet

	store, err := cache.New(e.server.cacheMaxBytes, e.metrics)
	if err != nil {
		errs.Add("server.cache_max_bytes", "%v", err)
	}
	e.cache = store

	errs = append(errs, e.compileRoutes(cfg)...)

	tracer, err := tracing.New(tracingOptions(cfg.Tracing), e.metrics)
	errs.Merge("tracing", err)
	e.tracer = tracer

	if len(errs) > 0 {
		e.closeStores()
		return nil, errs
	}
	e.pool.New = newScratch
	e.routesDoc = routesDocument(cfg, e.routes, e.services)
	e.unmatched = newStatusCounters(e.metrics, "unmatched")
	e.unmatchedD = e.metrics.GetOrCreatePrometheusHistogram(`sluice_request_duration_seconds{route="unmatched"}`)
	e.metrics.GetOrCreateGauge(`sluice_config_info{sha256="`+cfg.SHA256+`"}`, func() float64 { return 1 })
	e.metrics.GetOrCreateGauge(`sluice_websocket_tunnels`, func() float64 {
		n := 0
		for _, svc := range e.services {
			n += wsproxy.Open(svc)
		}
		return float64(n)
	})
	return e, nil
}

func (e *Engine) compileServer(s *config.Server) config.Errors {
	var errs config.Errors
	st := serverSettings{
		listen: s.Listen, adminListen: s.AdminListen,
		readTimeout: s.ReadTimeout.D(), writeTimeout: s.WriteTimeout.D(), idleTimeout: s.IdleTimeout.D(),
		maxHeaderBytes: s.MaxHeaderBytes, maxBodyBytes: s.MaxBodyBytes,
		drainDelay: s.DrainDelay.D(), shutdownTimeout: s.ShutdownTimeout.D(),
		cacheMaxBytes: s.CacheMaxBytes, accessLog: s.AccessLog,
		http2: s.HTTP2 == nil || *s.HTTP2, adminPprof: s.AdminPprof,
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if st.listen == "" {
		st.listen = DefaultListen
	}
	def(&st.readTimeout, DefaultReadTimeout)
	def(&st.writeTimeout, DefaultWriteTimeout)
	def(&st.idleTimeout, DefaultIdleTimeout)
	def(&st.shutdownTimeout, DefaultShutdownTimeout)
	positive := func(v *int, key string, d int) {
		if *v < 0 {
			errs.Add(config.Join("server", key), "must not be negative")
		}
		if *v <= 0 {
			*v = d
		}
	}
	positive(&st.maxHeaderBytes, "max_header_bytes", DefaultMaxHeaderBytes)
	positive(&st.maxBodyBytes, "max_body_bytes", DefaultMaxBodyBytes)
	if st.maxHeaderBytes > 0 && st.maxHeaderBytes < 256 {
		errs.Add("server.max_header_bytes", "must be at least 256")
	}
	if st.cacheMaxBytes < 0 {
		errs.Add("server.cache_max_bytes", "must not be negative")
	}
	if st.cacheMaxBytes <= 0 {
		st.cacheMaxBytes = DefaultCacheMaxBytes
	}
	if !validHostPort(st.listen) {
		errs.Add("server.listen", "invalid address %q (want host:port)", st.listen)
	}
	if st.adminListen != "" && !validHostPort(st.adminListen) {
		errs.Add("server.admin_listen", "invalid address %q (want host:port)", st.adminListen)
	}
	switch {
	case st.accessLog == "", st.accessLog == "stdout", st.accessLog == "off":
	case strings.HasPrefix(st.accessLog, "/"):
		if err := checkLogPath(st.accessLog); err != nil {
			errs.Add("server.access_log", "%v", err)
		}
	default:
		errs.Add("server.access_log", "want \"stdout\", \"off\" or an absolute file path, got %q", st.accessLog)
	}
	var prefixes []netip.Prefix
	for i, c := range s.TrustedProxies {
		pfx, err := forward.ParseTrusted(c)
		if err != nil {
			errs.Add(config.Index("server.trusted_proxies", i), "%v", err)
			continue
		}
		prefixes = append(prefixes, pfx)
	}
	proxies := forward.NewProxies(prefixes)
	e.proxies = proxies
	ls, lerrs := compileListener(s)
	errs = append(errs, lerrs...)
	st.listener = ls
	if s.TLS != nil {
		cfg, err := tlsconf.Server(serverTLSOptions(s.TLS, "server.tls"))
		errs.Merge("server.tls", err)
		e.tls = cfg
	}
	e.server = st
	return errs
}

func validHostPort(s string) bool {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return false
	}
	p, err := strconv.Atoi(s[i+1:])
	return err == nil && p >= 0 && p <= 65535
}

// compileListener validates server.proxy_protocol and server.reuse_port.
func compileListener(s *config.Server) (listenerSettings, config.Errors) {
	var errs config.Errors
	ls := listenerSettings{reusePort: s.ReusePort}
	switch s.ProxyProtocol {
	case "", "off":
	case "optional":
		ls.proxy = proxyOptional
	case "required":
		ls.proxy = proxyRequired
	default:
		errs.Add("server.proxy_protocol", "must be off, optional or required, got %q", s.ProxyProtocol)
	}
	if ls.proxy != proxyOff && len(s.TrustedProxies) == 0 {
		errs.Add("server.proxy_protocol", "needs server.trusted_proxies: a PROXY header is believed only from a trusted balancer")
	}
	if ls.reusePort && !reusePortSupported {
		errs.Add("server.reuse_port", "SO_REUSEPORT is not supported on this platform")
	}
	return ls, errs
}
