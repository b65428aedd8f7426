// Package hist is a small HDR-style latency histogram: log-bucketed with a
// fixed number of linear sub-buckets per power of two, so every recorded value
// is kept within 1/128 (< 0.8%) relative error, and Record never allocates.
//
// A Histogram is not safe for concurrent use: give each load worker its own
// and Merge them at the end.
package hist

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the precision: 2^subBits linear sub-buckets per power of two.
const (
	subBits  = 7
	subCount = 1 << subBits
	// exactLimit: values below it get a bucket of their own.
	exactLimit = 2 * subCount
	// numBuckets covers every non-negative int64.
	numBuckets = (64 - subBits) << subBits
)

// Histogram counts int64 values (nanoseconds, for latencies).
type Histogram struct {
	counts [numBuckets]uint64
	total  uint64
	min    int64
	max    int64
	sum    float64
}

// New returns an empty histogram.
func New() *Histogram { return &Histogram{min: math.MaxInt64} }

// index maps v >= 0 to its bucket.
func index(v int64) int {
	u := uint64(v)
	l := bits.Len64(u)
	if l <= subBits+1 {
		return int(u)
	}
	shift := l - (subBits + 1)
	return (shift+1)<<subBits + int(u>>uint(shift)) - subCount
}

// lowest returns the smallest value that maps to bucket i.
func lowest(i int) int64 {
	if i < exactLimit {
		return int64(i)
	}
	shift := i>>subBits - 1
	return int64(uint64(i&(subCount-1)+subCount) << uint(shift))
}

// highest returns the largest value that maps to bucket i.
func highest(i int) int64 {
	if i < exactLimit {
		return int64(i)
	}
	shift := i>>subBits - 1
	return lowest(i) + int64(1)<<uint(shift) - 1
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[index(v)]++
	h.total++
	h.sum += float64(v)
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

// RecordDuration adds a duration in nanoseconds.
func (h *Histogram) RecordDuration(d time.Duration) { h.Record(int64(d)) }

// Merge adds every value of o into h.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Reset empties h.
func (h *Histogram) Reset() { *h = Histogram{min: math.MaxInt64} }

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total }

// Min is the smallest recorded value (0 when empty).
func (h *Histogram) Min() int64 {
	if h.total == 0 {
		return 0
	}
	return h.min
}

// Max is the largest recorded value.
func (h *Histogram) Max() int64 { return h.max }

// Mean is the exact mean of the recorded values.
func (h *Histogram) Mean() float64 {
	if h.total == 0 {
		return 0
	}
	return h.sum / float64(h.total)
}

// Percentile returns the value below or at which p percent (0..100) of the
// recorded values lie: the highest value equivalent to the bucket holding the
// rank ceil(p/100*count), clamped to the recorded min and max. Empty: 0.
func (h *Histogram) Percentile(p float64) int64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p / 100 * float64(h.total)))
	rank = max(rank, 1)
	rank = min(rank, h.total)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i]
		if seen >= rank {
			return min(max(highest(i), h.min), h.max)
		}
	}
	return h.max
}

// PercentileDuration is Percentile as a time.Duration.
func (h *Histogram) PercentileDuration(p float64) time.Duration {
	return time.Duration(h.Percentile(p))
}
