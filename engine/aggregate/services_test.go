package aggregate

import (
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/upstream"
)

// testService is one upstream service of a test: one target, the upstream
// defaults otherwise.
type testService struct {
	name, addr string
	timeout    time.Duration // 0: the upstream default
	noRetries  bool
}

// testServices builds services with the upstream package.
func testServices(t testing.TB, services ...testService) map[string]*upstream.Service {
	t.Helper()
	out := map[string]*upstream.Service{}
	set := metrics.NewSet()
	for _, s := range services {
		o := upstream.ServiceOptions{Targets: []upstream.TargetOptions{{Addr: s.addr}}, Timeout: s.timeout}
		if s.noRetries {
			zero := 0
			o.Retries = &zero
		}
		svc, err := upstream.New(s.name, o, set)
		if err != nil {
			t.Fatalf("services.%s: %v", s.name, err)
		}
		out[s.name] = svc
	}
	return out
}
