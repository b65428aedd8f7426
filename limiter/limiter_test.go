package limiter

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
	"unsafe"
)

const sec = int64(time.Second)

func TestBurstThenRefill(t *testing.T) {
	l := New(Config{Rate: 10, Burst: 5})
	now := int64(1)
	for i := range 5 {
		r := l.AllowAt(42, now)
		if !r.Allowed || r.Remaining != int64(4-i) || r.Limit != 5 {
			t.Fatalf("call %d: %+v", i, r)
		}
	}
	r := l.AllowAt(42, now)
	if r.Allowed || r.Remaining != 0 {
		t.Fatalf("6th call admitted: %+v", r)
	}
	if r.RetryAfter != 100*time.Millisecond || r.ResetAfter != 500*time.Millisecond {
		t.Fatalf("retry %v reset %v, want 100ms and 500ms", r.RetryAfter, r.ResetAfter)
	}
	// 100ms later exactly one token is back.
	now += sec / 10
	if r := l.AllowAt(42, now); !r.Allowed || r.Remaining != 0 {
		t.Fatalf("after 100ms: %+v", r)
	}
	if r := l.AllowAt(42, now); r.Allowed {
		t.Fatalf("second call after 100ms admitted: %+v", r)
	}
	// A long pause refills to the burst, never beyond.
	now += 10 * sec
	admitted := 0
	for range 20 {
		if l.AllowAt(42, now).Allowed {
			admitted++
		}
	}
	if admitted != 5 {
		t.Fatalf("admitted %d after a long pause, want 5", admitted)
	}
}

func TestKeysIndependent(t *testing.T) {
	l := New(Config{Rate: 1, Burst: 2})
	for k := uint64(1); k <= 1000; k++ {
		for i := range 3 {
			r := l.AllowAt(k*0x9E3779B97F4A7C15, 1)
			if r.Allowed != (i < 2) {
				t.Fatalf("key %d call %d: %+v", k, i, r)
			}
		}
	}
	if n := l.Len(); n != 1000 {
		t.Fatalf("Len = %d, want 1000", n)
	}
}

func TestRefund(t *testing.T) {
	l := New(Config{Rate: 1, Burst: 1})
	if !l.AllowAt(7, 1).Allowed {
		t.Fatal("first call rejected")
	}
	l.Refund(7)
	if !l.AllowAt(7, 1).Allowed {
		t.Fatal("refunded token not available")
	}
	if l.AllowAt(7, 1).Allowed {
		t.Fatal("bucket over capacity after refund")
	}
}

func TestSweepFreesOnlyFullBuckets(t *testing.T) {
	l := New(Config{Rate: 1, Burst: 10, Shards: 4, CountUsage: true})
	for k := uint64(0); k < 5000; k++ {
		l.AllowAt(rand.Uint64(), 1)
	}
	l.AllowAt(99, 1)
	l.AppendUsage(nil) // forget usage, as a cluster sync does
	if n := l.SweepAt(1 + sec/2); n != 0 {
		t.Fatalf("swept %d buckets that are not full", n)
	}
	if n := l.SweepAt(1 + 2*sec); n != 5001 {
		t.Fatalf("swept %d, want 5001", n)
	}
	if l.Len() != 0 {
		t.Fatalf("Len = %d after sweep", l.Len())
	}
	for i := range l.shards {
		if len(l.shards[i].slots) != minSlots {
			t.Fatalf("shard %d kept %d slots after emptying", i, len(l.shards[i].slots))
		}
	}
}

func TestSweepKeepsUnreportedUsage(t *testing.T) {
	l := New(Config{Rate: 1, Burst: 1, CountUsage: true})
	l.AllowAt(5, 1)
	if n := l.SweepAt(10 * sec); n != 0 {
		t.Fatal("swept a bucket whose usage is unreported")
	}
	if u := l.AppendUsageAt(nil, 1); len(u) != 1 || u[0] != (Usage{Key: 5, Used: 1, Offered: 1, Left: 0}) {
		t.Fatalf("usage %v", u)
	}
	if u := l.AppendUsageAt(nil, 1); len(u) != 0 {
		t.Fatalf("usage not reset: %v", u)
	}
}

func TestSetLevelSubtractsUnreported(t *testing.T) {
	l := New(Config{Rate: 0.001, Burst: 10, CountUsage: true})
	for range 3 {
		l.AllowAt(1, 1)
	}
	l.AppendUsage(nil)
	l.AllowAt(1, 1) // taken after the report: not in the fleet's figure
	l.SetLevelAt(1, 4, 1)
	if r := l.AllowAt(1, 1); !r.Allowed || r.Remaining != 2 {
		t.Fatalf("after SetLevel(4) with 1 unreported: %+v", r)
	}
	l.SetLevelAt(1, 100, 1)
	if r := l.AllowAt(1, 1); r.Remaining != 9 {
		t.Fatalf("SetLevel beyond burst not clamped: %+v", r)
	}
	l.SetLevelAt(2, -5, 1)
	if r := l.AllowAt(2, 1); r.Allowed {
		t.Fatalf("SetLevel(-5) on a new key admitted: %+v", r)
	}
}

