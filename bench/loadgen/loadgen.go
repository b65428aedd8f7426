// Package loadgen is sluice's HTTP load generator for the benchmark harness.
//
// It runs either a closed loop (a fixed number of workers, each sending its
// next request when the previous answer arrived) or an open loop (requests
// scheduled at a fixed rate). In the open loop each latency is measured from
// the request's intended send time, not from when a worker got round to
// sending it, so a server that falls behind shows its queueing delay instead
// of hiding it (no coordinated omission). Every run is bounded by a duration
// and a request cap. The worker loop reuses its request and response and
// records into a per-worker histogram, so it does not allocate.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-gw/sluice/bench/hist"
	"github.com/valyala/fasthttp"
)

// Request is what every request of a run looks like.
type Request struct {
	Method  string
	Path    string // request URI: path and query
	Host    string // Host header; the target address when empty
	Headers [][2]string
	Body    []byte
	// Rotate, when set, gives every request its own value of one header
	// (e.g. a different bearer token per request); it overrides Headers.
	Rotate *Rotation
}

// Rotation hands out one header's values in turn across requests and
// workers. Every FreshEvery-th request takes the next value of Fresh instead
// (values meant to be used once, e.g. tokens the gateway has never seen, so
// that it has to verify their signature); Fresh wraps when used up. The
// counter lives in the Rotation, so consecutive runs sharing one continue
// where the previous run stopped.
type Rotation struct {
	Header     string
	Values     []string
	Fresh      []string
	FreshEvery int64
	n          atomic.Int64
	fresh      atomic.Int64
}

// next returns the value for the next request.
func (r *Rotation) next() string {
	i := r.n.Add(1) - 1
	if r.FreshEvery > 0 && len(r.Fresh) > 0 && i%r.FreshEvery == 0 {
		return r.Fresh[(r.fresh.Add(1)-1)%int64(len(r.Fresh))]
	}
	return r.Values[i%int64(len(r.Values))]
}

// FreshUsed is how many Fresh values have been handed out so far.
func (r *Rotation) FreshUsed() int64 { return r.fresh.Load() }

// Config describes one load run.
type Config struct {
	// Addr is the target's host:port.
	Addr    string
	Request Request
	// Concurrency is the number of workers and connections (default 1).
	Concurrency int
	// Rate > 0 selects the open loop at Rate requests per second; 0 is a closed loop.
	Rate float64
	// Duration bounds the run: no request is started (closed loop) or
	// scheduled (open loop) after it.
	Duration time.Duration
	// MaxRequests caps the number of requests (0: no cap besides Duration).
	MaxRequests int64
	// Timeout bounds each request (default 5s).
	Timeout time.Duration
	// Grace is how long after Duration an open loop that fell behind may go on
	// sending requests it had scheduled (default Duration + 2s); the rest are
	// counted as Unsent.
	Grace time.Duration
	// ExpectStatus is the status that counts as success (default 200).
	ExpectStatus int
	// LimitedStatus, when set (e.g. 429), is a status that also counts as an
	// answer (in Limited, throughput and latency), not as a problem.
	LimitedStatus int
	// Progress, when set, is called about once a second while the run goes on.
	Progress func(elapsed time.Duration, done int64)
}

// Result is the outcome of a run.
type Result struct {
	// Requests is the number of requests answered with ExpectStatus.
	Requests int64
	// Limited counts answers with LimitedStatus (included in Requests).
	Limited int64
	// BadStatus counts answers with another status; Errors counts transport errors.
	BadStatus, Errors int64
	// Unsent counts open-loop requests scheduled but never sent before Grace ran out.
	Unsent int64
	// FirstProblem describes the first bad status or error, for diagnostics.
	FirstProblem string
	// Elapsed is the wall time of the run.
	Elapsed time.Duration
	// Latency holds the latency of every successful request in nanoseconds.
	Latency *hist.Histogram
}

// Throughput is successful requests per second.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// run holds the shared state of a run.
type run struct {
	cfg      Config
	client   *fasthttp.HostClient
	start    time.Time
	deadline time.Time // end of Duration
	hardStop time.Time // end of Grace (open loop)
	interval float64   // open loop: nanoseconds between scheduled requests
	next     atomic.Int64
	done     atomic.Int64

	mu     sync.Mutex
	result Result
}

