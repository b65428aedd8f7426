package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	json "github.com/goccy/go-json"
)

// Guard groups: micro runs Go benchmarks, load starts processes.
const (
	groupMicro = "micro"
	groupLoad  = "load"
)

// guardDef is one figure bench-check measures and bounds. Calibrated guards
// take their floor or ceiling from bench/baseline.json (written by `harness
// calibrate`); fixed ones carry their bounds here, because they are proofs
// that a scenario does what it claims, not performance figures.
type guardDef struct {
	name  string
	group string
	// ceiling: a higher figure is worse (latency, ns/op); else lower is worse.
	ceiling bool
	// minMargin is the least relative margin calibrate leaves between the
	// calibrated median and the bound, whatever the measured spread.
	minMargin float64
	// kScale multiplies calibrate's k (0: 1).
	kScale float64
	// fixedMin, fixedMax bound a fixed guard (NaN: no bound).
	fixedMin, fixedMax float64
	fixed              bool
	what               string
}

// The hot micro-benchmarks whose ns/op are guarded as multiples of the
// calibration loop measured in the same run.
var hotBenchmarks = []string{
	"router.BenchmarkLookup",
	"router.BenchmarkNormalize",
	"limiter.BenchmarkAllow",
	"engine/ratelimit.BenchmarkAllowTwoPolicies",
	"engine/auth.BenchmarkJWTES256Cached",
	"engine/cache.BenchmarkServeHit",
	"engine.BenchmarkProxy",
}

// The RunParallel benchmarks run at -cpu 1,2,4 whose scaling is guarded:
// limiter, verified-token cache, response cache.
var parallelBenchmarks = []string{
	"limiter.BenchmarkAllowParallel",
	"engine/auth.BenchmarkJWTCachedParallel",
	"engine/cache.BenchmarkServeHitParallel",
}

// parallelCPUs are the -cpu values of the scaling runs.
var parallelCPUs = []int{1, 2, 4}

// calibKey is the calibration loop (bench/calib).
const calibKey = "bench/calib.BenchmarkCalibrate"

// Ratio guards of the load phase: each numerator target against a reference
// measured in the same interleaved rounds.
var (
	throughputRatios = [][2]string{{"plain", "nginx"}, {"pipeline", "nginx"}, {"cache", "nginx"}}
	latencyRatios    = [][2]string{{"plain", "nginx"}, {"plain", "direct"}, {"pipeline", "nginx"}}
	latencyPcts      = []float64{99, 99.9}
)

func pctName(p float64) string { return "p" + strings.TrimSuffix(fmt.Sprintf("%g", p), ".0") }

// guardDefs lists every guard in report order.
func guardDefs() []guardDef {
	var defs []guardDef
	for _, k := range hotBenchmarks {
		defs = append(defs, guardDef{name: "ns/" + k, group: groupMicro, ceiling: true, minMargin: 0.10,
			what: "ns/op ÷ calibration loop ns/op (same run, best of 3)"})
	}
	for _, k := range parallelBenchmarks {
		for _, c := range parallelCPUs[1:] {
			defs = append(defs, guardDef{name: fmt.Sprintf("scaling/%s/cpu%d", k, c), group: groupMicro, minMargin: 0.10,
				what: fmt.Sprintf("ns/op at -cpu 1 ÷ ns/op at -cpu %d (RunParallel, median of 3 rounds; 1 = no gain, a lock convoy drops below 1)", c)})
		}
	}
	for _, r := range throughputRatios {
		defs = append(defs, guardDef{name: fmt.Sprintf("throughput/%s_vs_%s", r[0], r[1]), group: groupLoad, minMargin: 0.04,
			what: "closed-loop req/s ratio, median of per-round ratios of interleaved rounds"})
	}
	for _, r := range latencyRatios {
		for _, p := range latencyPcts {
			defs = append(defs, guardDef{name: fmt.Sprintf("latency/%s/%s_vs_%s", pctName(p), r[0], r[1]), group: groupLoad, ceiling: true, minMargin: 0.30,
				what: "open-loop latency ratio (from the intended send time): the target's best round ÷ the reference's best round"})
		}
	}
	nan := math.NaN()
	defs = append(defs,
		guardDef{name: "pipeline/limited_share", group: groupLoad, fixed: true, fixedMin: 1e-5, fixedMax: 0.05,
			what: "share of pipeline answers that are 429: the per-client limit engages for the hot clients only"},
		guardDef{name: "pipeline/verified_share", group: groupLoad, fixed: true, fixedMin: 0.5 / freshEvery, fixedMax: 0.5,
			what: "JWT signature checks per pipeline request (sluice_auth_jwt_verifications_total): fresh tokens verify, the rest hit the token cache"},
		guardDef{name: "pipeline/access_log_bytes_per_request", group: groupLoad, fixed: true, fixedMin: 40, fixedMax: nan,
			what: "access log file bytes per pipeline request: the log is on and written"},
	)
	return defs
}

