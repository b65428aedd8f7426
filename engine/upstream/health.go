package upstream

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Active health check defaults for keys the config leaves out.
const (
	DefaultHealthPath           = "/"
	DefaultHealthInterval       = 2 * time.Second
	DefaultHealthTimeout        = time.Second
	DefaultHealthHealthyAfter   = 2
	DefaultHealthUnhealthyAfter = 3
)

// healthSettings is a service's compiled health_check.
type healthSettings struct {
	path           string
	interval       time.Duration
	timeout        time.Duration
	healthyAfter   int
	unhealthyAfter int
}

// health is one target's active-check verdict. Targets start healthy (and
// stay so without checks); only the checker goroutine writes.
type health struct {
	down    atomic.Bool // the checks say the target is unhealthy
	settled atomic.Bool // the first check has finished
}

// Probe checks one target once within timeout and reports whether it passed.
// Services probe with an HTTP GET of health_check.path unless SetProbe
// installs another (gRPC services use the gRPC health protocol).
type Probe func(t *Target, timeout time.Duration) bool

// SetProbe replaces the service's health probe. Call it before Start.
func (s *Service) SetProbe(p Probe) { s.probe = p }

// HealthPath returns the service's health_check.path ("" without checks).
func (s *Service) HealthPath() string {
	if s.res.health == nil {
		return ""
	}
	return s.res.health.path
}

// runHealthChecks probes t every interval until stop closes. The first probe
// runs at once and decides the initial state by itself; after that a state
// changes only after healthyAfter passes or unhealthyAfter failures in a row.
func runHealthChecks(t *Target, hs *healthSettings, probe Probe, stop <-chan struct{}) {
	h := &t.state.health
	passes, fails := 0, 0
	ticker := time.NewTicker(hs.interval)
	defer ticker.Stop()
	for {
		pass := probe(t, hs.timeout)
		if pass {
			passes, fails = passes+1, 0
		} else {
			passes, fails = 0, fails+1
		}
		switch {
		case !h.settled.Load():
			h.down.Store(!pass)
			h.settled.Store(true)
			t.service.res.settled.Add(1)
		case pass && h.down.Load() && passes >= hs.healthyAfter:
			h.down.Store(false)
			t.state.eject.readmit(nanotime())
		case !pass && !h.down.Load() && fails >= hs.unhealthyAfter:
			h.down.Store(true)
		}
		select {
		case <-stop:
			return
		case <-ticker.C:
		}
	}
}

// httpProbe returns the default probe of a target: GET health_check.path
// over a small pool of its own, passing on 2xx and 3xx.
func httpProbe(t *Target, hs *healthSettings) Probe {
	c := healthClient(t, hs)
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	req.Header.SetMethod(fasthttp.MethodGet)
	req.SetRequestURI(hs.path)
	return func(t *Target, timeout time.Duration) bool {
		req.SetHost(t.Addr)
		err := c.DoTimeout(req, resp, timeout)
		pass := err == nil && resp.StatusCode() >= 200 && resp.StatusCode() < 400
		resp.Reset()
		return pass
	}
}

// healthClient is a small pool of its own per target, so that probes never
// queue behind (or take connections from) proxied traffic.
func healthClient(t *Target, hs *healthSettings) *fasthttp.HostClient {
	dialer := &net.Dialer{Timeout: hs.timeout}
	return &fasthttp.HostClient{
		Addr:                     t.Addr,
		Name:                     "sluice-health",
		NoDefaultUserAgentHeader: true,
		IsTLS:                    t.client.IsTLS,
		TLSConfig:                t.client.TLSConfig,
		Dial: func(addr string) (net.Conn, error) {
			return dialer.Dial("tcp", addr)
		},
		MaxConns:                  2,
		MaxIdleConnDuration:       2 * hs.interval,
		MaxResponseBodySize:       64 << 10,
		MaxIdemponentCallAttempts: 1,
	}
}
