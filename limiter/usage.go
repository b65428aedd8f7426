package limiter

import "math"

// shareUnits is the resolution of a bucket's share of the fleet rate.
const shareUnits = math.MaxUint16 - 1

// Usage is what happened to one bucket since the last AppendUsage, for
// sharing a quota between instances.
type Usage struct {
	Key uint64
	// Used is the tokens taken (refunds deducted).
	Used uint32
	// Offered is the calls made, admitted or not: the bucket's demand. It
	// saturates at 65535 a collection.
	Offered uint32
	// Left is the bucket's tokens at collection, at most 1: the fraction a
	// slow refill has gathered towards the next token, which a caller that
	// re-sets the bucket from a shared store may let it keep (SetShare).
	Left float64
}

// AppendUsage appends the buckets that were called since the previous call
// to dst, resets their counts and returns the extended slice.
func (l *Limiter) AppendUsage(dst []Usage) []Usage { return l.AppendUsageAt(dst, l.Now()) }

// AppendUsageAt is AppendUsage at time now.
func (l *Limiter) AppendUsageAt(dst []Usage, now int64) []Usage {
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for j := range s.slots {
			e := &s.slots[j]
			if e.last != 0 && (e.used > 0 || e.offered > 0) {
				dst = append(dst, Usage{Key: e.key, Used: e.used, Offered: uint32(e.offered), Left: math.Min(l.level(e, now), 1)})
				e.used, e.offered = 0, 0
			}
		}
		s.mu.Unlock()
	}
	return dst
}

// SetLevel sets key's bucket to tokens, less what was taken from it since the
// last AppendUsage (that usage is not yet in the caller's figure), clamped to
// [0, burst]. A missing bucket is created. The bucket keeps its refill rate.
func (l *Limiter) SetLevel(key uint64, tokens float64) {
	l.set(key, tokens, -1, l.Now())
}

// SetLevelAt is SetLevel at time now.
func (l *Limiter) SetLevelAt(key uint64, tokens float64, now int64) { l.set(key, tokens, -1, now) }

// SetShare is SetLevel that also makes the bucket refill at share (0 to 1,
// clamped) of Config.FleetRate instead of Config.Rate, until ResetShares.
// A caller that re-sets buckets often should include the Usage.Left it
// collected in tokens: a bucket whose share refills it by less than a token
// between two calls would otherwise lose that refill at every call and never
// admit.
func (l *Limiter) SetShare(key uint64, tokens, share float64) {
	l.set(key, tokens, math.Max(0, math.Min(1, share)), l.Now())
}

// SetShareAt is SetShare at time now.
func (l *Limiter) SetShareAt(key uint64, tokens, share float64, now int64) {
	l.set(key, tokens, math.Max(0, math.Min(1, share)), now)
}

// set implements SetLevel (share < 0: keep the rate) and SetShare.
func (l *Limiter) set(key uint64, tokens, share float64, now int64) {
	s := l.shard(key)
	s.mu.Lock()
	e := s.find(key)
	if e == nil {
		e = s.insert(l, key, now)
	}
	if share >= 0 {
		e.share = 1 + uint16(math.Round(share*shareUnits))
	}
	e.tokens = math.Max(0, math.Min(l.burst, tokens-float64(e.used)))
	e.last = now
	s.mu.Unlock()
}

// ResetShares makes every bucket refill at Config.Rate again (for example
// when the shared store that set the shares is unreachable).
func (l *Limiter) ResetShares() {
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for j := range s.slots {
			s.slots[j].share = 0
		}
		s.mu.Unlock()
	}
}
