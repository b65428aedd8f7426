// Package tick runs the background loops of the engine (bucket sweeps,
// key-set refreshes, counter syncs) in one shape.
package tick

import (
	"context"
	"time"
)

// Every calls f with the tick time every d until ctx is done; it returns
// when ctx is done. f runs on the caller's goroutine, so a slow f delays
// (and the ticker drops) later ticks rather than overlapping them.
func Every(ctx context.Context, d time.Duration, f func(now time.Time)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			f(now)
		}
	}
}
