package cache

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
	"github.com/dgraph-io/ristretto/v2"
)

// DefaultMaxBytes is the store's bound when server.cache_max_bytes is unset.
const DefaultMaxBytes = 64 << 20

// Store holds cached responses for every route, bounded in bytes.
type Store struct {
	c        *ristretto.Cache[uint64, *entry]
	maxBytes int64
	routes   atomic.Uint32 // route ids, so routes never share entries

	// mu guards closed against Set/Wait racing Close (ristretto panics on a
	// Set after Close).
	mu     sync.RWMutex
	closed bool

	flights flights
	bg      sync.WaitGroup // flight clean-ups still waiting for ristretto
	res     results
}

// New returns a store bounded by maxBytes (DefaultMaxBytes when <= 0), with
// its series (sluice_cache_requests_total, sluice_cache_bytes) in set, the
// engine's.
func New(maxBytes int64, set *metrics.Set) (*Store, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	// TinyLFU wants about ten counters per item it may hold; guess items of
	// about 1 KiB, within sane bounds.
	counters := min(max(maxBytes/1024*10, 10_000), 10_000_000)
	c, err := ristretto.NewCache(&ristretto.Config[uint64, *entry]{
		NumCounters:        counters,
		MaxCost:            maxBytes,
		BufferItems:        64,
		IgnoreInternalCost: true,
		// Keys are already xxhash sums; the entry holds the full key, which
		// Serve compares, so no conflict hash is needed.
		KeyToHash: func(k uint64) (uint64, uint64) { return k, 0 },
	})
	if err != nil {
		return nil, fmt.Errorf("cache: new store of %d bytes: %w", maxBytes, err)
	}
	s := &Store{c: c, maxBytes: maxBytes, res: newResults(set)}
	s.flights.m = make(map[uint64]*flight)
	// A gauge reads the store at scrape time (ristretto already tracks the
	// cost it holds; a closed store holds nothing).
	set.GetOrCreateGauge(`sluice_cache_bytes`, func() float64 { return float64(s.used()) })
	return s, nil
}

// Close releases the store. Requests still being served must have finished.
func (s *Store) Close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.bg.Wait()
	s.c.Close()
}

// lookup returns the entry stored under sum whose key is key, or nil.
func (s *Store) lookup(sum uint64, key []byte) *entry {
	e, ok := s.c.Get(sum)
	if !ok || e == nil || string(e.key) != string(key) {
		return nil
	}
	return e
}

// set stores e under sum for ttl. ristretto may still drop it; nothing
// depends on it being kept.
func (s *Store) set(sum uint64, e *entry) {
	s.mu.RLock()
	if !s.closed {
		s.c.SetWithTTL(sum, e, e.cost(), e.keepFor())
	}
	s.mu.RUnlock()
}

// settle waits until earlier sets are visible to lookups.
func (s *Store) settle() {
	s.mu.RLock()
	if !s.closed {
		s.c.Wait()
	}
	s.mu.RUnlock()
}

// used returns the bytes the store holds.
func (s *Store) used() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0
	}
	return s.maxBytes - s.c.RemainingCost()
}
