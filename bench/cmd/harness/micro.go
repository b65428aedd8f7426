package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// sample is one result line of `go test -bench`.
type sample struct {
	name   string  // benchmark name without the -GOMAXPROCS suffix
	procs  int     // the -cpu value (1 when the line has no suffix)
	ns     float64 // ns/op
	allocs int64   // allocs/op, -1 when not reported
}

// sampleLine matches a benchmark result line: name, iterations, ns/op and,
// with -benchmem, allocs/op.
var sampleLine = regexp.MustCompile(`^(Benchmark\S+)\s+\d+\s+([\d.]+) ns/op(?:.*?(\d+) allocs/op)?`)

// procsSuffix is the -N GOMAXPROCS suffix go test appends when N > 1.
var procsSuffix = regexp.MustCompile(`^(.*)-(\d+)$`)

// parseSamples reads result lines. cpus lists the -cpu values of the run (or
// the GOMAXPROCS it ran with): a trailing -N is taken as the procs suffix only
// when N is one of them and not 1, so sub-benchmark names like "size-64" stay.
func parseSamples(out []byte, cpus []int) []sample {
	known := map[int]bool{}
	for _, c := range cpus {
		known[c] = c > 1
	}
	var res []sample
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		g := sampleLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if g == nil {
			continue
		}
		s := sample{name: g[1], procs: 1, allocs: -1}
		if p := procsSuffix.FindStringSubmatch(s.name); p != nil {
			if n, _ := strconv.Atoi(p[2]); known[n] {
				s.name, s.procs = p[1], n
			}
		}
		s.ns, _ = strconv.ParseFloat(g[2], 64)
		if g[3] != "" {
			s.allocs, _ = strconv.ParseInt(g[3], 10, 64)
		}
		res = append(res, s)
	}
	return res
}

// matches reports whether s is benchmark name or one of its sub-benchmarks.
func (s sample) matches(name string) bool {
	return s.name == name || strings.HasPrefix(s.name, name+"/")
}

// worstAllocs is the highest allocs/op of name and its sub-benchmarks.
func worstAllocs(ss []sample, name string) (int64, bool) {
	worst, ok := int64(0), false
	for _, s := range ss {
		if s.matches(name) && s.allocs >= 0 {
			worst, ok = max(worst, s.allocs), true
		}
	}
	return worst, ok
}

// bestNs is the lowest ns/op seen for name at procs (noise only ever slows a
// run down, so the minimum of repeated runs is the steadiest figure); for a
// benchmark with sub-benchmarks it is the sum of each sub-benchmark's best.
func bestNs(ss []sample, name string, procs int) (float64, bool) {
	best := map[string]float64{}
	for _, s := range ss {
		if s.matches(name) && s.procs == procs {
			if b, ok := best[s.name]; !ok || s.ns < b {
				best[s.name] = s.ns
			}
		}
	}
	sum := 0.0
	for _, v := range best {
		sum += v
	}
	return sum, len(best) > 0
}

// splitKey splits "engine/cache.BenchmarkHit" into dir and benchmark name.
func splitKey(key string) (dir, name string, ok bool) {
	i := strings.LastIndex(key, ".Benchmark")
	if i <= 0 {
		return "", "", false
	}
	return key[:i], key[i+1:], true
}

// testBins compiles the test binaries of package dirs once per check, so that
// the allocation, ns/op and scaling runs do not each pay for a build.
type testBins struct {
	tmp  string
	bins map[string]string // dir → binary; "" when the package does not exist
	why  map[string]string // dir → why it has no binary
}

func newTestBins(tmp string) *testBins {
	return &testBins{tmp: tmp, bins: map[string]string{}, why: map[string]string{}}
}

// build compiles ./dir's tests; a missing package is recorded, not an error.
func (t *testBins) build(ctx context.Context, dir string) (string, error) {
	if bin, ok := t.bins[dir]; ok {
		return bin, nil
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.bins[dir], t.why[dir] = "", "package "+dir+" does not exist"
		return "", nil
	}
	bin := filepath.Join(t.tmp, strings.NewReplacer("/", "_", ".", "_").Replace(dir)+".test")
	args := allCPUs("go", "test", "-c", "-o", bin, "./"+dir)
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go test -c ./%s: %v\n%s", dir, err, out)
	}
	if _, err := os.Stat(bin); err != nil {
		// go test -c writes nothing for a package without test files.
		t.bins[dir], t.why[dir] = "", "package "+dir+" has no tests"
		return "", nil
	}
	t.bins[dir] = bin
	return bin, nil
}

// run executes dir's test binary (in the package directory, like go test)
// with the given benchmark pattern and flags and returns its samples.
func (t *testBins) run(ctx context.Context, dir, pattern string, cpus []int, flags ...string) ([]sample, error) {
	bin := t.bins[dir]
	args := allCPUs(append([]string{bin, "-test.run", "^$", "-test.bench", pattern, "-test.benchmem"}, flags...)...)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("benchmarks of ./%s (%s): %v\n%s", dir, pattern, err, tail(out, 2000))
	}
	return parseSamples(out, cpus), nil
}

// allCPUs prefixes args with taskset over every CPU the harness had before it
// pinned itself to one (the compiler and Go benchmarks use them all).
func allCPUs(args ...string) []string {
	if cpus := os.Getenv(allCPUsEnv); cpus != "" {
		return append([]string{"taskset", "-c", cpus}, args...)
	}
	return args
}

// benchCPUs is the CPU count the benchmark binaries see (their GOMAXPROCS).
func benchCPUs() int {
	if cpus := os.Getenv(allCPUsEnv); cpus != "" {
		return len(strings.Split(cpus, ","))
	}
	return len(allowedCPUs())
}

// topPattern is a -bench pattern selecting the top-level benchmarks of names.
func topPattern(names []string) string {
	seen := map[string]bool{}
	var top []string
	for _, n := range names {
		t := regexp.QuoteMeta(strings.SplitN(n, "/", 2)[0])
		if !seen[t] {
			seen[t] = true
			top = append(top, t)
		}
	}
	sort.Strings(top)
	return "^(" + strings.Join(top, "|") + ")$"
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
