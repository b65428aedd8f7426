package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"time"
)

// IPResult is scenario 1: client addresses through the balancer.
type IPResult struct {
	Clients int
	// Seen counts clients whose own address reached the upstream as the
	// X-Forwarded-For sluice added.
	Seen int
	// Held counts clients admitted exactly the per-ip burst by a limit keyed
	// on their address (more requests than the burst are sent).
	Held int
	// Admitted is the total admitted over all clients.
	Admitted int
}

// ClientAddresses runs scenario 1: clients from distinct 127.0.0.x source
// addresses go through HAProxy (balance source, send-proxy-v2); each checks
// that the upstream sees its address, then sends ipBurst+3 requests to a
// route limited per ip (burst ipBurst, one token per 10s).
func (f *Fleet) ClientAddresses(ctx context.Context, clients int) (IPResult, error) {
	if clients > maxClients {
		return IPResult{}, fmt.Errorf("at most %d clients", maxClients)
	}
	res := IPResult{Clients: clients}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	for k := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip := net.IPv4(127, 0, 0, byte(clientBase+k))
			c := newClient(f.Source, &net.TCPAddr{IP: ip})
			defer c.close()
			seen, admitted, err := oneClient(ctx, c, ip.String(), k)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("client %s: %w", ip, err)
			}
			if seen {
				res.Seen++
			}
			if admitted == ipBurst {
				res.Held++
			}
			res.Admitted += admitted
		}()
	}
	wg.Wait()
	return res, firstErr
}

