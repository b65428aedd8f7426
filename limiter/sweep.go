package limiter

// Sweep frees the slots of buckets that have refilled completely (and have
// no usage waiting to be reported), and halves a shard's table when it is
// mostly empty. It locks one shard at a time, so callers of Allow wait at
// most for one shard's scan. It returns the number of buckets freed.
func (l *Limiter) Sweep() int { return l.SweepAt(l.Now()) }

// SweepAt is Sweep at time now.
func (l *Limiter) SweepAt(now int64) int {
	freed := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for j := range s.slots {
			e := &s.slots[j]
			if e.last != 0 && e.used == 0 && e.offered == 0 && l.level(e, now) >= l.burst {
				*e = entry{}
				s.live--
				freed++
			}
		}
		for len(s.slots) > minSlots && s.live*8 < len(s.slots) {
			if !s.resize(len(s.slots) / 2) {
				break
			}
		}
		s.mu.Unlock()
	}
	return freed
}
