package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/sluice-gw/sluice/bench/loadgen"
)

// errCheckFailed means a guard was broken (exit 1, not a harness error).
var errCheckFailed = errors.New("bench-check failed")

// baseline is bench/baseline.json.
type baseline struct {
	Comment string `json:"_comment,omitempty"`
	// AllocsPerOp maps "pkg/dir.BenchmarkName" to its ceiling of allocs/op.
	AllocsPerOp map[string]int64 `json:"allocs_per_op"`
	// RatioFloors maps a ratio name (see ratioDefs) to its floor.
	RatioFloors map[string]float64 `json:"ratio_floors"`
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
	for name := range b.RatioFloors {
		if _, ok := ratioByName(name); !ok {
			return nil, fmt.Errorf("baseline %s: ratio_floors: unknown ratio %q", path, name)
		}
	}
	return &b, nil
}

// ratioDef is a throughput ratio between two closed-loop runs.
type ratioDef struct{ name, num, den string }

var ratioDefs = []ratioDef{
	{"plain_vs_direct", "plain", "direct"},
	{"pipeline_vs_plain", "pipeline", "plain"},
	{"cache_vs_direct", "cache", "direct"},
	{"cache_vs_direct_1ms", "cache", "direct-1ms"},
}

func ratioByName(name string) (ratioDef, bool) {
	for _, d := range ratioDefs {
		if d.name == name {
			return d, true
		}
	}
	return ratioDef{}, false
}

// benchLine matches a `go test -bench -benchmem` result line.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+.*?(\d+) allocs/op`)

// parseAllocs reads allocs/op per benchmark name from go test output.
func parseAllocs(out []byte) map[string]int64 {
	m := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if g := benchLine.FindStringSubmatch(sc.Text()); g != nil {
			n, _ := strconv.ParseInt(g[2], 10, 64)
			m[g[1]] = n
		}
	}
	return m
}

// worstOf returns the allocs/op of benchmark name, or, for a benchmark with
// sub-benchmarks, the highest among them.
func worstOf(found map[string]int64, name string) (int64, bool) {
	if v, ok := found[name]; ok {
		return v, true
	}
	worst, ok := int64(0), false
	for k, v := range found {
		if strings.HasPrefix(k, name+"/") {
			worst, ok = max(worst, v), true
		}
	}
	return worst, ok
}

// splitKey splits "engine/cache.BenchmarkHit" into dir and benchmark name.
func splitKey(key string) (dir, name string, ok bool) {
	i := strings.LastIndex(key, ".Benchmark")
	if i <= 0 {
		return "", "", false
	}
	return key[:i], key[i+1:], true
}

// runMicro runs the named benchmarks of each package dir and returns
// allocs/op by baseline key; dirs that do not exist are reported in missing.
func runMicro(ctx context.Context, keys []string, benchtime string) (got map[string]int64, missing map[string]string, err error) {
	byDir := map[string][]string{}
	missing = map[string]string{}
	for _, k := range keys {
		dir, name, ok := splitKey(k)
		if !ok {
			return nil, nil, fmt.Errorf("baseline key %q is not \"pkg/dir.BenchmarkName\"", k)
		}
		byDir[dir] = append(byDir[dir], name)
	}
	dirs := make([]string, 0, len(byDir))
	for d := range byDir {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	got = map[string]int64{}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); err != nil {
			for _, n := range byDir[dir] {
				missing[dir+"."+n] = "package " + dir + " does not exist yet"
			}
			continue
		}
		names := byDir[dir]
		top := make([]string, len(names))
		for i, n := range names {
			top[i] = regexp.QuoteMeta(strings.SplitN(n, "/", 2)[0])
		}
		pattern := "^(" + strings.Join(top, "|") + ")$"
		args := []string{"go", "test", "-run", "^$", "-bench", pattern, "-benchmem", "-benchtime", benchtime, "./" + dir}
		if cpus := os.Getenv(allCPUsEnv); cpus != "" {
			// The harness sits on one core; let the compiler use them all.
			args = append([]string{"taskset", "-c", cpus}, args...)
		}
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "GOFLAGS=-count=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return nil, nil, fmt.Errorf("go test -bench ./%s: %v\n%s", dir, err, out)
		}
		found := parseAllocs(out)
		for _, n := range names {
			if v, ok := worstOf(found, n); ok {
				got[dir+"."+n] = v
			} else {
				missing[dir+"."+n] = "benchmark not found in ./" + dir
			}
		}
	}
	return got, missing, nil
}

