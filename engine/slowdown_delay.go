//go:build sluice_slow_delay && !sluice_slow_cpu

package engine

import (
	"sync/atomic"
	"time"
)

// slowCount numbers requests for the deliberate delay below.
var slowCount atomic.Uint64

// slowdown, in the sluice_slow_delay build only, holds every 100th request
// for 20 ms: the regression that `make bench-selftest` proves the open-loop
// latency guards catch (p99.9 goes from about a millisecond to over 20 ms).
func slowdown() {
	if slowCount.Add(1)%100 == 0 {
		time.Sleep(20 * time.Millisecond)
	}
}