func oneClient(ctx context.Context, c *client, ip string, k int) (seen bool, admitted int, err error) {
	r, err := c.get(fmt.Sprintf("/echo/client-%d", k), true)
	if err != nil {
		return false, 0, err
	}
	if r.status != 200 {
		return false, 0, fmt.Errorf("echo: status %d", r.status)
	}
	var echo struct {
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(r.body, &echo); err != nil {
		return false, 0, fmt.Errorf("echo body: %w", err)
	}
	xff := echo.Headers["X-Forwarded-For"]
	if i := strings.LastIndexByte(xff, ','); i >= 0 {
		xff = xff[i+1:]
	}
	seen = strings.TrimSpace(xff) == ip
	for range ipBurst + 3 {
		if ctx.Err() != nil {
			return seen, admitted, ctx.Err()
		}
		r, err := c.get(fmt.Sprintf("/ip/client-%d", k), false)
		if err != nil {
			return seen, admitted, err
		}
		switch r.status {
		case 200:
			admitted++
		case 429:
		default:
			return seen, admitted, fmt.Errorf("per-ip route: status %d", r.status)
		}
	}
	return seen, admitted, nil
}

// QuotaResult is scenario 2: one cluster quota under skewed demand.
type QuotaResult struct {
	// Expected is the quota over the measured window (requests).
	Expected float64
	// Admitted is what the fleet admitted in the window; Ratio Admitted/Expected.
	Admitted int64
	Ratio    float64
	// Sent and Ok are per instance; DemandShare and AdmitShare in percent.
	Sent, Ok                []int64
	DemandShare, AdmitShare []float64
	// MaxDev is the largest |AdmitShare - DemandShare| in points.
	MaxDev float64
	// Failed counts answers other than 200 and 429, and transport errors.
	Failed int64
}

// QuotaFairness runs scenario 2: demand[i] requests a second to instance i
// (through its own HAProxy frontend) on a route under the cluster quota
// Options.Quota. After warm (which spends the initial burst) it counts for
// window.
func (f *Fleet) QuotaFairness(ctx context.Context, demand []float64, warm, window time.Duration) (QuotaResult, error) {
	n := len(f.inst)
	if len(demand) != n {
		return QuotaResult{}, fmt.Errorf("demand for %d instances, fleet has %d", len(demand), n)
	}
	tallies := make([]*tally, n)
	var waits []func()
	for i, d := range demand {
		tallies[i] = newTally()
		tallies[i].counting.Store(false)
		if d <= 0 {
			continue
		}
		l := load{addr: f.Direct[i], path: "/quota/q", rate: d, conns: int(math.Ceil(d / 40)), dur: warm + window}
		waits = append(waits, l.background(ctx, tallies[i]))
	}
	select {
	case <-ctx.Done():
	case <-time.After(warm):
	}
	for _, t := range tallies {
		t.counting.Store(true)
	}
	for _, w := range waits {
		w()
	}
	if err := ctx.Err(); err != nil {
		return QuotaResult{}, err
	}
	res := QuotaResult{Expected: float64(f.opts.Quota) * window.Seconds(), Sent: make([]int64, n), Ok: make([]int64, n)}
	var sent int64
	for i, t := range tallies {
		res.Sent[i], res.Ok[i] = t.sent.Load(), t.ok.Load()
		sent += res.Sent[i]
		res.Admitted += res.Ok[i]
		res.Failed += t.failed()
	}
	res.Ratio = float64(res.Admitted) / res.Expected
	for i := range n {
		ds, as := 0.0, 0.0
		if sent > 0 {
			ds = 100 * float64(res.Sent[i]) / float64(sent)
		}
		if res.Admitted > 0 {
			as = 100 * float64(res.Ok[i]) / float64(res.Admitted)
		}
		res.DemandShare = append(res.DemandShare, ds)
		res.AdmitShare = append(res.AdmitShare, as)
		res.MaxDev = max(res.MaxDev, math.Abs(as-ds))
	}
	return res, nil
}

// LoadResult is a scenario under continuous load through the balancer.
type LoadResult struct {
	// Requests sent and Failed (transport errors or a status other than
	// 200/429) for a client that never retries; ServerErrors counts 5xx.
	Requests, Failed, ServerErrors int64
	// FirstFailure describes the first failure.
	FirstFailure string
	// Detect is, for a kill, how long until HAProxy marked the instance down.
	Detect time.Duration
	// Fallback and Resume are, for a Redis outage, how long until every
	// instance fell back to its split after the kill, and shared again after
	// the restart (0 when not measured).
	Fallback, Resume time.Duration
	// Conns is the number of client connections of the load.
	Conns int
}

// Load is the continuous load of scenarios 3-5.
type Load struct {
	Rate  float64
	Conns int
}

func (f *Fleet) continuous(ctx context.Context, lo Load, path string) (*tally, context.CancelFunc, func()) {
	t := newTally()
	lctx, cancel := context.WithCancel(ctx)
	wait := load{addr: f.All, path: path, rate: lo.Rate, conns: lo.Conns, dur: 5 * time.Minute}.background(lctx, t)
	return t, cancel, wait
}

func (t *tally) loadResult(conns int) LoadResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	return LoadResult{Requests: t.sent.Load(), Failed: t.serverErr.Load() + t.otherStatus.Load() + t.errs.Load(),
		ServerErrors: t.serverErr.Load(), FirstFailure: t.firstFail, Conns: conns}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// RollingRestart runs scenario 3: under continuous load through HAProxy,
// each instance in turn gets SIGTERM, drains, exits, is started again and
// taken back by the balancer before the next one.
func (f *Fleet) RollingRestart(ctx context.Context, lo Load, settle time.Duration) (LoadResult, error) {
	t, cancel, wait := f.continuous(ctx, lo, "/plain/rolling")
	defer func() { cancel(); wait() }()
	if err := sleepCtx(ctx, settle); err != nil {
		return LoadResult{}, err
	}
	for i := range f.inst {
		f.opts.Logf("rolling restart: %s", f.inst[i].name)
		if err := f.restart(ctx, i); err != nil {
			return LoadResult{}, err
		}
		if err := sleepCtx(ctx, settle); err != nil {
			return LoadResult{}, err
		}
	}
	cancel()
	wait()
	return t.loadResult(lo.Conns), nil
}

// Handover runs scenario 7: under continuous load through HAProxy, each
// instance in turn is replaced in place (a new process beside it with
// reuse_port, then SIGTERM to the old one).
func (f *Fleet) Handover(ctx context.Context, lo Load, settle time.Duration) (LoadResult, error) {
	t, cancel, wait := f.continuous(ctx, lo, "/plain/handover")
	defer func() { cancel(); wait() }()
	if err := sleepCtx(ctx, settle); err != nil {
		return LoadResult{}, err
	}
	for i := range f.inst {
		f.opts.Logf("handover: %s", f.inst[i].name)
		f.gen++
		if err := f.handover(ctx, i, f.gen); err != nil {
			return LoadResult{}, err
		}
		if err := sleepCtx(ctx, settle); err != nil {
			return LoadResult{}, err
		}
	}
	cancel()
	wait()
	return t.loadResult(lo.Conns), nil
}

// Kill runs scenario 4: under continuous load one instance is SIGKILLed;
// it measures failures and how long HAProxy takes to mark it down, then
// starts the instance again.
func (f *Fleet) Kill(ctx context.Context, lo Load, victim int, settle time.Duration) (LoadResult, error) {
	t, cancel, wait := f.continuous(ctx, lo, "/plain/kill")
	defer func() { cancel(); wait() }()
	if err := sleepCtx(ctx, settle); err != nil {
		return LoadResult{}, err
	}
	in := f.inst[victim]
	f.opts.Logf("kill: SIGKILL %s", in.name)
	f.procs.Kill(in.proc)
	detect, err := f.timeBalancer(ctx, victim, false, 10*time.Second)
	if err != nil {
		return LoadResult{}, err
	}
	if err := sleepCtx(ctx, settle); err != nil {
		return LoadResult{}, err
	}
	cancel()
	wait()
	res := t.loadResult(lo.Conns)
	res.Detect = detect
	if err := f.startInstance(ctx, victim); err != nil {
		return res, err
	}
	return res, f.waitBalancer(ctx, victim, true, 10*time.Second)
}

// RedisOutage runs scenario 5: under continuous load on a route with a
// cluster quota, redis-server is SIGKILLed for outage, then started again on
// the same port. It measures 5xx answers and, from each instance's
// sluice_ratelimit_redis_fallback gauge, the time to fall back and to resume.
func (f *Fleet) RedisOutage(ctx context.Context, lo Load, outage, settle time.Duration) (LoadResult, error) {
	t, cancel, wait := f.continuous(ctx, lo, "/shared/redis")
	defer func() { cancel(); wait() }()
	if err := sleepCtx(ctx, settle); err != nil {
		return LoadResult{}, err
	}
	f.opts.Logf("redis: SIGKILL redis-server")
	f.procs.Kill(f.redis)
	killed := time.Now()
	fallback, ferr := f.waitFallback(ctx, 1, outage)
	if err := sleepCtx(ctx, time.Until(killed.Add(outage))); err != nil {
		return LoadResult{}, err
	}
	f.opts.Logf("redis: restart redis-server")
	if err := f.startRedis(ctx); err != nil {
		return LoadResult{}, err
	}
	resume, rerr := f.waitFallback(ctx, 0, 10*time.Second)
	if err := sleepCtx(ctx, settle); err != nil {
		return LoadResult{}, err
	}
	cancel()
	wait()
	res := t.loadResult(lo.Conns)
	if ferr == nil {
		res.Fallback = fallback
	}
	if rerr == nil {
		res.Resume = resume
	}
	if ferr != nil || rerr != nil {
		f.opts.Logf("redis: fallback %v, resume %v", ferr, rerr)
	}
	return res, nil
}

// waitFallback waits until every instance's fallback gauge is want and
// returns how long that took.
func (f *Fleet) waitFallback(ctx context.Context, want int, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	var last []int
	var err error
	for time.Since(start) < timeout {
		last, err = f.redisFallback()
		if err != nil {
			return 0, err
		}
		all := true
		for _, v := range last {
			all = all && v == want
		}
		if all {
			return time.Since(start), nil
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("fallback gauges %v after %v, want all %d", last, timeout, want)
}

// LatencyResult compares latency through the balancer with latency direct to
// one instance, on a route under a Redis-shared cluster quota.
type LatencyResult struct {
	// Fleet went through HAProxy to every instance, Direct to one instance.
	Fleet, Direct LoadResult
	// The latency percentiles of each, from the scheduled send time.
	FleetP50, FleetP99, DirectP50, DirectP99 time.Duration
	// Ratio is FleetP99 / DirectP99.
	Ratio float64
}

// Latency runs scenario 6: lo through HAProxy to every instance, then the same
// load direct to the first instance (with PROXY headers of its own), for dur each.
func (f *Fleet) Latency(ctx context.Context, lo Load, dur time.Duration) (LatencyResult, error) {
	var res LatencyResult
	for i, direct := range []bool{false, true} {
		l := load{addr: f.All, path: "/shared/latency", rate: lo.Rate, conns: lo.Conns, dur: dur}
		if direct {
			l.addr, l.proxyV1 = f.inst[0].listen, f.Feat.ProxyProtocol
		}
		t := newTally()
		l.run(ctx, t)
		if err := ctx.Err(); err != nil {
			return res, err
		}
		r := t.loadResult(lo.Conns)
		t.mu.Lock()
		p50, p99 := t.latency.PercentileDuration(50), t.latency.PercentileDuration(99)
		t.mu.Unlock()
		if i == 0 {
			res.Fleet, res.FleetP50, res.FleetP99 = r, p50, p99
		} else {
			res.Direct, res.DirectP50, res.DirectP99 = r, p50, p99
		}
	}
	if res.DirectP99 > 0 {
		res.Ratio = float64(res.FleetP99) / float64(res.DirectP99)
	}
	return res, nil
}
