package cache

import (
	"sync"
	"time"
)

// flight is one upstream call made for a key on behalf of every request that
// missed it meanwhile. The leader fills e (and stale) before closing done;
// followers answer from e, so coalescing never depends on ristretto keeping
// the entry.
type flight struct {
	key   []byte
	done  chan struct{}
	e     *entry // shareable answer; nil: followers fetch on their own
	stale bool   // e is an expired entry served because the upstream failed
}

// flights are the calls in progress, by key hash.
type flights struct {
	mu sync.Mutex
	m  map[uint64]*flight
}

// join returns the flight for key, creating it (leader true) when there is
// none. It returns nil when another key with the same hash is in flight: that
// request goes upstream on its own rather than risk a wrong answer.
func (s *Store) join(sum uint64, key []byte) (f *flight, leader bool) {
	s.flights.mu.Lock()
	defer s.flights.mu.Unlock()
	if f := s.flights.m[sum]; f != nil {
		if string(f.key) != string(key) {
			return nil, false
		}
		return f, false
	}
	f = &flight{key: append([]byte(nil), key...), done: make(chan struct{})}
	s.flights.m[sum] = f
	return f, true
}

// finish publishes the leader's answer and retires the flight. A stored entry
// keeps the flight joinable until ristretto has applied the Set, so that a
// request arriving in between does not make a second upstream call.
func (s *Store) finish(sum uint64, f *flight, e *entry, stale bool) {
	f.e, f.stale = e, stale
	close(f.done)
	if e == nil || stale {
		s.retire(sum, f)
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.settle()
		s.retire(sum, f)
	}()
}

func (s *Store) retire(sum uint64, f *flight) {
	s.flights.mu.Lock()
	if s.flights.m[sum] == f {
		delete(s.flights.m, sum)
	}
	s.flights.mu.Unlock()
}

// wait blocks until the leader is done or deadline (zero: none) passes; it
// reports whether the leader finished.
func (f *flight) wait(deadline time.Time) bool {
	if deadline.IsZero() {
		<-f.done
		return true
	}
	d := time.Until(deadline)
	if d <= 0 {
		select {
		case <-f.done:
			return true
		default:
			return false
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-f.done:
		return true
	case <-t.C:
		return false
	}
}
