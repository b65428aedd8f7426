package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/grpcgw/grpctest"
	"github.com/sluice-gw/sluice/engine/pipeline"
)

// stagesFromConfig is how GET /routes listed a route's stages before they
// were compiled into a list, straight from the configuration: the golden
// reference that the names derived from the compiled pipeline must match.
func stagesFromConfig(rc *config.Route) []string {
	var st []string
	add := func(on bool, name string) {
		if on {
			st = append(st, name)
		}
	}
	add(rc.IPFilter != nil, "ip_filter")
	add(rc.CORS != nil, "cors")
	add(rc.Validate != nil, "validate")
	add(rc.Auth != "", "auth")
	add(len(rc.RateLimits) > 0, "rate_limit")
	add(rc.Cache != nil, "cache")
	add(rc.RequestHeaders != nil, "request_headers")
	st = append(st, upstreamName(rc))
	add(rc.ResponseHeaders != nil, "response_headers")
	add(rc.Compress, "compress")
	return st
}

// stageRoutes are routes of every kind with every combination of stages
// that matters for the order.
var stageRoutes = []string{
	`"service": "a"`,
	`"service": "a", "request_headers": {"set": {"X-A": "1"}}, "response_headers": {"remove": ["X-B"]}`,
	`"service": "a", "compress": true, "response_headers": {"set": {}}, "cache": {"ttl": "1s"}`,
	`"service": "a", "ip_filter": {"allow": ["10.0.0.0/8"]}, "cors": {"allow_origins": ["https://a.example"]},
	 "validate": {"required_headers": ["X-C"]}, "auth": "keys", "rate_limits": ["rl"], "cache": {"ttl": "1s"},
	 "request_headers": {"remove": ["X-D"]}, "response_headers": {"remove": ["X-E"]}, "compress": true,
	 "split": {"services": [{"service": "b", "percent": 10}]}`,
	`"service": "a", "split": {"services": [{"service": "b", "percent": 10}]}`,
	`"service": "a", "websocket": true, "compress": true, "ip_filter": {"deny": ["10.0.0.0/8"]}`,
	`"service": "a", "websocket": true, "split": {"services": [{"service": "b", "percent": 10}]}`,
	`"aggregate": {"backends": [{"service": "a", "path": "/x", "key": "x"}]}, "auth": "keys", "response_headers": {"remove": ["X-E"]}`,
	`"service": "g", "grpc_method": "catalog.v1.Catalog/GetProduct", "cache": {"ttl": "1s"}, "compress": true`,
	`"service": "g", "rate_limits": ["rl"], "request_headers": {"set": {"X-A": "1"}}`,
	`"service": "g", "split": {"services": [{"service": "g2", "percent": 10}]}, "compress": true`,
}

func TestStageNamesMatchConfig(t *testing.T) {
	protoset := filepath.Join(t.TempDir(), "catalog.protoset")
	if err := os.WriteFile(protoset, grpctest.CatalogProtoset(), 0o644); err != nil {
		t.Fatal(err)
	}
	var routes []string
	for i, extra := range stageRoutes {
		routes = append(routes, fmt.Sprintf(`{"name": "r%d", "path": "/r%d/{sku}", %s}`, i, i, extra))
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"a": {"targets": ["127.0.0.1:9"]}, "b": {"targets": ["127.0.0.1:9"]},
               "g": {"protocol": "grpc", "descriptor_set": %q, "targets": ["127.0.0.1:9"]},
               "g2": {"protocol": "grpc", "descriptor_set": %q, "targets": ["127.0.0.1:9"]}},
  "auth": {"keys": {"type": "api_key", "header": "X-Key", "keys": {"acme": "sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"}}},
  "rate_limits": {"rl": {"key": "ip", "requests": 10, "per": "1s"}},
  "routes": [%s]
}`, protoset, protoset, strings.Join(routes, ",\n"))))
	if err != nil {
		t.Fatal(err)
	}
	e, errs := Compile(cfg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	defer e.Close()
	for i, rc := range cfg.Routes {
		want := strings.Join(stagesFromConfig(rc), ",")
		if got := strings.Join(e.routes[i].stageNames(), ","); got != want {
			t.Errorf("route %d (%s): stages %s, want %s", i, stageRoutes[i], got, want)
		}
		stages := e.routes[i].pipeline.Stages()
		if _, ok := stages[len(stages)-1].(*targetStage); ok || stages[len(stages)-1].Name() == "" {
			t.Errorf("route %d: the pipeline does not end in an upstream stage", i)
		}
	}
	// One pinned in full, with the plumbing (unnamed) and the run order.
	var run []string
	for _, s := range e.routes[3].pipeline.Stages() {
		n := s.Name()
		if n == "" {
			n = fmt.Sprintf("%T", s)
		}
		if _, ok := s.(pipeline.Finisher); ok {
			n += "+finish"
		}
		run = append(run, n)
	}
	want := "ip_filter,cors,validate,auth,rate_limit,*engine.targetStage,response_headers+finish,cache+finish," +
		"compress+finish,engine.prepareStage,request_headers,split"
	if got := strings.Join(run, ","); got != want {
		t.Errorf("run order\n got %s\nwant %s", got, want)
	}
}