// Run executes one load run and returns its result. It stops early when ctx ends.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Addr == "" || cfg.Duration <= 0 {
		return nil, errors.New("loadgen: Addr and a positive Duration are required")
	}
	if cfg.Rate < 0 {
		return nil, errors.New("loadgen: Rate must not be negative")
	}
	cfg.Concurrency = max(cfg.Concurrency, 1)
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Grace <= 0 {
		cfg.Grace = cfg.Duration + 2*time.Second
	}
	if cfg.ExpectStatus == 0 {
		cfg.ExpectStatus = fasthttp.StatusOK
	}
	if cfg.Request.Method == "" {
		cfg.Request.Method = fasthttp.MethodGet
	}
	r := &run{
		cfg: cfg,
		client: &fasthttp.HostClient{
			Addr:                          cfg.Addr,
			MaxConns:                      cfg.Concurrency,
			ReadTimeout:                   cfg.Timeout,
			WriteTimeout:                  cfg.Timeout,
			MaxIdleConnDuration:           time.Minute,
			NoDefaultUserAgentHeader:      true,
			DisableHeaderNamesNormalizing: true,
			MaxConnWaitTimeout:            cfg.Timeout,
		},
		result: Result{Latency: hist.New()},
	}
	defer r.client.CloseIdleConnections()
	if cfg.Rate > 0 {
		r.interval = float64(time.Second) / cfg.Rate
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.start = time.Now()
	r.deadline = r.start.Add(cfg.Duration)
	r.hardStop = r.deadline.Add(cfg.Grace)

	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.worker(ctx)
		}()
	}
	stopProgress := r.progress(ctx)
	wg.Wait()
	stopProgress()
	r.result.Elapsed = time.Since(r.start)
	if cfg.Rate > 0 {
		// Requests that were due within Duration but never sent.
		due := int64(cfg.Duration.Seconds() * cfg.Rate)
		if cfg.MaxRequests > 0 {
			due = min(due, cfg.MaxRequests)
		}
		sent := r.result.Requests + r.result.BadStatus + r.result.Errors
		r.result.Unsent = max(due-sent, 0)
	}
	res := r.result
	return &res, ctx.Err()
}

// progress calls cfg.Progress once a second until the returned func is called.
func (r *run) progress(ctx context.Context) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				r.cfg.Progress(time.Since(r.start), r.done.Load())
			}
		}
	}()
	return func() { close(quit); wg.Wait() }
}

// worker sends requests until the run is over, then merges its results.
func (r *run) worker(ctx context.Context) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	r.prepare(req)

	h := hist.New()
	var ok, limited, bad, failed int64
	rot := r.cfg.Request.Rotate
	if rot != nil && len(rot.Values) == 0 {
		rot = nil
	}
	var problem string
	open := r.cfg.Rate > 0
	for ctx.Err() == nil {
		i := r.next.Add(1) - 1
		if r.cfg.MaxRequests > 0 && i >= r.cfg.MaxRequests {
			break
		}
		var from time.Time
		if open {
			from = r.start.Add(time.Duration(float64(i) * r.interval))
			if !from.Before(r.deadline) {
				break
			}
			now := time.Now()
			if now.After(r.hardStop) {
				break
			}
			if wait := from.Sub(now); wait > 0 {
				time.Sleep(wait)
			}
		} else {
			from = time.Now()
			if !from.Before(r.deadline) {
				break
			}
		}
		if rot != nil {
			req.Header.Set(rot.Header, rot.next())
		}
		err := r.client.Do(req, resp)
		lat := time.Since(from)
		r.done.Add(1)
		switch {
		case err != nil:
			failed++
			if problem == "" {
				problem = fmt.Sprintf("request error: %v", err)
			}
		case r.cfg.LimitedStatus != 0 && resp.StatusCode() == r.cfg.LimitedStatus:
			ok++
			limited++
			h.RecordDuration(lat)
		case resp.StatusCode() != r.cfg.ExpectStatus:
			bad++
			if problem == "" {
				problem = fmt.Sprintf("status %d: %.200s", resp.StatusCode(), resp.Body())
			}
		default:
			ok++
			h.RecordDuration(lat)
		}
		resp.Reset()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.result.Latency.Merge(h)
	r.result.Requests += ok
	r.result.Limited += limited
	r.result.BadStatus += bad
	r.result.Errors += failed
	if r.result.FirstProblem == "" {
		r.result.FirstProblem = problem
	}
}

// prepare fills req once; the client reuses it for every request.
func (r *run) prepare(req *fasthttp.Request) {
	q := r.cfg.Request
	req.Header.DisableNormalizing()
	req.Header.SetMethod(q.Method)
	req.SetRequestURI(q.Path)
	host := q.Host
	if host == "" {
		host = r.cfg.Addr
	}
	req.Header.SetHost(host)
	for _, kv := range q.Headers {
		req.Header.Set(kv[0], kv[1])
	}
	if len(q.Body) > 0 {
		req.SetBody(q.Body)
	}
}
