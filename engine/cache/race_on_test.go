//go:build race

package cache

// raceEnabled: the race detector makes sync.Pool drop objects on purpose,
// so allocation counts are meaningless.
const raceEnabled = true