func defByName(name string) (guardDef, bool) {
	for _, d := range guardDefs() {
		if d.name == name {
			return d, true
		}
	}
	return guardDef{}, false
}

// baseline is bench/baseline.json.
type baseline struct {
	Comment string `json:"_comment,omitempty"`
	// Calibration describes the runs the guards' bounds come from.
	Calibration *calibration `json:"calibration,omitempty"`
	// AllocsPerOp maps "pkg/dir.BenchmarkName" to its ceiling of allocs/op.
	AllocsPerOp map[string]int64 `json:"allocs_per_op"`
	// Guards maps a guard name (guardDefs) to its bound.
	Guards map[string]*bound `json:"guards"`
}

// calibration records how the bounds were set, for the next person.
type calibration struct {
	Date   string  `json:"date"`
	Commit string  `json:"commit"`
	Runs   int     `json:"runs"`
	K      float64 `json:"k"`
	Rule   string  `json:"rule"`
	Load   string  `json:"load,omitempty"`
}

// bound is one calibrated guard: its floor or ceiling and the figures it came from.
type bound struct {
	Floor   *float64  `json:"floor,omitempty"`
	Ceiling *float64  `json:"ceiling,omitempty"`
	Median  float64   `json:"median"`
	Runs    []float64 `json:"runs,omitempty"`
}

func loadBaseline(path string) (*baseline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	var b baseline
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("baseline %s: %w", path, err)
	}
	for name, g := range b.Guards {
		d, ok := defByName(name)
		switch {
		case !ok:
			return nil, fmt.Errorf("baseline %s: guards: unknown guard %q (recalibrate: make bench-calibrate)", path, name)
		case d.fixed:
			return nil, fmt.Errorf("baseline %s: guards: %q has fixed bounds in the harness, not in the baseline", path, name)
		case g == nil || (d.ceiling && g.Ceiling == nil) || (!d.ceiling && g.Floor == nil):
			return nil, fmt.Errorf("baseline %s: guards: %q needs a %s", path, name, map[bool]string{true: "ceiling", false: "floor"}[d.ceiling])
		}
	}
	return &b, nil
}

func writeBaseline(path string, b *baseline) error {
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(out, '\n'), 0o644)
}

// measurement is what one measuring pass found.
type measurement struct {
	values  map[string]float64 // guard name → figure
	missing map[string]string  // guard name → why it was not measured
	allocs  map[string]int64   // allocs/op by baseline key
	info    []string           // context lines for the report
}

func newMeasurement() *measurement {
	return &measurement{values: map[string]float64{}, missing: map[string]string{}, allocs: map[string]int64{}}
}

func (m *measurement) miss(name, why string) {
	if _, ok := m.missing[name]; !ok {
		m.missing[name] = why
	}
}

func (m *measurement) note(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	m.info = append(m.info, line)
	fmt.Println("      " + line)
}

// verdict is the outcome of one guard.
type verdict struct {
	name, state, detail string // state: ok, FAIL, SKIP
}

