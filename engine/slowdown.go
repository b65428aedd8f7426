//go:build !sluice_slow_delay && !sluice_slow_cpu

package engine

// slowdown is the hook through which the benchmark guard's self-test
// (`make bench-selftest`) builds a deliberately slower gateway with the
// build tags sluice_slow_delay or sluice_slow_cpu (engine/slowdown_*.go).
// In the normal build it is empty and inlined away: it costs nothing.
func slowdown() {}
