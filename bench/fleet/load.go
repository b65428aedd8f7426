package fleet

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-gw/sluice/bench/hist"
)

// load is an open-loop run of GETs at a fixed total rate over conns
// keep-alive connections, each with its own non-retrying client. It is
// bounded by dur and by ctx. A connection that falls behind skips the slots
// it missed rather than bursting to catch up.
type load struct {
	addr  string
	path  string
	rate  float64
	conns int
	dur   time.Duration
	local func(worker int) *net.TCPAddr // source address per connection; nil: default
	// proxyV1 sends a PROXY v1 header on each connection (direct to an instance).
	proxyV1 bool
}

// tally counts the answers of a run. Only requests sent while counting is on
// are counted (warm-up requests are not).
type tally struct {
	counting atomic.Bool

	sent, ok, limited, serverErr, otherStatus, errs atomic.Int64

	mu        sync.Mutex
	latency   *hist.Histogram // of answered requests, from their scheduled send time
	firstFail string
}

func newTally() *tally {
	t := &tally{latency: hist.New()}
	t.counting.Store(true)
	return t
}

// failed counts requests that did not get a 200 or a 429: what a client
// without retries sees as a failure.
func (t *tally) failed() int64 { return t.serverErr.Load() + t.otherStatus.Load() + t.errs.Load() }

func (t *tally) record(r result, err error, scheduled time.Time) {
	if !t.counting.Load() {
		return
	}
	t.sent.Add(1)
	switch {
	case err != nil:
		t.errs.Add(1)
	case r.status == 200:
		t.ok.Add(1)
	case r.status == 429:
		t.limited.Add(1)
	case r.status >= 500:
		t.serverErr.Add(1)
	default:
		t.otherStatus.Add(1)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case err == nil:
		t.latency.RecordDuration(time.Since(scheduled))
		if r.status != 200 && r.status != 429 && t.firstFail == "" {
			t.firstFail = fmt.Sprintf("status %d", r.status)
		}
	case t.firstFail == "":
		t.firstFail = err.Error()
	}
}

// run sends the load, recording into t, and returns when it is over.
func (l load) run(ctx context.Context, t *tally) {
	conns := max(l.conns, 1)
	interval := time.Duration(float64(time.Second) * float64(conns) / l.rate)
	ctx, cancel := context.WithTimeout(ctx, l.dur)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local *net.TCPAddr
			if l.local != nil {
				local = l.local(w)
			}
			c := newClient(l.addr, local)
			c.proxyV1 = l.proxyV1
			defer c.close()
			// Spread the connections' first requests over one interval.
			next := start.Add(interval * time.Duration(w) / time.Duration(conns))
			for {
				if d := time.Until(next); d > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(d):
					}
				} else if ctx.Err() != nil {
					return
				}
				r, err := c.get(l.path, false)
				t.record(r, err, next)
				next = next.Add(interval)
				if now := time.Now(); now.Sub(next) > interval {
					next = now // fell behind: skip the missed slots
				}
			}
		}()
	}
	wg.Wait()
}

// background starts l and returns a function that waits for its end.
func (l load) background(ctx context.Context, t *tally) (wait func()) {
	done := make(chan struct{})
	go func() { defer close(done); l.run(ctx, t) }()
	return func() { <-done }
}
