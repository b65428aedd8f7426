package hist

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBucketsAreContiguous(t *testing.T) {
	for i := 1; i < numBuckets; i++ {
		if lowest(i) != highest(i-1)+1 {
			t.Fatalf("gap between bucket %d (..%d) and %d (%d..)", i-1, highest(i-1), i, lowest(i))
		}
	}
	for _, v := range []int64{0, 1, 255, 256, 257, 1000, 1 << 40, 1<<62 + 12345, 1<<63 - 1} {
		i := index(v)
		if v < lowest(i) || v > highest(i) {
			t.Errorf("value %d in bucket %d [%d, %d]", v, i, lowest(i), highest(i))
		}
	}
	if index(1<<63-1) != numBuckets-1 {
		t.Errorf("max int64 in bucket %d, want last %d", index(1<<63-1), numBuckets-1)
	}
}

func TestPercentilesOfUniformRange(t *testing.T) {
	h := New()
	const n = 1_000_000
	for v := int64(1); v <= n; v++ {
		h.Record(v)
	}
	for _, p := range []float64{50, 90, 99, 99.9, 99.99} {
		want := float64(n) * p / 100
		got := float64(h.Percentile(p))
		if got < want || got > want*(1+1.0/subCount) {
			t.Errorf("p%v = %v, want within [%v, %v]", p, got, want, want*(1+1.0/subCount))
		}
	}
	if h.Percentile(100) != n || h.Percentile(0) != 1 || h.Min() != 1 || h.Max() != n {
		t.Errorf("p100=%d p0=%d min=%d max=%d", h.Percentile(100), h.Percentile(0), h.Min(), h.Max())
	}
	if m := h.Mean(); m != (n+1)/2.0 {
		t.Errorf("mean %v", m)
	}
}

// TestPercentilesAgainstSorted compares with the exact nearest-rank percentile
// of random log-normal-ish latencies.
func TestPercentilesAgainstSorted(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	h := New()
	var vals []int64
	for range 200_000 {
		v := int64(50_000 * (1 + r.ExpFloat64()*r.ExpFloat64()*10))
		vals = append(vals, v)
		h.Record(v)
	}
	slices.Sort(vals)
	for _, p := range []float64{1, 50, 90, 99, 99.9, 99.99} {
		rank := int(float64(len(vals))*p/100+0.999999) - 1
		exact := vals[rank]
		got := h.Percentile(p)
		if got < exact || float64(got) > float64(exact)*(1+1.0/subCount) {
			t.Errorf("p%v = %d, exact %d", p, got, exact)
		}
	}
}

func TestSmallValuesExactAndMerge(t *testing.T) {
	a, b := New(), New()
	for v := int64(1); v <= 100; v++ {
		if v%2 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	a.Merge(b)
	if a.Count() != 100 || a.Percentile(50) != 50 || a.Percentile(99) != 99 || a.Min() != 1 {
		t.Errorf("count %d p50 %d p99 %d min %d", a.Count(), a.Percentile(50), a.Percentile(99), a.Min())
	}
	e := New()
	if e.Percentile(99) != 0 || e.Min() != 0 || e.Mean() != 0 {
		t.Error("empty histogram not zero")
	}
	e.Record(-5)
	if e.Percentile(50) != 0 {
		t.Error("negative value not clamped to 0")
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	h := New()
	v := int64(1)
	if n := testing.AllocsPerRun(1000, func() { h.Record(v); v = v*3 + 7 }); n != 0 {
		t.Errorf("Record allocates %v times", n)
	}
}

func BenchmarkRecord(b *testing.B) {
	h := New()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(int64(i) * 977)
	}
}