// runCheck is `harness check`: allocation ceilings, then throughput ratio floors.
func runCheck(ctx context.Context, o options, pin bool) error {
	b, err := loadBaseline(o.baseline)
	if err != nil {
		return err
	}
	failed := 0
	keys := make([]string, 0, len(b.AllocsPerOp))
	for k := range b.AllocsPerOp {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Println("== allocations per op (ceiling from", o.baseline+")")
	got, missing, err := runMicro(ctx, keys, o.benchtime)
	if err != nil {
		return err
	}
	for _, k := range keys {
		ceiling := b.AllocsPerOp[k]
		if why, ok := missing[k]; ok {
			fmt.Printf("SKIP  %-50s %s\n", k, why)
			continue
		}
		verdict := "ok  "
		if got[k] > ceiling {
			verdict = "FAIL"
			failed++
		}
		fmt.Printf("%s  %-50s %4d allocs/op (ceiling %d)\n", verdict, k, got[k], ceiling)
	}

	fmt.Printf("== throughput ratios (closed loop, %d connections, %v per target; floors from %s)\n", o.concurrency, o.duration, o.baseline)
	s, err := newSession(ctx, o, pin)
	if err != nil {
		return err
	}
	defer s.close()
	targets, err := s.selected()
	if err != nil {
		return err
	}
	tput, skipped, err := s.interleaved(ctx, targets)
	if err != nil {
		return err
	}
	for _, d := range ratioDefs {
		floor, ok := b.RatioFloors[d.name]
		if !ok {
			continue
		}
		why := ""
		for _, k := range []string{d.num, d.den} {
			if r, ok := skipped[k]; ok {
				why = k + " skipped: " + r
			} else if _, ok := tput[k]; !ok && why == "" {
				why = k + " not run (-targets)"
			}
		}
		if why != "" {
			fmt.Printf("SKIP  %-22s %s\n", d.name, why)
			continue
		}
		ratio := tput[d.num] / tput[d.den]
		verdict := "ok  "
		if ratio < floor {
			verdict = "FAIL"
			failed++
		}
		fmt.Printf("%s  %-22s %6.3f (floor %.3f)\n", verdict, d.name, ratio, floor)
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d guard(s) broken", errCheckFailed, failed)
	}
	fmt.Println("bench-check: ok")
	return nil
}

// printBaseline is `harness baseline`: the current allocs/op of every
// benchmark named in the baseline, as JSON, to paste after a deliberate change.
func printBaseline(ctx context.Context, o options) error {
	b, err := loadBaseline(o.baseline)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(b.AllocsPerOp))
	for k := range b.AllocsPerOp {
		keys = append(keys, k)
	}
	got, missing, err := runMicro(ctx, keys, o.benchtime)
	if err != nil {
		return err
	}
	for k, why := range missing {
		fmt.Fprintf(os.Stderr, "skip %s: %s\n", k, why)
	}
	for _, k := range keys {
		if _, ok := got[k]; !ok {
			delete(b.AllocsPerOp, k)
		}
	}
	for k := range b.AllocsPerOp {
		b.AllocsPerOp[k] = got[k]
	}
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}

// interleaved launches every target at once and measures them in rounds
// (target A, B, C, then A, B, C again...), keeping each target's best
// closed-loop throughput: a burst of noise from elsewhere on the machine then
// hurts one slice, not a whole target, which keeps the ratios steady.
func (s *session) interleaved(ctx context.Context, targets []target) (tput map[string]float64, skipped map[string]string, err error) {
	tput, skipped = map[string]float64{}, map[string]string{}
	var live []target
	addrs := map[string]string{}
	for _, t := range targets {
		l, why, err := s.start(ctx, t)
		if err != nil {
			return nil, nil, err
		}
		if l == nil {
			skipped[t.key] = why
			fmt.Printf("SKIP  %-22s %s\n", t.title, why)
			continue
		}
		defer s.procs.stop(l.proc)
		live = append(live, t)
		addrs[t.key] = l.addr
		if s.o.warmup > 0 {
			if _, err := s.measure(ctx, t, l.addr, "warmup", loadgen.Config{Concurrency: s.o.concurrency, Duration: s.o.warmup}); err != nil {
				return nil, nil, err
			}
		}
	}
	rounds := max(s.o.rounds, 1)
	slice := s.o.duration / time.Duration(rounds)
	for r := 0; r < rounds; r++ {
		for _, t := range live {
			res, err := s.measure(ctx, t, addrs[t.key], fmt.Sprintf("%d/%d", r+1, rounds), loadgen.Config{Concurrency: s.o.concurrency, Duration: slice})
			if err != nil {
				return nil, nil, err
			}
			if res.Errors+res.BadStatus > 0 {
				return nil, nil, fmt.Errorf("%s: %d failed requests: %s", t.title, res.Errors+res.BadStatus, res.FirstProblem)
			}
			tput[t.key] = max(tput[t.key], res.Throughput())
		}
	}
	for _, t := range live {
		fmt.Printf("      %-26s %10.0f req/s (best of %d x %v)\n", t.title, tput[t.key], rounds, slice)
	}
	return tput, skipped, nil
}
