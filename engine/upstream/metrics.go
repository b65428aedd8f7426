package upstream

import "github.com/sluice-gw/sluice/engine/internal/promlabel"

// bindTargetMetrics registers t's series in its service's set:
// sluice_circuit_state (0 closed, 1 open, 2 half-open),
// sluice_upstream_healthy (1 while t is in rotation),
// sluice_upstream_ejections_total, and prepares its
// sluice_upstream_requests_total. The gauges read live target state through
// callbacks, so they cost nothing per request.
func bindTargetMetrics(t *Target) {
	labels := targetLabels(t)
	set := t.service.metrics
	set.GetOrCreateGauge(`sluice_circuit_state`+labels, func() float64 {
		return t.state.breaker.gauge(nanotime())
	})
	set.GetOrCreateGauge(`sluice_upstream_healthy`+labels, func() float64 {
		if t.state.health.down.Load() || t.state.eject.ejected(nanotime()) {
			return 0
		}
		return 1
	})
	t.state.eject.count = set.GetOrCreateCounter(`sluice_upstream_ejections_total` + labels)
	t.byStatus.init(set, t)
}

// targetLabels is `{service="…",target="…"}` for t.
func targetLabels(t *Target) string {
	return `{service="` + promlabel.Value(t.service.Name) + `",target="` + promlabel.Value(t.Addr) + `"}`
}
