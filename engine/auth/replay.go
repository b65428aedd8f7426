package auth

import (
	"context"
	"sync"
	"time"

	"github.com/sluice-gw/sluice/engine/internal/tick"
)

// defaultReplayEntries bounds the replay cache (about 60 B an entry).
const defaultReplayEntries = 1 << 19

// replayCache remembers the signatures accepted within max_skew. An entry
// lives until its request's date leaves the skew window, after which the
// date check alone rejects a replay. When full of live entries it refuses
// new signatures rather than forget old ones (fail closed).
type replayCache struct {
	mu        sync.Mutex
	seen      map[[32]byte]int64 // signature → expiry (Unix nanoseconds)
	max       int
	interval  time.Duration
	lastSweep int64
}

func newReplayCache(window time.Duration, max int) *replayCache {
	iv := window / 2
	if iv < time.Second {
		iv = time.Second
	}
	return &replayCache{seen: make(map[[32]byte]int64), max: max, interval: iv}
}

// errReplayFull is returned by add when no room is left.
type replayResult int

const (
	replayOK replayResult = iota
	replaySeen
	replayFull
)

// add records sig until expires unless it is already recorded.
func (c *replayCache) add(sig [32]byte, expires, now int64) replayResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	if exp, ok := c.seen[sig]; ok && exp > now {
		return replaySeen
	}
	if len(c.seen) >= c.max {
		c.sweepLocked(now)
		if len(c.seen) >= c.max {
			return replayFull
		}
	}
	c.seen[sig] = expires
	return replayOK
}

func (c *replayCache) sweepLocked(now int64) {
	for k, exp := range c.seen {
		if exp <= now {
			delete(c.seen, k)
		}
	}
	c.lastSweep = now
}

// run sweeps expired entries periodically until ctx ends.
func (c *replayCache) run(ctx context.Context) {
	tick.Every(ctx, c.interval, func(now time.Time) {
		c.mu.Lock()
		c.sweepLocked(now.UnixNano())
		c.mu.Unlock()
	})
}