// TestUsageCountsDemand: Offered counts every call, admitted or not, and
// saturates instead of wrapping; a rejected-only bucket is still reported.
func TestUsageCountsDemand(t *testing.T) {
	l := New(Config{Rate: 0.001, Burst: 2, CountUsage: true})
	for range 5 {
		l.AllowAt(1, 1)
	}
	if u := l.AppendUsageAt(nil, 1); len(u) != 1 || u[0] != (Usage{Key: 1, Used: 2, Offered: 5, Left: 0}) {
		t.Fatalf("usage %v, want used 2 offered 5", u)
	}
	l.AllowAt(1, 1) // empty bucket: rejected, still demand
	if u := l.AppendUsageAt(nil, 1); len(u) != 1 || u[0] != (Usage{Key: 1, Used: 0, Offered: 1, Left: 0}) {
		t.Fatalf("usage %v, want a rejected call reported", u)
	}
	for range 70000 {
		l.AllowAt(1, 1)
	}
	if u := l.AppendUsageAt(nil, 1); len(u) != 1 || u[0].Offered != 65535 {
		t.Fatalf("usage %v, want Offered saturated at 65535", u)
	}
	if n := unsafe.Sizeof(entry{}); n != 32 {
		t.Fatalf("entry is %d bytes, the memory bound assumes 32", n)
	}
}

// TestSetShare: a bucket with a share refills at that share of FleetRate
// (headers follow), and ResetShares puts it back on Rate.
func TestSetShare(t *testing.T) {
	l := New(Config{Rate: 10, Burst: 100, FleetRate: 30, CountUsage: true})
	l.SetShareAt(1, 0, 0.5, 1) // 15 tokens a second
	const eps = sec / 100      // keep float rounding off whole tokens
	if r := l.AllowAt(1, 1+sec+eps); !r.Allowed || r.Remaining != 14 {
		t.Fatalf("after 1 s at share 0.5 of 30/s: %+v, want 15-1 left", r)
	}
	if r := l.AllowAt(1, 1+sec+eps); r.ResetAfter < 5*time.Second || r.ResetAfter > 6*time.Second {
		t.Fatalf("ResetAfter %v, want (100-13)/15 s", r.ResetAfter)
	}
	l.SetShareAt(2, 0, 0, 1)
	if r := l.AllowAt(2, 1+10*sec); r.Allowed || r.RetryAfter <= 0 {
		t.Fatalf("share 0 refilled: %+v", r)
	}
	l.SetLevelAt(1, 0, 1+sec) // SetLevel keeps the share
	if r := l.AllowAt(1, 1+2*sec+eps); r.Remaining != 14 {
		t.Fatalf("SetLevel changed the share: %+v", r)
	}
	l.ResetShares()
	l.SetLevelAt(1, 0, 1+2*sec)
	if r := l.AllowAt(1, 1+3*sec+eps); r.Remaining != 9 {
		t.Fatalf("after ResetShares: %+v, want the own rate 10/s", r)
	}

	// A slow share: 0.1 of 30/s is 3 tokens a second, 0.15 between syncs
	// every 50 ms that say the fleet has nothing left, with a call (rejected
	// until a token is there) before each. Usage.Left carries the refill
	// across syncs; without it each sync resets it and nothing is admitted.
	for _, carry := range []bool{true, false} {
		l := New(Config{Rate: 10, Burst: 100, FleetRate: 30, CountUsage: true})
		l.SetShareAt(3, 0, 0.1, 1)
		now, admitted := int64(1), 0
		for range 18 { // 0.9 s: two tokens
			now += sec / 20
			if l.AllowAt(3, now).Allowed {
				admitted++
			}
			left := 0.0
			for _, u := range l.AppendUsageAt(nil, now) {
				left = u.Left
			}
			if !carry {
				left = 0
			}
			l.SetShareAt(3, left, 0.1, now)
		}
		if carry && admitted != 2 || !carry && admitted != 0 {
			t.Fatalf("carry %v: 0.9 s at 3 tokens a second admitted %d", carry, admitted)
		}
	}
}

// TestKeyCap floods one limiter with far more keys than its cap: the table
// stays at the cap, and a key in steady use keeps its bucket (evictions take
// the buckets closest to full first).
func TestKeyCap(t *testing.T) {
	const maxKeys = 1 << 12
	l := New(Config{Rate: 1, Burst: 100, MaxKeys: maxKeys, Shards: 4})
	hot := uint64(0xABCDEF)
	for range 60 {
		l.AllowAt(hot, 1)
	}
	for range 200_000 {
		l.AllowAt(rand.Uint64(), 1)
	}
	if n := l.Len(); n > maxKeys {
		t.Fatalf("Len = %d, over the cap %d", n, maxKeys)
	}
	slots := 0
	for i := range l.shards {
		slots += len(l.shards[i].slots)
	}
	if slots > maxKeys {
		t.Fatalf("%d slots allocated, cap %d", slots, maxKeys)
	}
	if r := l.AllowAt(hot, 1); r.Remaining != 39 {
		t.Fatalf("hot key lost its bucket in the flood: %+v", r)
	}
	if l.Evicted() == 0 {
		t.Fatal("no evictions counted")
	}
}

func TestConcurrentExactCount(t *testing.T) {
	l := New(Config{Rate: 0.001, Burst: 1000})
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for range 500 {
				if l.Allow(1).Allowed {
					n++
				}
			}
			mu.Lock()
			admitted += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if admitted != 1000 {
		t.Fatalf("admitted %d of 4000, want exactly 1000", admitted)
	}
}

func TestNewClampsBadConfig(t *testing.T) {
	l := New(Config{Rate: -1, Burst: 0, MaxKeys: -3, Shards: -1})
	if !l.Allow(1).Allowed || l.Allow(1).Allowed {
		t.Fatal("clamped limiter should admit exactly one")
	}
}

func TestSlowRateSaturates(t *testing.T) {
	l := New(Config{Rate: 1e-12, Burst: 1})
	l.AllowAt(1, 1)
	r := l.AllowAt(1, 1)
	if r.Allowed || r.RetryAfter <= 0 || r.ResetAfter <= 0 {
		t.Fatalf("durations overflowed: %+v", r)
	}
}
