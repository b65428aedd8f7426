// Package config holds the decoded shape of sluice's JSON configuration file and
// the strict loader that turns a file into it.
//
// Nothing on the request path reads these types: the engine compiles them once
// into immutable runtime structures. Every problem found while loading is
// reported as an *Error carrying the JSON path of the offending value.
package config

// Config is the whole configuration file.
type Config struct {
	// Schema is the optional top-level "$schema" that points an editor at
	// the output of `sluice schema`; sluice ignores its value.
	Schema     string                `json:"$schema"`
	Server     Server                `json:"server"`
	Cluster    Cluster               `json:"cluster"`
	Services   map[string]*Service   `json:"services"`
	Auth       map[string]*Auth      `json:"auth"`
	RateLimits map[string]*RateLimit `json:"rate_limits"`
	Routes     []*Route              `json:"routes"`
	Tracing    *Tracing              `json:"tracing"`

	// SHA256 is the lower-case hex SHA-256 of the file's bytes (not part of the JSON).
	SHA256 string `json:"-"`
	// Order lists the keys of Services, Auth and RateLimits in file order, so
	// that messages and compiled tables are deterministic.
	Order KeyOrder `json:"-"`
}

// KeyOrder remembers the order in which map keys appeared in the file.
type KeyOrder struct {
	Services   []string
	Auth       []string
	RateLimits []string
}

// Server configures the client-facing listener and process-wide settings.
type Server struct {
	Listen          string     `json:"listen"`
	AdminListen     string     `json:"admin_listen"`
	ReadTimeout     Duration   `json:"read_timeout"`
	WriteTimeout    Duration   `json:"write_timeout"`
	IdleTimeout     Duration   `json:"idle_timeout"`
	MaxHeaderBytes  int        `json:"max_header_bytes"`
	MaxBodyBytes    int        `json:"max_body_bytes"`
	DrainDelay      Duration   `json:"drain_delay"`
	ShutdownTimeout Duration   `json:"shutdown_timeout"`
	TrustedProxies  []string   `json:"trusted_proxies"`
	TLS             *ServerTLS `json:"tls"`
	CacheMaxBytes   int64      `json:"cache_max_bytes"`
	AccessLog       string     `json:"access_log"`
	// ProxyProtocol is "off" (default), "optional" or "required".
	ProxyProtocol string `json:"proxy_protocol"`
	// ReusePort binds the client listener with SO_REUSEPORT.
	ReusePort bool `json:"reuse_port"`
	// HTTP2 offers h2 by ALPN on a TLS listener; nil means the default (true).
	HTTP2 *bool `json:"http2"`
	// AdminPprof serves /debug/pprof/ on the admin listener.
	AdminPprof bool `json:"admin_pprof"`
}

// ServerTLS configures TLS termination on the client listener.
type ServerTLS struct {
	Certificates []Certificate `json:"certificates"`
	ClientCAFile string        `json:"client_ca_file"`
	ClientAuth   string        `json:"client_auth"`
}

// Certificate is one certificate/key pair in PEM files.
type Certificate struct {
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
}

// Cluster describes the fleet this instance belongs to, for cluster-scoped quotas.
type Cluster struct {
	Instances int    `json:"instances"`
	Redis     *Redis `json:"redis"`
}

// Redis configures the shared quota store.
type Redis struct {
	Addr string `json:"addr"`
	// Addrs with MasterName selects Redis Sentinel, without it Redis Cluster.
	Addrs        []string `json:"addrs"`
	MasterName   string   `json:"master_name"`
	SyncInterval Duration `json:"sync_interval"`
	KeyPrefix    string   `json:"key_prefix"`
	Password     string   `json:"password"`
	PasswordEnv  string   `json:"password_env"`
}

// Service is a named upstream: a set of targets and how to reach them.
type Service struct {
	Protocol          string          `json:"protocol"`
	Targets           []Target        `json:"targets"`
	Balancer          string          `json:"balancer"`
	Timeout           Duration        `json:"timeout"`
	TryTimeout        Duration        `json:"try_timeout"`
	ConnectTimeout    Duration        `json:"connect_timeout"`
	MaxConnsPerTarget int             `json:"max_conns_per_target"`
	Pipelining        int             `json:"pipelining"`
	Retries           *int            `json:"retries"`
	HealthCheck       *HealthCheck    `json:"health_check"`
	CircuitBreaker    *CircuitBreaker `json:"circuit_breaker"`
	TLS               *ServiceTLS     `json:"tls"`
	DescriptorSet     string          `json:"descriptor_set"`
}

// Target is one upstream address; in JSON either "host:port" or {"addr": ..., "weight": n}.
type Target struct {
	Addr   string `json:"addr"`
	Weight int    `json:"weight"`
}

// HealthCheck configures active health checking of a service's targets.
type HealthCheck struct {
	Path           string   `json:"path"`
	Interval       Duration `json:"interval"`
	Timeout        Duration `json:"timeout"`
	HealthyAfter   int      `json:"healthy_after"`
	UnhealthyAfter int      `json:"unhealthy_after"`
}

// CircuitBreaker configures the per-target circuit breaker of a service.
type CircuitBreaker struct {
	Window       Duration  `json:"window"`
	MinRequests  *int      `json:"min_requests"`
	FailureRatio *float64  `json:"failure_ratio"`
	OpenFor      Duration  `json:"open_for"`
	Fallback     *Fallback `json:"fallback"`
}

