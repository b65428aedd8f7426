// Command harness is sluice's load-benchmark harness.
//
//	harness run      full benchmark: every target, closed and open loop, a
//	                 markdown report and SVG latency plots in bench/results/
//	harness check     the CI guard: allocs/op, ns/op against a calibration
//	                  loop and RunParallel scaling of Go benchmarks; closed-loop
//	                  throughput and open-loop latency ratios against nginx and
//	                  the upstream in the same run; bounds from bench/baseline.json
//	harness calibrate measure -runs times and write the bounds to the baseline
//	harness selftest  build sluice with deliberate slowdowns and prove check fails
//	harness baseline  print the current allocs/op of the baseline's benchmarks as JSON
//
// It starts cmd/upstream, sluice (from -sluice) and, when installed, nginx and
// haproxy on loopback, and drives them with bench/loadgen. On a machine with
// two or more cores (and taskset installed) the proxies and the upstream are
// pinned to core 0 and the harness, which is the load generator, to core 1,
// so that the generator does not steal the proxy's CPU. Every child process
// is killed when the harness exits, also on SIGINT/SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// options are the command-line flags shared by the subcommands.
type options struct {
	sluiceBin, upstreamBin string
	configs, peers         string
	results, baseline      string
	targets                string
	duration, warmup       time.Duration
	concurrency            int
	openWorkers            int
	rate                   float64
	maxRequests            int64
	pin                    string
	benchtime              string
	rounds                 int
	// check, calibrate, selftest:
	microTime    string        // -benchtime of the ns/op and scaling runs
	openRounds   int           // open-loop rounds per target
	openDuration time.Duration // open-loop time per target (split in rounds)
	openFraction float64       // open-loop rate as a fraction of capacity
	allowSkip    bool          // a guard that did not run is a SKIP, not a FAIL
	confirm      bool          // measure failed groups again; fail what fails every time
	only         string        // micro, load or all
	runs         int           // calibrate: measuring passes
	fromBaseline bool          // calibrate: re-apply the rule to the baseline's stored runs
	k            float64       // calibrate: spreads between worst figure and bound
	readme       string        // run: README whose benchmark section is regenerated
	docs         string        // run: directory for the published report and plots
}

// pinnedEnv marks a harness that already re-executed itself under taskset.
const pinnedEnv = "SLUICE_BENCH_PINNED"

// allCPUsEnv lists the CPUs the harness had before pinning itself, for the
// compiler and Go benchmarks that check runs.
const allCPUsEnv = "SLUICE_BENCH_CPUS"

