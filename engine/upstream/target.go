package upstream

import (
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

// Target is one upstream address of a service with its own connection pool.
type Target struct {
	// Addr is "host:port"; it is also the Host header sent upstream.
	Addr string
	// Weight is the target's share for the weighted balancer.
	Weight int

	service *Service
	client  *fasthttp.HostClient
	// pipe is the pipelining client (nil unless the service sets
	// pipelining); it carries the requests pipelinable accepts.
	pipe     *fasthttp.PipelineClient
	inflight atomic.Int64
	state    targetResilience
	byStatus statusCounters
	conns    connRegistry // open connections by local address (watch.go)
}

func newTarget(s *Service, addr, host string, weight, maxConns, pipeConns int, connect time.Duration, tlsCfg *tls.Config) *Target {
	t := &Target{Addr: addr, Weight: weight, service: s}
	c := &fasthttp.HostClient{
		Addr: addr,
		// No Name and no default: fasthttp would add "User-Agent: sluice" to
		// a request that has none; the upstream sees the client's header.
		NoDefaultUserAgentHeader: true,
		DisablePathNormalizing:   true,
		MaxConns:                 maxConns,
		MaxIdleConnDuration:      60 * time.Second,
		MaxConnWaitTimeout:       50 * time.Millisecond,
		ReadBufferSize:           16 << 10,
		WriteBufferSize:          16 << 10,
		// Our own retry logic picks another target; fasthttp may retry once on
		// a pooled connection the upstream closed meanwhile.
		MaxIdemponentCallAttempts: 2,
		// A dial waits connect_timeout at most, and never past the
		// request's own deadline (fasthttp passes the time left).
		DialTimeout: func(a string, left time.Duration) (net.Conn, error) {
			d := connect
			if left > 0 && left < d {
				d = left
			}
			c, err := (&net.Dialer{Timeout: d, KeepAlive: 30 * time.Second}).Dial("tcp", a)
			if err != nil {
				return nil, err
			}
			return t.watch(c), nil
		},
	}
	if tlsCfg != nil {
		c.IsTLS = true
		cfg := tlsCfg.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = hostOnly(addr)
		}
		c.TLSConfig = cfg
	}
	t.client = c
	if pipeConns > 0 {
		t.pipe = newPipeline(addr, pipeConns, maxConns, connect, c.TLSConfig)
	}
	initTargetResilience(t)
	return t
}

// InFlight returns the number of requests in flight to t.
func (t *Target) InFlight() int64 { return t.inflight.Load() }

// do runs one request against t, classifying failures; trial marks a
// half-open circuit's trial request and start is nanotime() before it.
func (t *Target) do(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, trial bool, start int64) error {
	t.inflight.Add(1)
	req.SetHost(t.Addr)
	// fasthttp refuses a request whose scheme differs from the client's TLS
	// setting; the client side's scheme is irrelevant upstream.
	if t.client.IsTLS {
		req.URI().SetScheme("https")
	} else {
		req.URI().SetScheme("http")
	}
	upload, _ := req.BodyStream().(*ClientBody)
	var err error
	if t.pipe != nil && pipelinable(req) {
		err = t.pipe.DoDeadline(req, resp, deadline)
	} else {
		err = t.client.DoDeadline(req, resp, deadline)
	}
	if err != nil && upload != nil && upload.Failed() {
		// The client's upload broke, not the target: count nothing.
		t.inflight.Add(-1)
		if trial {
			t.state.breaker.record(start, true, false)
		}
		return ErrClientBody
	}
	var cut bool
	if err == nil {
		err = bufferSmall(resp)
		cut = err != nil
		if err == nil && resp.IsBodyStream() {
			t.watchStream(resp)
		}
	} else {
		cut = truncation(err)
	}
	t.inflight.Add(-1)
	err = classify(err)
	if cut {
		// A cut body is a 502 (a 504 when the deadline cut it).
		if err != ErrTimeout {
			err = ErrTruncated
		}
		t.service.CountTruncated()
	}
	status := 0
	if err == nil {
		status = resp.StatusCode()
	}
	t.CountStatus(status)
	t.onResult(start, trial, err, status)
	return err
}

func classify(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, fasthttp.ErrTimeout):
		return ErrTimeout
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		// Every pooled connection stayed busy for MaxConnWaitTimeout.
		return ErrBusy
	case errors.Is(err, fasthttp.ErrDialTimeout):
		return ErrConnect
	}
	// A dial that failed or timed out never reached the upstream.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return ErrConnect
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ErrTimeout
	}
	return ErrBadResponse
}

// CountStatus counts a call to t in sluice_upstream_requests_total by the
// status it ended with: the upstream's answer, or the status the gateway
// mapped it to (gRPC paths); 0 when the target gave no answer.
func (t *Target) CountStatus(status int) { t.byStatus.inc(status) }

// statusCounters is sluice_upstream_requests_total{service,target,status}
// of one target, the only copy of it: a counter per status, created on first
// use. Status 0 (no answer) and any status outside 1..599 are labelled
// "error".
type statusCounters struct {
	set    *metrics.Set
	prefix string // `sluice_upstream_requests_total{service="…",target="…",status="`
	counts [600]atomic.Pointer[metrics.Counter]
}

func (c *statusCounters) init(set *metrics.Set, t *Target) {
	labels := targetLabels(t)
	c.set = set
	c.prefix = `sluice_upstream_requests_total` + labels[:len(labels)-1] + `,status="`
}

func (c *statusCounters) inc(status int) {
	if status < 0 || status >= len(c.counts) {
		status = 0
	}
	n := c.counts[status].Load()
	if n == nil {
		label := "error"
		if status > 0 {
			label = strconv.Itoa(status)
		}
		n = c.set.GetOrCreateCounter(c.prefix + label + `"}`)
		c.counts[status].Store(n)
	}
	n.Inc()
}
