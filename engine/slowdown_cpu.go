//go:build sluice_slow_cpu

package engine

import (
	"sync/atomic"
	"time"
)

// slowSink keeps the spin loop's result alive.
var slowSink atomic.Uint64

// slowdown, in the sluice_slow_cpu build only, burns 10 µs of CPU on every
// request: the regression that `make bench-selftest` proves the throughput
// guards catch.
func slowdown() {
	start := time.Now()
	x := slowSink.Load()
	for time.Since(start) < 10*time.Microsecond {
		for range 64 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	slowSink.Store(x)
}
