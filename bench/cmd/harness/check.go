package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// errCheckFailed means a guard was broken (exit 1, not a harness error).
var errCheckFailed = errors.New("bench-check failed")

// groupsOf parses -only: "micro", "load" or "all".
func groupsOf(only string) (map[string]bool, error) {
	switch only {
	case "", "all":
		return map[string]bool{groupMicro: true, groupLoad: true}, nil
	case groupMicro, groupLoad:
		return map[string]bool{only: true}, nil
	}
	return nil, fmt.Errorf("-only %q: want micro, load or all", only)
}

// measureAll runs the measuring passes of groups.
func measureAll(ctx context.Context, o options, pin bool, b *baseline, groups map[string]bool) (*measurement, error) {
	m := newMeasurement()
	if groups[groupMicro] {
		fmt.Println("== micro-benchmarks: allocs/op, ns/op against the calibration loop, RunParallel scaling")
		if err := measureMicro(ctx, o, b, m); err != nil {
			return nil, err
		}
	}
	if groups[groupLoad] {
		fmt.Println("== load: closed-loop throughput and open-loop latency against nginx and the upstream, interleaved rounds")
		if err := measureLoad(ctx, o, pin, m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// runCheck is `harness check`: measure, then compare every guard with its
// bound. A guard that could not be measured fails (unless -allow-skip).
func runCheck(ctx context.Context, o options, pin bool) error {
	b, err := loadBaseline(o.baseline)
	if err != nil {
		return err
	}
	groups, err := groupsOf(o.only)
	if err != nil {
		return err
	}
	start := time.Now()
	_, failed, err := checkConfirmed(ctx, o, pin, b, groups)
	if err != nil {
		return err
	}
	fmt.Printf("bench-check took %v\n", time.Since(start).Round(time.Second))
	if failed > 0 {
		return fmt.Errorf("%w: %d guard(s) broken or not checked", errCheckFailed, failed)
	}
	fmt.Println("bench-check: ok")
	return nil
}

// confirmations is how many times a group with a failed guard is measured
// again. Micro-benchmarks take about a minute and their noise (another
// tenant thrashing the shared cache) comes in bursts that can outlast one
// re-run, so they get three, a pause apart; a load re-run takes longer, and
// a marginal real regression must not get several chances to pass.
var confirmations = map[string]int{groupMicro: 3, groupLoad: 1}

// confirmPause separates two measurements of the micro group.
var confirmPause = 20 * time.Second

// checkConfirmed measures groups and evaluates the guards. When a guard
// fails, the groups holding failures are measured again (confirmations) and
// a guard fails only if it fails every time: a real regression is there
// every time, a burst of noise from elsewhere on the machine rarely.
// (-confirm=false judges on one measurement.)
func checkConfirmed(ctx context.Context, o options, pin bool, b *baseline, groups map[string]bool) ([]verdict, int, error) {
	m, err := measureAll(ctx, o, pin, b, groups)
	if err != nil {
		return nil, 0, err
	}
	fmt.Printf("== guards (bounds from %s)\n", o.baseline)
	vs := evaluate(b, m, groups, o.allowSkip)
	failed := printVerdicts(vs)
	if failed == 0 || !o.confirm {
		return vs, failed, nil
	}
	for try := 1; ; try++ {
		again := map[string]bool{}
		for _, v := range vs {
			if g := groupOf(v.name); v.state == "FAIL" && try <= confirmations[g] {
				again[g] = true
			}
		}
		if len(again) == 0 {
			break
		}
		if try > 1 {
			time.Sleep(confirmPause)
		}
		fmt.Printf("== %d guard(s) failed: measuring %s again to confirm (%d)\n", failed, strings.Join(sortedKeys(again), " and "), try)
		m2, err := measureAll(ctx, o, pin, b, again)
		if err != nil {
			return nil, 0, err
		}
		next := map[string]verdict{}
		for _, v := range evaluate(b, m2, again, o.allowSkip) {
			next[v.name] = v
		}
		for i, v := range vs {
			if v.state != "FAIL" {
				continue
			}
			if w, ok := next[v.name]; ok && w.state != "FAIL" {
				vs[i] = verdict{v.name, "ok", "failed " + strconv.Itoa(try) + "×, last " + v.detail + "; then " + w.detail}
			} else if ok {
				vs[i].detail = v.detail + "; again: " + w.detail
			}
		}
		fmt.Printf("== guards after confirmation %d (a guard fails when it failed every time)\n", try)
		failed = printVerdicts(vs)
		if failed == 0 {
			break
		}
	}
	return vs, failed, nil
}

// groupOf is the group of a guard or allocation verdict name.
func groupOf(name string) string {
	if d, ok := defByName(name); ok {
		return d.group
	}
	return groupMicro // allocs/…
}

// printBaseline is `harness baseline`: the current allocs/op of every
// benchmark named in the baseline, as JSON, to paste after a deliberate change.
func printBaseline(ctx context.Context, o options) error {
	b, err := loadBaseline(o.baseline)
	if err != nil {
		return err
	}
	m := newMeasurement()
	saveHot, savePar := hotBenchmarks, parallelBenchmarks
	hotBenchmarks, parallelBenchmarks = nil, nil
	err = measureMicro(ctx, o, b, m)
	hotBenchmarks, parallelBenchmarks = saveHot, savePar
	if err != nil {
		return err
	}
	for k := range b.AllocsPerOp {
		if v, ok := m.allocs[k]; ok {
			b.AllocsPerOp[k] = v
		} else {
			fmt.Fprintf(os.Stderr, "not measured %s: %s\n", k, m.missing["allocs/"+k])
		}
	}
	return writeBaselineTo(os.Stdout, b)
}

func writeBaselineTo(f *os.File, b *baseline) error {
	tmp, err := os.CreateTemp("", "baseline-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	tmp.Close()
	if err := writeBaseline(tmp.Name(), b); err != nil {
		return err
	}
	data, err := os.ReadFile(tmp.Name())
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return err
}

// runCalibrate is `harness calibrate`: -runs full measuring passes, then
// every calibrated guard of the measured groups gets its bound from the
// figures by calibrateBound, written to -baseline (allocs_per_op and the
// guards of groups not measured are kept).
func runCalibrate(ctx context.Context, o options, pin bool) error {
	b, err := loadBaseline(o.baseline)
	if err != nil {
		return err
	}
	groups, err := groupsOf(o.only)
	if err != nil {
		return err
	}
	if o.runs < 2 && !o.fromBaseline {
		return fmt.Errorf("-runs %d: calibrating needs at least 2 runs (5 or more on a quiet machine)", o.runs)
	}
	loadAvg, _ := os.ReadFile("/proc/loadavg")
	figures := map[string][]float64{}
	if o.fromBaseline {
		// Re-apply the rule (e.g. another -k) to the runs the baseline stores.
		for name, g := range b.Guards {
			figures[name] = g.Runs
		}
		o.runs = 0
		for _, g := range b.Guards {
			o.runs = max(o.runs, len(g.Runs))
		}
		if b.Calibration != nil {
			loadAvg = []byte(strings.TrimPrefix(b.Calibration.Load, "loadavg at start: "))
		}
	}
	for r := range o.runs {
		if o.fromBaseline {
			break
		}
		fmt.Printf("== calibration run %d/%d\n", r+1, o.runs)
		m, err := measureAll(ctx, o, pin, b, groups)
		if err != nil {
			return err
		}
		for name, v := range m.values {
			figures[name] = append(figures[name], v)
		}
		for name, why := range m.missing {
			if d, ok := defByName(name); ok && !d.fixed {
				return fmt.Errorf("run %d: %s not measured: %s (fix that before calibrating)", r+1, name, why)
			}
		}
	}
	if b.Guards == nil {
		b.Guards = map[string]*bound{}
	}
	fmt.Println("== calibrated bounds")
	for _, d := range guardDefs() {
		if !groups[d.group] || d.fixed {
			continue
		}
		runs := figures[d.name]
		if len(runs) != o.runs {
			return fmt.Errorf("%s: %d figures from %d runs", d.name, len(runs), o.runs)
		}
		g := calibrateBound(d, runs, o.k)
		b.Guards[d.name] = g
		lim, rel := 0.0, 0.0
		if g.Floor != nil {
			lim, rel = *g.Floor, 1-*g.Floor/g.Median
		} else {
			lim, rel = *g.Ceiling, *g.Ceiling/g.Median-1
		}
		fmt.Printf("%-58s median %-8.4g bound %-8.4g (%.0f%% from the median)  runs %s\n", d.name, g.Median, lim, rel*100, joinFloats(runs, "%.4g"))
	}
	rev, _ := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	date, commit := time.Now().UTC().Format(time.RFC3339), strings.TrimSpace(string(rev))
	if o.fromBaseline && b.Calibration != nil {
		date, commit = b.Calibration.Date, b.Calibration.Commit
	}
	b.Calibration = &calibration{
		Date:   date,
		Commit: commit,
		Runs:   o.runs,
		K:      o.k,
		Rule:   "per guard over the runs: spread = max(interquartile range, minMargin*median) (minMargin: throughput 4%, ns/op and scaling 10%, latency 30%); floor = median - k*spread, ceiling = median + k*spread",
		Load:   "loadavg at start: " + strings.TrimSpace(string(loadAvg)),
	}
	if err := writeBaseline(o.baseline, b); err != nil {
		return err
	}
	fmt.Printf("wrote %s\n", o.baseline)
	return nil
}
