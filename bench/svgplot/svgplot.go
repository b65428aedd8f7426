// Package svgplot writes a small SVG chart of latency percentile curves: one
// line per target, the percentile axis log-scaled (50, 90, 99, 99.9, 99.99
// are evenly spaced) and the latency axis logarithmic, so tails of targets
// that differ by orders of magnitude stay readable.
package svgplot

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
)

// Point is one latency (in milliseconds) at a percentile (0 < P < 100).
type Point struct {
	P  float64
	Ms float64
}

// Series is one target's curve.
type Series struct {
	Name   string
	Points []Point
}

// Percentiles are the x-axis ticks the harness reports.
var Percentiles = []float64{50, 90, 99, 99.9, 99.99}

// layout of the chart, in SVG user units.
const (
	width, height = 760, 440
	left, right   = 70, 190
	top, bottom   = 40, 50
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"}

// nines maps a percentile to its "number of nines": 90 -> 1, 99 -> 2.
func nines(p float64) float64 { return -math.Log10(1 - p/100) }

// Write renders the chart to w.
func Write(w io.Writer, title string, series []Series) error {
	lo, hi := math.Inf(1), math.Inf(-1)
	xmax := nines(Percentiles[len(Percentiles)-1])
	for _, s := range series {
		for _, p := range s.Points {
			if p.Ms > 0 {
				lo, hi = math.Min(lo, p.Ms), math.Max(hi, p.Ms)
			}
			xmax = math.Max(xmax, nines(p.P))
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0.1, 1
	}
	ylo := math.Pow(10, math.Floor(math.Log10(lo)))
	yhi := math.Pow(10, math.Ceil(math.Log10(hi)))
	if yhi <= ylo {
		yhi = ylo * 10
	}
	xmin := nines(Percentiles[0])
	pw, ph := float64(width-left-right), float64(height-top-bottom)
	x := func(p float64) float64 { return left + (nines(p)-xmin)/(xmax-xmin)*pw }
	y := func(ms float64) float64 {
		return top + ph - (math.Log10(ms)-math.Log10(ylo))/(math.Log10(yhi)-math.Log10(ylo))*ph
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))
	// Latency grid: 1, 2, 5 times each power of ten.
	for d := ylo; d < yhi*1.001; d *= 10 {
		for _, m := range []float64{1, 2, 5} {
			v := d * m
			if v > yhi*1.001 {
				break
			}
			yy := y(v)
			stroke := "#eee"
			if m == 1 {
				stroke = "#ccc"
			}
			fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s"/>`+"\n", left, width-right, yy, yy, stroke)
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-6, yy, msLabel(v))
		}
	}
	for _, p := range Percentiles {
		xx := x(p)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#ccc"/>`+"\n", xx, xx, top, height-bottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">p%s</text>`+"\n", xx, height-bottom+18, strconv.FormatFloat(p, 'f', -1, 64))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">percentile (log scale)</text>`+"\n", left+int(pw/2), height-10)
	fmt.Fprintf(&b, `<text x="16" y="%d" text-anchor="middle" transform="rotate(-90 16 %d)">latency (ms, log scale)</text>`+"\n", top+int(ph/2), top+int(ph/2))
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", left, top, int(pw), int(ph))

	for i, s := range series {
		color := palette[i%len(palette)]
		var pts []string
		for _, p := range s.Points {
			if p.Ms > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.P), y(p.Ms)))
			}
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(pts, " "))
			for _, pt := range pts {
				xy := strings.SplitN(pt, ",", 2)
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", xy[0], xy[1], color)
			}
		}
		ly := top + 10 + i*20
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", width-right+12, width-right+32, ly, ly, color)
		fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", width-right+38, ly, html.EscapeString(s.Name))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// msLabel formats a latency tick.
func msLabel(ms float64) string {
	switch {
	case ms >= 1000:
		return strconv.FormatFloat(ms/1000, 'g', 3, 64) + "s"
	case ms >= 1:
		return strconv.FormatFloat(ms, 'g', 3, 64) + "ms"
	default:
		return strconv.FormatFloat(ms*1000, 'g', 3, 64) + "µs"
	}
}
