package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// measureMicro runs the Go benchmarks: allocs/op of the baseline's
// benchmarks, ns/op of the hot ones against the calibration loop, and the
// RunParallel ones at -cpu 1,2,4. Each package's tests are compiled once.
func measureMicro(ctx context.Context, o options, b *baseline, m *measurement) error {
	tmp, err := os.MkdirTemp("", "sluice-bench-micro-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	bins := newTestBins(tmp)

	// Which benchmarks each package runs, by purpose.
	allocs := map[string][]string{}
	for k := range b.AllocsPerOp {
		dir, name, ok := splitKey(k)
		if !ok {
			return fmt.Errorf("baseline allocs_per_op key %q is not \"pkg/dir.BenchmarkName\"", k)
		}
		allocs[dir] = append(allocs[dir], name)
	}
	hot, par := groupByDir(hotBenchmarks), groupByDir(parallelBenchmarks)
	dirs := map[string]bool{"bench/calib": true}
	for _, g := range []map[string][]string{allocs, hot, par} {
		for d := range g {
			dirs[d] = true
		}
	}
	fmt.Fprintf(os.Stderr, "micro: compiling the tests of %d packages\n", len(dirs))
	for _, d := range sortedKeys(dirs) {
		if _, err := bins.build(ctx, d); err != nil {
			return err
		}
	}
	procs := []int{benchCPUs()}

	// Allocations: a fixed number of iterations is enough for a count.
	for _, dir := range sortedKeys(allocs) {
		names := allocs[dir]
		if bins.bins[dir] == "" {
			for _, n := range names {
				m.miss("allocs/"+dir+"."+n, bins.why[dir])
			}
			continue
		}
		ss, err := bins.run(ctx, dir, topPattern(names), procs, "-test.benchtime", o.benchtime)
		if err != nil {
			return err
		}
		for _, n := range names {
			if v, ok := worstAllocs(ss, n); ok {
				m.allocs[dir+"."+n] = v
			} else {
				m.miss("allocs/"+dir+"."+n, "benchmark "+n+" not found in ./"+dir)
			}
		}
	}

	// ns/op against the calibration loop, measured right before and after
	// each package's hot benchmarks.
	calib := func() (float64, error) {
		if bins.bins["bench/calib"] == "" {
			return 0, fmt.Errorf("calibration loop: %s", bins.why["bench/calib"])
		}
		ss, err := bins.run(ctx, "bench/calib", "^BenchmarkCalibrate$", procs, "-test.benchtime", o.microTime, "-test.count", "3")
		if err != nil {
			return 0, err
		}
		ns, ok := bestNs(ss, "BenchmarkCalibrate", procs[0])
		if !ok || ns <= 0 {
			return 0, fmt.Errorf("calibration loop: no result")
		}
		return ns, nil
	}
	var calibs []float64
	for _, dir := range sortedKeys(hot) {
		names := hot[dir]
		if bins.bins[dir] == "" {
			for _, n := range names {
				m.miss("ns/"+dir+"."+n, bins.why[dir])
			}
			continue
		}
		c1, err := calib()
		if err != nil {
			return err
		}
		ss, err := bins.run(ctx, dir, topPattern(names), procs, "-test.benchtime", o.microTime, "-test.count", "3")
		if err != nil {
			return err
		}
		c2, err := calib()
		if err != nil {
			return err
		}
		c := min(c1, c2)
		calibs = append(calibs, c1, c2)
		for _, n := range names {
			ns, ok := bestNs(ss, n, procs[0])
			if !ok {
				m.miss("ns/"+dir+"."+n, "benchmark "+n+" not found in ./"+dir)
				continue
			}
			m.values["ns/"+dir+"."+n] = ns / c
			m.note("%-50s %10.1f ns/op = %6.3f × calibration (%.1f ns)", dir+"."+n, ns, ns/c, c)
		}
	}
	if len(calibs) > 0 {
		sort.Float64s(calibs)
		m.note("calibration loop: %.1f–%.1f ns/op over the run", calibs[0], calibs[len(calibs)-1])
	}

	// Scaling of the RunParallel benchmarks.
	cpuFlag := make([]string, len(parallelCPUs))
	for i, c := range parallelCPUs {
		cpuFlag[i] = strconv.Itoa(c)
	}
	for _, dir := range sortedKeys(par) {
		names := par[dir]
		if bins.bins[dir] == "" {
			for _, n := range names {
				for _, c := range parallelCPUs[1:] {
					m.miss(fmt.Sprintf("scaling/%s.%s/cpu%d", dir, n, c), bins.why[dir])
				}
			}
			continue
		}
		if benchCPUs() < 2 {
			for _, n := range names {
				for _, c := range parallelCPUs[1:] {
					m.miss(fmt.Sprintf("scaling/%s.%s/cpu%d", dir, n, c), "needs at least 2 CPUs")
				}
			}
			continue
		}
		// Three rounds, each measuring every -cpu value back to back; the
		// guard is the median of the per-round ratios, so a burst of noise
		// spoils one round, not the comparison.
		ratios := map[string][]float64{}
		ones := map[string][]float64{}
		for range 3 {
			ss, err := bins.run(ctx, dir, topPattern(names), parallelCPUs, "-test.benchtime", o.microTime,
				"-test.cpu", strings.Join(cpuFlag, ","))
			if err != nil {
				return err
			}
			for _, n := range names {
				one, ok := bestNs(ss, n, 1)
				if !ok || one <= 0 {
					continue
				}
				ones[n] = append(ones[n], one)
				for _, c := range parallelCPUs[1:] {
					if ns, ok := bestNs(ss, n, c); ok && ns > 0 {
						key := fmt.Sprintf("scaling/%s.%s/cpu%d", dir, n, c)
						ratios[key] = append(ratios[key], one/ns)
					}
				}
			}
		}
		for _, n := range names {
			line := fmt.Sprintf("%-50s -cpu 1: %8.1f ns/op (median)", dir+"."+n, median(ones[n]))
			for _, c := range parallelCPUs[1:] {
				key := fmt.Sprintf("scaling/%s.%s/cpu%d", dir, n, c)
				if len(ratios[key]) == 0 {
					m.miss(key, fmt.Sprintf("no -cpu 1 and -cpu %d results for %s in ./%s", c, n, dir))
					continue
				}
				m.values[key] = median(ratios[key])
				line += fmt.Sprintf("; -cpu %d: ×%.2f (rounds %s)", c, m.values[key], joinFloats(ratios[key], "%.2f"))
			}
			m.note("%s", line)
		}
	}
	return nil
}

// groupByDir splits "dir.BenchmarkName" keys by package dir.
func groupByDir(keys []string) map[string][]string {
	out := map[string][]string{}
	for _, k := range keys {
		if dir, name, ok := splitKey(k); ok {
			out[dir] = append(out[dir], name)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
