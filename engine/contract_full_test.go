package engine_test

import (
	"path/filepath"
	"testing"

	"github.com/sluice-gw/sluice/engine/tlsconf/tlstest"
)

// TestContractWholeExampleCompiles takes the contract's example config key
// for key (the first alternative wherever it lists several, files and
// environment variables provided) and checks that it compiles: black-box
// tests feed it to `sluice check` as it stands.
func TestContractWholeExampleCompiles(t *testing.T) {
	ca := tlstest.NewCA(t, "contract-ca")
	srv := ca.Server(t, []string{"localhost"}, tlstest.Options{})
	t.Setenv("CONTRACT_JWT_SECRET", "0123456789abcdef0123456789abcdef")
	t.Setenv("SVC_A_SECRET", "svc-a-secret")
	protoset, _ := filepath.Abs("../configs/catalog.protoset")
	errs := compileErrors(t, cfgf(`{
  "server": {
    "listen": "127.0.0.1:0",
    "admin_listen": "127.0.0.1:0",
    "read_timeout": "10s", "write_timeout": "10s", "idle_timeout": "60s",
    "max_header_bytes": 8192, "max_body_bytes": 1048576,
    "drain_delay": "0s", "shutdown_timeout": "15s",
    "trusted_proxies": ["127.0.0.1/32"],
    "tls": {"certificates": [{"cert_file": %q, "key_file": %q}], "client_ca_file": %q, "client_auth": "request"},
    "cache_max_bytes": 67108864,
    "access_log": "off",
    "proxy_protocol": "off",
    "reuse_port": false,
    "http2": true,
    "admin_pprof": false
  },
  "cluster": {
    "instances": 1,
    "redis": {"addr": "127.0.0.1:6379", "addrs": [], "master_name": "",
              "sync_interval": "50ms", "key_prefix": "sluice:"}
  },
  "tracing": {"otlp_endpoint": "http://127.0.0.1:4318/v1/traces", "sample_ratio": 0.01,
              "service_name": "sluice"},
  "services": {
    "catalog": {
      "protocol": "http",
      "targets": ["127.0.0.1:9001", {"addr": "127.0.0.1:9011", "weight": 2}],
      "balancer": "round_robin",
      "timeout": "2s", "try_timeout": "2s", "connect_timeout": "500ms", "max_conns_per_target": 512,
      "retries": 1,
      "health_check": {"path": "/healthz", "interval": "2s", "timeout": "500ms", "healthy_after": 2, "unhealthy_after": 3},
      "circuit_breaker": {"window": "10s", "min_requests": 20, "failure_ratio": 0.5, "open_for": "5s",
                          "fallback": {"status": 503, "body": {"message": "catalog unavailable"}}},
      "tls": {"ca_file": "", "server_name": "", "cert_file": "", "key_file": ""},
      "descriptor_set": %q
    },
    "catalog-v2": {"targets": ["127.0.0.1:9002"]}
  },
  "auth": {
    "users": {"type": "jwt", "algorithms": ["RS256", "ES256", "EdDSA", "HS256"],
              "jwks_file": "", "jwks_url": "", "jwks_refresh": "5m", "secret_env": "CONTRACT_JWT_SECRET",
              "issuer": "https://issuer.example", "audience": ["shop"], "leeway": "30s",
              "forward_claims": {"sub": "X-User-Id"}},
    "partners": {"type": "api_key", "header": "X-API-Key",
                 "keys": {"acme": "sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"}},
    "signed": {"type": "hmac", "keys": {"svc-a": {"secret_env": "SVC_A_SECRET"}}, "max_skew": "5m"},
    "machines": {"type": "mtls"}
  },
  "rate_limits": {
    "per-user": {"key": "claim:sub", "requests": 1000, "per": "1m", "burst": 1000, "scope": "instance"},
    "per-ip":   {"key": "ip", "requests": 50, "per": "1s", "burst": 100, "scope": "cluster"}
  },
  "routes": [
    {
      "name": "product",
      "path": "/api/products/{sku}",
      "methods": ["GET", "HEAD"],
      "host": "", "headers": {"API-Version": "2"},
      "service": "catalog",
      "strip_prefix": "/api", "rewrite": "",
      "auth": "users", "scopes": ["products:read"],
      "rate_limits": ["per-user", "per-ip"],
      "cache": {"ttl": "30s", "vary": ["Accept-Language"], "per_consumer": false, "stale_if_error": "5m"},
      "validate": {"required_headers": ["X-Client"], "json_body": true, "json_schema_file": ""},
      "request_headers": {"set": {}, "remove": []},
      "response_headers": {"set": {}, "remove": []},
      "aggregate": null,
      "grpc_method": "",
      "websocket": false,
      "cors": {"allow_origins": ["https://app.example"], "allow_methods": ["GET"],
               "allow_headers": ["Authorization"], "expose_headers": [],
               "allow_credentials": false, "max_age": "10m"},
      "ip_filter": {"allow": ["10.0.0.0/8"], "deny": ["10.6.6.0/24"]},
      "compress": false,
      "split": {"by": "random",
                "services": [{"service": "catalog-v2", "percent": 5}]}
    }
  ]
}`, srv.CertFile, srv.KeyFile, ca.CertFile, protoset))
	if len(errs) > 0 {
		t.Fatalf("the contract's whole example does not compile:\n%v", errs)
	}
}