// evaluate compares m with b for the guards of groups. A guard that was not
// measured, or has no bound, fails unless allowSkip (local runs only).
func evaluate(b *baseline, m *measurement, groups map[string]bool, allowSkip bool) []verdict {
	var out []verdict
	notRun := func(name, why string) {
		state := "FAIL"
		if allowSkip {
			state = "SKIP"
		}
		out = append(out, verdict{name, state, "not checked: " + why})
	}
	if groups[groupMicro] {
		keys := make([]string, 0, len(b.AllocsPerOp))
		for k := range b.AllocsPerOp {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			name := "allocs/" + k
			got, ok := m.allocs[k]
			if !ok {
				notRun(name, m.missing[name])
				continue
			}
			state := "ok"
			if got > b.AllocsPerOp[k] {
				state = "FAIL"
			}
			out = append(out, verdict{name, state, fmt.Sprintf("%d allocs/op (ceiling %d)", got, b.AllocsPerOp[k])})
		}
	}
	for _, d := range guardDefs() {
		if !groups[d.group] {
			continue
		}
		v, ok := m.values[d.name]
		if !ok {
			why := m.missing[d.name]
			if why == "" {
				why = "no figure"
			}
			notRun(d.name, why)
			continue
		}
		lo, hi := math.NaN(), math.NaN()
		var from string
		if d.fixed {
			lo, hi, from = d.fixedMin, d.fixedMax, "fixed"
		} else {
			g := b.Guards[d.name]
			if g == nil {
				notRun(d.name, fmt.Sprintf("figure %.4g but no bound in the baseline (make bench-calibrate)", v))
				continue
			}
			if g.Floor != nil {
				lo = *g.Floor
			}
			if g.Ceiling != nil {
				hi = *g.Ceiling
			}
			from = fmt.Sprintf("calibrated median %.4g", g.Median)
		}
		state := "ok"
		if v < lo || v > hi || math.IsNaN(v) {
			state = "FAIL"
		}
		var lim []string
		if !math.IsNaN(lo) {
			lim = append(lim, fmt.Sprintf("floor %.4g", lo))
		}
		if !math.IsNaN(hi) {
			lim = append(lim, fmt.Sprintf("ceiling %.4g", hi))
		}
		out = append(out, verdict{d.name, state, fmt.Sprintf("%.4g (%s; %s)", v, strings.Join(lim, ", "), from)})
	}
	return out
}

// printVerdicts prints the verdicts and returns how many failed.
func printVerdicts(vs []verdict) int {
	failed := 0
	for _, v := range vs {
		if v.state == "FAIL" {
			failed++
		}
		fmt.Printf("%-4s  %-58s %s\n", v.state, v.name, v.detail)
	}
	return failed
}

// median of xs (xs is not modified); NaN when empty.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// calibrateBound applies the calibration rule to one guard's figures from
// several runs: with med the median, iqr the interquartile range and
// spread = max(iqr, minMargin·med),
//
//	floor   = med − k·spread
//	ceiling = med + k·spread      (latency: k·kScale)
//
// The quartiles make the rule robust: one run disturbed by something else on
// the machine moves neither the median nor the IQR much, where a min/max rule
// would let that single run loosen the bound for every later check. With k=3
// a quiet machine's run-to-run noise (about ±1 IQR) stays well inside, and a
// regression of a few IQRs does not.
func calibrateBound(d guardDef, runs []float64, k float64) *bound {
	med := median(runs)
	spread := max(quantile(runs, 0.75)-quantile(runs, 0.25), d.minMargin*math.Abs(med))
	if d.kScale > 0 {
		k *= d.kScale
	}
	b := &bound{Median: round4(med), Runs: make([]float64, len(runs))}
	for i, v := range runs {
		b.Runs[i] = round4(v)
	}
	if d.ceiling {
		c := round4(med + k*spread)
		b.Ceiling = &c
	} else {
		f := round4(max(med-k*spread, 0))
		b.Floor = &f
	}
	return b
}

// quantile of xs at q in [0,1], interpolating linearly between the sorted
// figures (xs is not modified); NaN when empty.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (pos-float64(i))*(s[i+1]-s[i])
}

// round4 keeps four significant digits.
func round4(v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	p := math.Pow(10, 3-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}
