package svgplot

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func TestWriteIsWellFormedSVG(t *testing.T) {
	var b strings.Builder
	err := Write(&b, "latency <open loop>", []Series{
		{Name: "direct", Points: []Point{{50, 0.1}, {90, 0.2}, {99, 0.5}, {99.9, 1.2}, {99.99, 3}}},
		{Name: "sluice & co", Points: []Point{{50, 0.3}, {90, 0.5}, {99, 2}, {99.9, 8}, {99.99, 40}}},
		{Name: "empty"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	dec := xml.NewDecoder(strings.NewReader(out))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, out)
		}
	}
	for _, want := range []string{"<svg", "p99.99", "sluice &amp; co", "latency &lt;open loop&gt;", "<polyline"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
	if n := strings.Count(out, "<polyline"); n != 2 {
		t.Errorf("%d lines, want 2 (one per non-empty series)", n)
	}
}

// TestPercentileAxisIsLogScaled checks that 90→99 is as wide as 99→99.9.
func TestPercentileAxisIsLogScaled(t *testing.T) {
	d1 := nines(99) - nines(90)
	d2 := nines(99.9) - nines(99)
	if d1-d2 > 1e-9 || d2-d1 > 1e-9 {
		t.Errorf("spacing %v vs %v", d1, d2)
	}
	if msLabel(0.5) != "500µs" || msLabel(2000) != "2s" || msLabel(20) != "20ms" {
		t.Errorf("labels %q %q %q", msLabel(0.5), msLabel(2000), msLabel(20))
	}
}
