package aggregate

import (
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/upstream"
)

// testService is one upstream service of a test: one target, the upstream
// defaults otherwise.
type testService struct {
	name, addr string
	timeout    time.Duration // 0: the upstream default
	noRetries  bool
}

// testServices compiles services with the upstream package.
//
// TODO(issue 15): build them with upstream's typed constructor once it has
// one; until then this is the one place these tests read engine/config.
func testServices(t testing.TB, services ...testService) map[string]*upstream.Service {
	t.Helper()
	cfg := &config.Config{Services: map[string]*config.Service{}}
	zero := 0
	for _, s := range services {
		c := &config.Service{Targets: []config.Target{{Addr: s.addr}}, Timeout: config.Duration(s.timeout)}
		if s.noRetries {
			c.Retries = &zero
		}
		cfg.Services[s.name] = c
		cfg.Order.Services = append(cfg.Order.Services, s.name)
	}
	out, errs := upstream.Compile(cfg, metrics.NewSet())
	if len(errs) > 0 {
		t.Fatalf("services: %v", errs)
	}
	return out
}
