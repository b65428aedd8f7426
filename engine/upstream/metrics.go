package upstream

import (
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/internal/promlabel"
)

// Gauges read live target state through callbacks, so they cost nothing per
// request. The metrics package keeps the first callback registered under a
// name for the life of the process, so each callback reads its target through
// a pointer that the latest Compile re-points.
var gauges = struct {
	sync.Mutex
	m map[string]*atomic.Pointer[Target]
}{m: map[string]*atomic.Pointer[Target]{}}

func bindGauge(name string, t *Target, f func(*Target) float64) {
	gauges.Lock()
	defer gauges.Unlock()
	p := gauges.m[name]
	if p == nil {
		p = new(atomic.Pointer[Target])
		gauges.m[name] = p
		metrics.GetOrCreateGauge(name, func() float64 {
			if t := p.Load(); t != nil {
				return f(t)
			}
			return 0
		})
	}
	p.Store(t)
}

// bindTargetMetrics registers t's series: sluice_circuit_state (0 closed,
// 1 open, 2 half-open), sluice_upstream_healthy (1 while t is in rotation)
// and sluice_upstream_ejections_total.
func bindTargetMetrics(t *Target) {
	labels := targetLabels(t)
	bindGauge(`sluice_circuit_state`+labels, t, func(t *Target) float64 {
		return t.state.breaker.gauge(nanotime())
	})
	bindGauge(`sluice_upstream_healthy`+labels, t, func(t *Target) float64 {
		if t.state.health.down.Load() || t.state.eject.ejected(nanotime()) {
			return 0
		}
		return 1
	})
	t.state.eject.count = metrics.GetOrCreateCounter(`sluice_upstream_ejections_total` + labels)
}

// targetLabels is `{service="…",target="…"}` for t.
func targetLabels(t *Target) string {
	return `{service="` + promlabel.Value(t.service.Name) + `",target="` + promlabel.Value(t.Addr) + `"}`
}