// Fallback is the answer a service gives while every target's circuit is open.
type Fallback struct {
	Status int `json:"status"`
	// Body is the JSON value sent verbatim.
	Body RawJSON `json:"body"`
}

// ServiceTLS configures TLS towards an https upstream.
type ServiceTLS struct {
	CAFile     string `json:"ca_file"`
	ServerName string `json:"server_name"`
	CertFile   string `json:"cert_file"`
	KeyFile    string `json:"key_file"`
}

// Auth is one named authentication policy. Type selects which fields apply.
type Auth struct {
	Type string `json:"type"`

	// jwt
	Algorithms    []string          `json:"algorithms"`
	JWKSFile      string            `json:"jwks_file"`
	JWKSURL       string            `json:"jwks_url"`
	JWKSRefresh   Duration          `json:"jwks_refresh"`
	Secret        string            `json:"secret"`
	SecretEnv     string            `json:"secret_env"`
	Issuer        string            `json:"issuer"`
	Audience      []string          `json:"audience"`
	Leeway        Duration          `json:"leeway"`
	ForwardClaims map[string]string `json:"forward_claims"`

	// api_key
	Header string `json:"header"`
	// Keys maps a key name to "sha256:<hex>" for api_key; for hmac see HMACKeys.
	Keys RawJSON `json:"keys"`

	// hmac
	MaxSkew Duration `json:"max_skew"`
}

// HMACKey is one shared secret of an hmac policy.
type HMACKey struct {
	Secret    string `json:"secret"`
	SecretEnv string `json:"secret_env"`
}

// RateLimit is one named rate-limit policy.
type RateLimit struct {
	Key      string   `json:"key"`
	Requests int      `json:"requests"`
	Per      Duration `json:"per"`
	Burst    int      `json:"burst"`
	Scope    string   `json:"scope"`
}

// Route is one entry of the route table.
type Route struct {
	Name            string            `json:"name"`
	Path            string            `json:"path"`
	Methods         []string          `json:"methods"`
	Host            string            `json:"host"`
	Headers         map[string]string `json:"headers"`
	Service         string            `json:"service"`
	StripPrefix     string            `json:"strip_prefix"`
	Rewrite         string            `json:"rewrite"`
	Auth            string            `json:"auth"`
	Scopes          []string          `json:"scopes"`
	RateLimits      []string          `json:"rate_limits"`
	Cache           *Cache            `json:"cache"`
	Validate        *Validate         `json:"validate"`
	RequestHeaders  *HeaderOps        `json:"request_headers"`
	ResponseHeaders *HeaderOps        `json:"response_headers"`
	Aggregate       *Aggregate        `json:"aggregate"`
	GRPCMethod      string            `json:"grpc_method"`
	WebSocket       bool              `json:"websocket"`
	CORS            *CORS             `json:"cors"`
	IPFilter        *IPFilter         `json:"ip_filter"`
	Compress        bool              `json:"compress"`
	Split           *Split            `json:"split"`
}

// CORS answers preflights at the edge and marks answers for allowed origins.
type CORS struct {
	AllowOrigins     []string `json:"allow_origins"`
	AllowMethods     []string `json:"allow_methods"`
	AllowHeaders     []string `json:"allow_headers"`
	ExposeHeaders    []string `json:"expose_headers"`
	AllowCredentials bool     `json:"allow_credentials"`
	MaxAge           Duration `json:"max_age"`
}

// IPFilter allows or denies client addresses by CIDR.
type IPFilter struct {
	Allow []string `json:"allow"`
	Deny  []string `json:"deny"`
}

// Split sends a share of a route's requests to other services.
type Split struct {
	By       string         `json:"by"`
	Services []SplitService `json:"services"`
}

// SplitService is one side of a split and its share in percent.
type SplitService struct {
	Service string `json:"service"`
	// Percent is required; 0 is allowed (a side that gets nothing).
	Percent *float64 `json:"percent"`
}

// Tracing exports spans over OTLP/HTTP.
type Tracing struct {
	OTLPEndpoint string   `json:"otlp_endpoint"`
	SampleRatio  *float64 `json:"sample_ratio"`
	ServiceName  string   `json:"service_name"`
}

// Cache configures response caching for a route.
type Cache struct {
	TTL          Duration `json:"ttl"`
	Vary         []string `json:"vary"`
	PerConsumer  bool     `json:"per_consumer"`
	StaleIfError Duration `json:"stale_if_error"`
}

// Validate configures request validation for a route.
type Validate struct {
	RequiredHeaders []string `json:"required_headers"`
	JSONBody        bool     `json:"json_body"`
	JSONSchemaFile  string   `json:"json_schema_file"`
}

// HeaderOps sets and removes headers.
type HeaderOps struct {
	Set    map[string]string `json:"set"`
	Remove []string          `json:"remove"`
}

// Aggregate fans a request out to several backends and merges their JSON answers.
type Aggregate struct {
	Timeout  Duration  `json:"timeout"`
	Backends []Backend `json:"backends"`
}

// Backend is one call of an aggregate route.
type Backend struct {
	Service  string   `json:"service"`
	Path     string   `json:"path"`
	Key      string   `json:"key"`
	Optional bool     `json:"optional"`
	Timeout  Duration `json:"timeout"`
	Allow    []string `json:"allow"`
}
