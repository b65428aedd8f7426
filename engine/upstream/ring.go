package upstream

import (
	"sync/atomic"
	"time"
)

// base anchors the package's monotonic clock: nanotime is immune to wall-clock
// jumps and fits in an int64 that atomics can hold.
var base = time.Now()

// nanotime returns monotonic nanoseconds since the package was loaded.
func nanotime() int64 { return int64(time.Since(base)) }

// ringSlots is the number of buckets of a sliding window.
const ringSlots = 10

// ring is a lock-free sliding window of ringSlots buckets, each `width`
// nanoseconds wide, counting two quantities (a and b). A bucket is recycled
// when its epoch comes round again. Under contention a recycle may lose an
// increment or two racing with it; the counts are estimates, which is all a
// breaker or a budget needs.
type ring struct {
	width int64
	slots [ringSlots]ringSlot
}

type ringSlot struct {
	epoch atomic.Int64
	a, b  atomic.Int64
}

// init sizes the buckets so that the ring spans window, and empties it.
func (r *ring) init(window time.Duration) {
	r.width = max(int64(window)/ringSlots, 1)
	r.reset()
}

// add counts da and db in the bucket of now.
func (r *ring) add(now, da, db int64) {
	e := now / r.width
	s := &r.slots[e%ringSlots]
	if old := s.epoch.Load(); old != e {
		if old > e {
			return // a late count for a bucket already recycled: drop it
		}
		if s.epoch.CompareAndSwap(old, e) {
			s.a.Store(0)
			s.b.Store(0)
		}
	}
	if da != 0 {
		s.a.Add(da)
	}
	if db != 0 {
		s.b.Add(db)
	}
}

// sum totals the buckets of the window ending at now.
func (r *ring) sum(now int64) (a, b int64) {
	e := now / r.width
	for i := range r.slots {
		s := &r.slots[i]
		if ep := s.epoch.Load(); ep <= e && ep > e-ringSlots {
			a += s.a.Load()
			b += s.b.Load()
		}
	}
	return a, b
}

// reset empties the window.
func (r *ring) reset() {
	for i := range r.slots {
		s := &r.slots[i]
		s.epoch.Store(-ringSlots - 1)
		s.a.Store(0)
		s.b.Store(0)
	}
}
