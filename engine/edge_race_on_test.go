//go:build race

package engine_test

// edgeRaceEnabled: the race detector makes sync.Pool drop items, so
// allocation counts are meaningless.
const edgeRaceEnabled = true
