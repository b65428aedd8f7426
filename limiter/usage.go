package limiter

import "math"

// Usage is the number of tokens taken from one bucket since the last
// AppendUsage, for sharing a quota between instances.
type Usage struct {
	Key  uint64
	Used uint32
}

// AppendUsage appends the buckets with tokens taken since the previous call
// to dst, resets their counts and returns the extended slice.
func (l *Limiter) AppendUsage(dst []Usage) []Usage {
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for j := range s.slots {
			e := &s.slots[j]
			if e.last != 0 && e.used > 0 {
				dst = append(dst, Usage{Key: e.key, Used: e.used})
				e.used = 0
			}
		}
		s.mu.Unlock()
	}
	return dst
}

// SetLevel sets key's bucket to tokens, less what was taken from it since the
// last AppendUsage (that usage is not yet in the caller's figure), clamped to
// [0, burst]. A missing bucket is created.
func (l *Limiter) SetLevel(key uint64, tokens float64) { l.SetLevelAt(key, tokens, l.Now()) }

// SetLevelAt is SetLevel at time now.
func (l *Limiter) SetLevelAt(key uint64, tokens float64, now int64) {
	s := l.shard(key)
	s.mu.Lock()
	e := s.find(key)
	if e == nil {
		e = s.insert(l, key, now)
	}
	e.tokens = math.Max(0, math.Min(l.burst, tokens-float64(e.used)))
	e.last = now
	s.mu.Unlock()
}
