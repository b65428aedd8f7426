package calib

import "testing"

var sink uint64

func fixture() ([]byte, *[1024]uint64) {
	buf := make([]byte, 96)
	for i := range buf {
		buf[i] = byte(i*7 + 3)
	}
	var table [1024]uint64
	for i := range table {
		table[i] = uint64(i) * 0x9E3779B97F4A7C15
	}
	return buf, &table
}

// BenchmarkCalibrate is the yardstick bench-check divides hot ns/op by.
func BenchmarkCalibrate(b *testing.B) {
	buf, table := fixture()
	b.ReportAllocs()
	for b.Loop() {
		sink += Work(buf, table)
	}
}

func TestWorkDeterministic(t *testing.T) {
	buf1, t1 := fixture()
	buf2, t2 := fixture()
	if a, b := Work(buf1, t1), Work(buf2, t2); a != b || a == 0 {
		t.Fatalf("Work: %d vs %d", a, b)
	}
	if n := testing.AllocsPerRun(100, func() { sink += Work(buf1, t1) }); n != 0 {
		t.Fatalf("Work allocates %v", n)
	}
}
