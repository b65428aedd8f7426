package limiter

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

func BenchmarkAllow(b *testing.B) {
	l := New(Config{Rate: 1e9, Burst: 1e9})
	keys := make([]uint64, 1024)
	for i := range keys {
		keys[i] = rand.Uint64()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		l.Allow(keys[i&1023])
	}
}

// BenchmarkAllowShared is Allow on buckets of a cluster quota: usage and
// demand counted, refill at a share of the fleet rate set by a sync.
func BenchmarkAllowShared(b *testing.B) {
	l := New(Config{Rate: 1e9, Burst: 1e9, FleetRate: 3e9, CountUsage: true})
	keys := make([]uint64, 1024)
	for i := range keys {
		keys[i] = rand.Uint64()
		l.SetShare(keys[i], 1e9, 0.5)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		l.Allow(keys[i&1023])
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	l := New(Config{Rate: 1e9, Burst: 1e9})
	keys := make([]uint64, 1024)
	for i := range keys {
		keys[i] = rand.Uint64()
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(1024)
		for pb.Next() {
			l.Allow(keys[i&1023])
			i++
		}
	})
}

// BenchmarkFloodUniqueKeys is the per-call cost when every call is a new key
// and the table is at its cap (each call evicts).
func BenchmarkFloodUniqueKeys(b *testing.B) {
	l := New(Config{Rate: 50, Burst: 100, MaxKeys: 1 << 16})
	for range 1 << 17 {
		l.Allow(rand.Uint64())
	}
	b.ReportAllocs()
	b.ResetTimer()
	k := rand.Uint64()
	for b.Loop() {
		k += 0x9E3779B97F4A7C15
		l.Allow(k)
	}
}

// TestFloodMemory sends 5 million distinct keys (a random-IP flood) through a
// limiter with the default cap while a hot key keeps calling: the table stays
// within DefaultMaxKeys × 32 bytes and the hot key is never held up for long.
func TestFloodMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("5M-key flood skipped in -short mode and under the race detector (too slow)")
	}
	const flood = 5_000_000
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	l := New(Config{Rate: 1.0 / 60, Burst: 10}) // buckets never refill during the run: the worst case

	done := make(chan time.Duration)
	stop := make(chan struct{})
	go func() {
		var worst time.Duration
		for {
			select {
			case <-stop:
				done <- worst
				return
			default:
			}
			t0 := time.Now()
			l.Allow(1)
			worst = max(worst, time.Since(t0))
			time.Sleep(50 * time.Microsecond)
		}
	}()
	start := time.Now()
	k := rand.Uint64()
	for range flood {
		k += 0x9E3779B97F4A7C15
		l.Allow(k)
	}
	elapsed := time.Since(start)
	close(stop)
	worst := <-done

	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	live := l.Len()
	t.Logf("%d keys in %v (%.0f ns/key): %d live buckets, %d evicted, heap +%.1f MiB = %.1f bytes per live key; hot key worst call %v",
		flood, elapsed, float64(elapsed)/flood, live, l.Evicted(), float64(heap)/(1<<20), float64(heap)/float64(live), worst)
	if live > DefaultMaxKeys {
		t.Fatalf("%d live buckets over the cap %d", live, DefaultMaxKeys)
	}
	if limit := int64(DefaultMaxKeys*32) + 4<<20; heap > limit {
		t.Fatalf("heap grew %d bytes, over %d", heap, limit)
	}
	if worst > 250*time.Millisecond {
		t.Fatalf("hot key waited %v during the flood", worst)
	}
	runtime.KeepAlive(l)
}
