// Package calib is the benchmark guard's yardstick: a fixed piece of CPU
// work shaped like gateway hot-path code (hashing short byte strings and
// looking them up in a small table). bench-check measures it in the same run
// as the hot micro-benchmarks and guards their ns/op as multiples of it, so
// the guard follows the machine's speed at that moment (frequency, noisy
// neighbours) instead of comparing absolute times across machines.
package calib

import "github.com/cespare/xxhash/v2"

// Work hashes 32 overlapping 64-byte windows of buf (at least 95 bytes) and
// mixes each hash through table; it always does the same work for the same
// input and returns a value the caller must use.
func Work(buf []byte, table *[1024]uint64) uint64 {
	var acc uint64
	for i := range 32 {
		h := xxhash.Sum64(buf[i : i+64])
		acc ^= table[(h^acc)&1023]
		table[h&1023] += acc | 1
	}
	return acc
}
