package limiter

import (
	"math"
	"sync"
)

// ways is the number of slots in a set; a key may live in any slot of the
// set its hash selects.
const ways = 8

// minSlots is a shard's starting (and smallest) table size.
const minSlots = 2 * ways

// entry is one bucket: 32 bytes.
type entry struct {
	key    uint64
	last   int64   // limiter clock at the last refill; 0 marks a free slot
	tokens float64 // tokens at last
	used   uint32  // tokens taken since the last Usage call
	// offered counts the calls (admitted or not) since the last Usage call,
	// saturating at MaxUint16: it is a demand estimate, not an account.
	offered uint16
	// share is 0 for the limiter's own rate, else 1 + the bucket's share of
	// Config.FleetRate in units of 1/shareUnits (see SetShare).
	share uint16
}

// shard is an independently locked set-associative table of buckets.
type shard struct {
	mu       sync.Mutex
	slots    []entry // len is a power of two, a multiple of ways
	live     int
	maxSlots int
	_        [64]byte // keep neighbouring shards' locks off one cache line
}

func (s *shard) init(maxSlots int) {
	s.maxSlots = max(maxSlots, minSlots)
	s.slots = make([]entry, min(minSlots, s.maxSlots))
}

// set returns the slots key may occupy in a table of n slots.
func set(slots []entry, key uint64) []entry {
	base := int(key&uint64(len(slots)/ways-1)) * ways
	return slots[base : base+ways : base+ways]
}

func (s *shard) find(key uint64) *entry {
	st := set(s.slots, key)
	for i := range st {
		if st[i].key == key && st[i].last != 0 {
			return &st[i]
		}
	}
	return nil
}

// insert adds a full bucket for key, which is not in the table: in a free
// slot, in place of a bucket that has refilled, in a grown table, or (at the
// cap) in place of the bucket of the set closest to full.
func (s *shard) insert(l *Limiter, key uint64, now int64) *entry {
	for {
		st := set(s.slots, key)
		victim, best := 0, math.Inf(-1)
		for i := range st {
			e := &st[i]
			if e.last == 0 {
				victim, best = i, l.burst+1
				break
			}
			// A bucket with unreported usage is kept while another choice exists.
			lv := l.level(e, now)
			if e.used > 0 || e.offered > 0 {
				lv -= l.burst
			}
			if lv > best {
				victim, best = i, lv
			}
		}
		switch {
		case best >= l.burst:
			// A free slot, or a full bucket that nobody would miss.
			if st[victim].last == 0 {
				s.live++
			}
		case len(s.slots) < s.maxSlots:
			s.resize(2 * len(s.slots))
			continue
		default:
			l.evicted.Add(1)
		}
		st[victim] = entry{key: key, last: now, tokens: l.burst}
		return &st[victim]
	}
}

// resize rehashes the live buckets into a table of n slots and reports
// whether they all fit (growing always fits: an old set splits in two).
func (s *shard) resize(n int) bool {
	next := make([]entry, n)
	for i := range s.slots {
		e := &s.slots[i]
		if e.last == 0 {
			continue
		}
		placed := false
		st := set(next, e.key)
		for j := range st {
			if st[j].last == 0 {
				st[j] = *e
				placed = true
				break
			}
		}
		if !placed {
			return false
		}
	}
	s.slots = next
	return true
}
