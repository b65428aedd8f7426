// Package limiter is a memory-bounded set of token buckets keyed by a 64-bit
// hash of the caller's key (for example xxhash of a client address).
//
// Buckets live in power-of-two shards, each a small set-associative table
// (8 slots a set) behind its own mutex, so one call costs one lock and a scan
// of one cache-friendly set and allocates nothing. A bucket that has refilled
// completely is indistinguishable from a missing one, so the table may drop it
// at any time: Sweep does so in the background, and a full set reuses such a
// slot first. Tables grow by doubling up to Config.MaxKeys; at the cap a new
// key evicts the bucket of its set that is closest to full, which is the one
// whose loss admits the fewest extra requests. Memory therefore never exceeds
// MaxKeys × 32 bytes, whatever the number of distinct keys.
package limiter

import (
	"math"
	"runtime"
	"sync/atomic"
	"time"
)

// DefaultMaxKeys is the live-bucket cap when Config.MaxKeys is zero
// (32 MiB of slots at most).
const DefaultMaxKeys = 1 << 20

// Config describes the buckets of one Limiter.
type Config struct {
	// Rate is the refill rate in tokens per second; it must be > 0.
	Rate float64
	// Burst is the bucket capacity in tokens; it must be >= 1.
	Burst float64
	// MaxKeys bounds the live buckets (rounded up to a power of two);
	// zero means DefaultMaxKeys.
	MaxKeys int
	// Shards is the number of independently locked shards (rounded up to a
	// power of two); zero picks one from GOMAXPROCS.
	Shards int
	// CountUsage makes the limiter count the tokens taken from (and the
	// calls made to) each bucket for AppendUsage. Until they are collected,
	// such buckets are neither swept nor preferred for eviction.
	CountUsage bool
	// FleetRate is the refill rate, in tokens per second, of a bucket whose
	// share (SetShare) is 1; zero means Rate.
	FleetRate float64
}

// Result is the answer to one Allow call.
type Result struct {
	// Allowed is true when a token was taken.
	Allowed bool
	// Limit is the bucket capacity in whole tokens.
	Limit int64
	// Remaining is the whole tokens left after this call.
	Remaining int64
	// RetryAfter is how long until one token is available (0 when one is).
	RetryAfter time.Duration
	// ResetAfter is how long until the bucket is full again.
	ResetAfter time.Duration
}

// Limiter is a set of token buckets sharing one rate and capacity.
// It is safe for concurrent use.
type Limiter struct {
	rate    float64 // tokens per nanosecond
	burst   float64
	limit   int64
	shards  []shard
	shift   uint // key >> shift selects the shard
	epoch   time.Time
	count   uint32  // 1 with CountUsage, else 0
	unit    float64 // refill rate (tokens per ns) of one share unit
	evicted atomic.Uint64
}

// New returns a Limiter for cfg. Out-of-range values are clamped: a
// non-positive rate becomes one token per hour, a burst below 1 becomes 1.
func New(cfg Config) *Limiter {
	if !(cfg.Rate > 0) {
		cfg.Rate = 1.0 / 3600
	}
	if !(cfg.Burst >= 1) {
		cfg.Burst = 1
	}
	if !(cfg.FleetRate > 0) {
		cfg.FleetRate = cfg.Rate
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.Shards <= 0 {
		cfg.Shards = 4 * runtime.GOMAXPROCS(0)
	}
	nShards := ceilPow2(min(max(cfg.Shards, 1), 4096))
	perShard := ceilPow2(max(cfg.MaxKeys/nShards, ways))
	l := &Limiter{
		rate:   cfg.Rate / float64(time.Second),
		burst:  cfg.Burst,
		limit:  int64(cfg.Burst),
		shards: make([]shard, nShards),
		shift:  uint(64 - log2(nShards)),
		epoch:  time.Now(),
		unit:   cfg.FleetRate / float64(time.Second) / shareUnits,
	}
	if cfg.CountUsage {
		l.count = 1
	}
	for i := range l.shards {
		l.shards[i].init(perShard)
	}
	return l
}

// Now is the limiter's clock: nanoseconds since New, always >= 1.
func (l *Limiter) Now() int64 { return int64(time.Since(l.epoch)) + 1 }

// Allow takes one token from key's bucket if it has one.
func (l *Limiter) Allow(key uint64) Result { return l.AllowAt(key, l.Now()) }

// AllowAt is Allow at time now (a value of l.Now, or a test's own clock).
func (l *Limiter) AllowAt(key uint64, now int64) Result {
	s := l.shard(key)
	s.mu.Lock()
	e := s.find(key)
	if e == nil {
		e = s.insert(l, key, now)
	} else {
		l.refill(e, now)
	}
	ok := e.tokens >= 1
	if ok {
		e.tokens--
		e.used += l.count
	}
	if e.offered != math.MaxUint16 {
		e.offered += uint16(l.count)
	}
	tokens, rate := e.tokens, l.rateOf(e)
	s.mu.Unlock()
	return l.result(ok, tokens, rate)
}

// Refund gives back one token taken from key's bucket (for a request that
// another limit rejected). It does nothing if the bucket is gone.
func (l *Limiter) Refund(key uint64) {
	s := l.shard(key)
	s.mu.Lock()
	if e := s.find(key); e != nil {
		e.tokens = math.Min(l.burst, e.tokens+1)
		if e.used > 0 {
			e.used--
		}
	}
	s.mu.Unlock()
}

// Len returns the number of live buckets.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += s.live
		s.mu.Unlock()
	}
	return n
}

// Evicted returns how many non-full buckets were dropped at the key cap.
func (l *Limiter) Evicted() uint64 { return l.evicted.Load() }

// Burst returns the bucket capacity.
func (l *Limiter) Burst() float64 { return l.burst }

func (l *Limiter) shard(key uint64) *shard { return &l.shards[key>>l.shift&uint64(len(l.shards)-1)] }

// rateOf is e's refill rate in tokens per nanosecond: the limiter's own, or
// its share of the fleet rate.
func (l *Limiter) rateOf(e *entry) float64 {
	if e.share == 0 {
		return l.rate
	}
	return float64(e.share-1) * l.unit
}

// level is e's token count at now, without changing e.
func (l *Limiter) level(e *entry, now int64) float64 {
	if dt := now - e.last; dt > 0 {
		return math.Min(l.burst, e.tokens+float64(dt)*l.rateOf(e))
	}
	return e.tokens
}

func (l *Limiter) refill(e *entry, now int64) {
	if now > e.last {
		e.tokens = l.level(e, now)
		e.last = now
	}
}

// result is the answer for a bucket left with tokens, refilling at rate
// tokens per ns (a zero share's rate counts as one share unit).
func (l *Limiter) result(ok bool, tokens, rate float64) Result {
	rate = math.Max(rate, l.unit)
	r := Result{Allowed: ok, Limit: l.limit, Remaining: int64(tokens)}
	if tokens < 1 {
		r.RetryAfter = nanos((1 - tokens) / rate)
	}
	r.ResetAfter = nanos((l.burst - tokens) / rate)
	return r
}

// nanos rounds f up to a Duration, saturating instead of overflowing.
func nanos(f float64) time.Duration {
	if f >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(math.Ceil(f))
}

func ceilPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

func log2(n int) int {
	k := 0
	for 1<<k < n {
		k++
	}
	return k
}
