package engine_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
)

// TestEnginesDoNotShareMetrics: two engines in one process keep their own
// series. A request through one moves its counters only, and neither
// engine leaves a series in the process-wide default set.
func TestEnginesDoNotShareMetrics(t *testing.T) {
	up := startUpstream(t, "u")
	cfg := cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"s": {"targets": [%q]}},
  "routes": [{"name": "r", "path": "/r", "service": "s", "cache": {"ttl": "1m"}}]
}`, up.addr)
	a, b := startGateway(t, cfg), startGateway(t, cfg)
	if r := get(t, a.url+"/r"); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	series := []string{
		`sluice_requests_total{route="r",status="200"} 1`,
		`sluice_upstream_requests_total{service="s",target="` + up.addr + `",status="200"} 1`,
		`sluice_cache_requests_total{result="miss"} 1`,
	}
	var ma, mb strings.Builder
	a.engine.WriteMetrics(&ma)
	b.engine.WriteMetrics(&mb)
	for _, s := range series {
		if !strings.Contains(ma.String(), s+"\n") {
			t.Errorf("engine a lacks %s", s)
		}
		if strings.Contains(mb.String(), s) {
			t.Errorf("engine b counted %s", s)
		}
	}
	if !strings.Contains(mb.String(), `sluice_cache_requests_total{result="miss"} 0`+"\n") {
		t.Errorf("engine b lacks its own cache counters at 0:\n%s", mb.String())
	}
	// Both still describe themselves, and the process metrics follow.
	for _, m := range []string{ma.String(), mb.String()} {
		if !strings.Contains(m, "sluice_config_info{") || !strings.Contains(m, "go_goroutines ") {
			t.Errorf("metrics lack the config info or the process series:\n%s", m)
		}
	}
	var global bytes.Buffer
	metrics.WritePrometheus(&global, false)
	if strings.Contains(global.String(), "sluice_requests_total") || strings.Contains(global.String(), "sluice_upstream_requests_total") {
		t.Errorf("an engine series is in the process-wide set:\n%s", global.String())
	}
}
