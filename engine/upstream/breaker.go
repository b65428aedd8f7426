package upstream

import (
	"sync"
	"sync/atomic"
	"time"
)

// Circuit breaker defaults for keys the config leaves out.
const (
	DefaultBreakerWindow       = 10 * time.Second
	DefaultBreakerMinRequests  = 20
	DefaultBreakerFailureRatio = 0.5
	DefaultBreakerOpenFor      = 5 * time.Second
	// halfOpenTrials is how many trial requests a half-open circuit lets
	// through; all must succeed to close it, one failure reopens it.
	halfOpenTrials = 3
)

// Circuit states, as the sluice_circuit_state gauge reports them.
const (
	circuitClosed   int32 = 0
	circuitOpen     int32 = 1
	circuitHalfOpen int32 = 2
)

// breakerSettings is a service's compiled circuit_breaker.
type breakerSettings struct {
	window      time.Duration
	minRequests int64
	ratio       float64
	openFor     int64 // nanoseconds
}

// breaker is one target's circuit. The closed state costs one sliding-window
// increment per request; transitions, which are rare, take mu.
type breaker struct {
	cfg       *breakerSettings // nil: no breaker configured, always closed
	state     atomic.Int32
	openUntil atomic.Int64
	trials    atomic.Int32 // trial requests admitted while half-open
	successes atomic.Int32 // trial requests that succeeded
	counts    ring         // a = requests, b = failures, over cfg.window
	mu        sync.Mutex
}

func (b *breaker) init(cfg *breakerSettings) {
	b.cfg = cfg
	if cfg != nil {
		b.counts.init(cfg.window)
	}
}

// allows reports, without side effects, whether the circuit would let a
// request through now.
func (b *breaker) allows(now int64) bool {
	switch b.state.Load() {
	case circuitClosed:
		return true
	case circuitOpen:
		return now >= b.openUntil.Load()
	default:
		return b.trials.Load() < halfOpenTrials
	}
}

// admit lets one request through, taking a trial slot when half-open. trial
// tells the result which kind of request it was.
func (b *breaker) admit(now int64) (trial, ok bool) {
	for {
		switch b.state.Load() {
		case circuitClosed:
			return false, true
		case circuitOpen:
			if now < b.openUntil.Load() {
				return false, false
			}
			b.mu.Lock()
			if b.state.Load() == circuitOpen && now >= b.openUntil.Load() {
				b.state.Store(circuitHalfOpen)
			}
			b.mu.Unlock()
		default:
			n := b.trials.Load()
			if n >= halfOpenTrials {
				return false, false
			}
			if b.trials.CompareAndSwap(n, n+1) {
				return true, true
			}
		}
	}
}

// record counts the outcome of a request admitted by admit.
func (b *breaker) record(now int64, trial, failed bool) {
	if b.cfg == nil {
		return
	}
	if trial {
		b.recordTrial(now, failed)
		return
	}
	if b.state.Load() != circuitClosed {
		// A request admitted before the circuit opened: its outcome is stale.
		return
	}
	if !failed {
		b.counts.add(now, 1, 0)
		return
	}
	b.counts.add(now, 1, 1)
	reqs, fails := b.counts.sum(now)
	if reqs < b.cfg.minRequests || float64(fails) < b.cfg.ratio*float64(reqs) {
		return
	}
	b.mu.Lock()
	if b.state.Load() == circuitClosed {
		b.openLocked(now)
	}
	b.mu.Unlock()
}

func (b *breaker) recordTrial(now int64, failed bool) {
	if !failed && b.successes.Add(1) < halfOpenTrials {
		return
	}
	b.mu.Lock()
	if b.state.Load() == circuitHalfOpen {
		if failed {
			b.openLocked(now)
		} else {
			b.counts.reset()
			b.state.Store(circuitClosed)
		}
	}
	b.mu.Unlock()
}

// openLocked opens the circuit for open_for. The trial counters are reset
// before the state changes so that the half-open state starts clean.
func (b *breaker) openLocked(now int64) {
	b.trials.Store(0)
	b.successes.Store(0)
	b.openUntil.Store(now + b.cfg.openFor)
	b.state.Store(circuitOpen)
}

// gauge is the state for sluice_circuit_state: an open circuit whose open_for
// has elapsed is reported half-open, as the next request will find it.
func (b *breaker) gauge(now int64) float64 {
	s := b.state.Load()
	if s == circuitOpen && now >= b.openUntil.Load() {
		s = circuitHalfOpen
	}
	return float64(s)
}