func main() {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		os.Args = append([]string{os.Args[0], "run"}, os.Args[1:]...)
	}
	cmd := os.Args[1]
	var o options
	fs := flag.NewFlagSet("harness "+cmd, flag.ExitOnError)
	fs.StringVar(&o.sluiceBin, "sluice", "./bin/sluice", "sluice binary (go build -o bin/sluice ./cmd/sluice)")
	fs.StringVar(&o.upstreamBin, "upstream", "./bin/upstream", "upstream binary (go build -o bin/upstream ./cmd/upstream)")
	fs.StringVar(&o.configs, "configs", "bench/configs", "directory of the sluice bench configs")
	fs.StringVar(&o.peers, "peers", "bench/peers", "directory of the peer proxy config templates")
	fs.StringVar(&o.results, "results", "bench/results", "directory for reports, plots and logs")
	fs.StringVar(&o.baseline, "baseline", "bench/baseline.json", "baseline for check")
	defTargets, defDur := "direct,direct-1ms,nginx,haproxy,plain,pipelined,pipeline,cache,aggregate", 10*time.Second
	guarding := cmd == "check" || cmd == "calibrate" || cmd == "selftest"
	if guarding {
		defDur = 7 * time.Second
	}
	fs.StringVar(&o.targets, "targets", defTargets, "comma-separated targets to run")
	fs.DurationVar(&o.duration, "duration", defDur, "length of each measured load run")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured closed-loop load before each target's runs")
	fs.IntVar(&o.concurrency, "concurrency", 32, "closed loop: workers (= connections)")
	fs.IntVar(&o.openWorkers, "open-workers", 128, "open loop: most requests in flight (= connections)")
	fs.Float64Var(&o.rate, "rate", 0, "open loop: requests per second (0: half the lowest closed-loop throughput)")
	fs.Int64Var(&o.maxRequests, "max-requests", 10_000_000, "cap on requests per load run")
	fs.StringVar(&o.pin, "pin", "auto", "core placement with taskset: auto, on or off")
	fs.StringVar(&o.benchtime, "benchtime", "3000x", "check/baseline: -benchtime for the Go benchmarks")
	fs.IntVar(&o.rounds, "rounds", 7, "check: closed-loop interleaved rounds per target (each -duration/rounds long; the median of per-round ratios counts)")
	fs.StringVar(&o.microTime, "micro-time", "100ms", "check: -benchtime of the ns/op and scaling runs (each runs 3 times, best counts)")
	fs.IntVar(&o.openRounds, "open-rounds", 7, "check: open-loop interleaved rounds per target")
	fs.DurationVar(&o.openDuration, "open-duration", 14*time.Second, "check: open-loop time per target, split in -open-rounds")
	fs.Float64Var(&o.openFraction, "open-fraction", 0.4, "check: open-loop rate as a fraction of the lowest proxy's closed-loop throughput")
	fs.BoolVar(&o.allowSkip, "allow-skip", false, "check: report a guard that could not run as SKIP instead of failing (local use only; CI never sets it)")
	fs.BoolVar(&o.confirm, "confirm", true, "check, selftest: measure the groups of failed guards again (micro up to 3 times, load once) and fail only guards that fail every time")
	fs.StringVar(&o.only, "only", "all", "check, calibrate: guard groups to run: micro, load or all")
	fs.IntVar(&o.runs, "runs", 5, "calibrate: measuring passes")
	fs.BoolVar(&o.fromBaseline, "from-baseline", false, "calibrate: measure nothing, re-apply the rule (e.g. a new -k) to the runs stored in the baseline")
	fs.Float64Var(&o.k, "k", 3, "calibrate: bound = median ± k × spread (spread: interquartile range, at least minMargin × median)")
	fs.StringVar(&o.readme, "readme", "", "run: README.md whose benchmark section (between the bench:begin/end markers) is regenerated")
	fs.StringVar(&o.docs, "docs", "", "run: directory to publish the report and plots in (e.g. docs/bench)")
	_ = fs.Parse(os.Args[2:])

	pin := placement(o.pin)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var err error
	switch cmd {
	case "run":
		err = runBench(ctx, o, pin)
	case "check":
		err = runCheck(ctx, o, pin)
	case "baseline":
		err = printBaseline(ctx, o)
	case "calibrate":
		err = runCalibrate(ctx, o, pin)
	case "selftest":
		err = runSelfTest(ctx, o, pin)
	default:
		err = fmt.Errorf("unknown command %q (run, check, calibrate, selftest or baseline)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		if errors.Is(err, errCheckFailed) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}

// placement decides whether to pin. When pinning, it re-executes the
// harness under taskset on the second allowed CPU and returns true; the
// children then go on the first one (proxyCore).
func placement(mode string) bool {
	if os.Getenv(pinnedEnv) != "" {
		return true
	}
	taskset, err := exec.LookPath("taskset")
	cpus := allowedCPUs()
	switch mode {
	case "off":
		return false
	case "on":
		if err != nil || len(cpus) < 2 {
			fmt.Fprintln(os.Stderr, "harness: -pin=on needs taskset and two CPUs")
			os.Exit(2)
		}
	default:
		if err != nil || len(cpus) < 2 {
			return false
		}
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness: cannot pin:", err)
		return false
	}
	os.Setenv(pinnedEnv, strconv.Itoa(cpus[0]))
	all := make([]string, len(cpus))
	for i, c := range cpus {
		all[i] = strconv.Itoa(c)
	}
	os.Setenv(allCPUsEnv, strings.Join(all, ","))
	args := append([]string{"taskset", "-c", strconv.Itoa(cpus[1]), self}, os.Args[1:]...)
	err = syscall.Exec(taskset, args, os.Environ())
	fmt.Fprintln(os.Stderr, "harness: cannot re-exec under taskset:", err)
	return false
}

// allowedCPUs lists the CPUs this process may run on, in order.
func allowedCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil
	}
	var cpus []int
	for i := 0; i < 1024 && len(cpus) < set.Count(); i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus
}

// proxyCore is the CPU the children are pinned to (set by placement).
func proxyCore() string {
	if c := os.Getenv(pinnedEnv); c != "" {
		return c
	}
	return "0"
}
