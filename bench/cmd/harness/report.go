package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/sluice-gw/sluice/bench/loadgen"
	"github.com/sluice-gw/sluice/bench/svgplot"
)

// reportPercentiles are the columns of the latency tables.
var reportPercentiles = []float64{50, 90, 99, 99.9}

// writeReport prints the markdown report and writes it, and the SVG plots,
// to the results directory (timestamped, plus latest.* copies).
func writeReport(o options, pin bool, outs []outcome) error {
	stamp := time.Now().UTC().Format("20060102-150405")
	var md bytes.Buffer
	fmt.Fprintf(&md, "# sluice benchmark %s\n\n", stamp)
	fmt.Fprintf(&md, "%s\n\n", environment(o, pin))

	fmt.Fprintf(&md, "## Closed loop (%d connections, %v per target)\n\n", o.concurrency, o.duration)
	md.WriteString("| target | req/s | p50 | p90 | p99 | p99.9 | errors |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, out := range outs {
		if out.closed != nil {
			r := out.closed
			fmt.Fprintf(&md, "| %s | %.0f | %s | %s |\n", out.t.title, r.Throughput(), percentileCells(r), problems(r))
		}
	}
	var rate float64
	for _, out := range outs {
		if out.open != nil {
			rate = out.openRate
		}
	}
	if rate > 0 {
		fmt.Fprintf(&md, "\n## Open loop (%.0f req/s scheduled, up to %d in flight, %v per target; latency from the intended send time)\n\n",
			rate, o.openWorkers, o.duration)
		md.WriteString("| target | req/s done | p50 | p90 | p99 | p99.9 | p99.99 | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, out := range outs {
			if out.open != nil {
				r := out.open
				fmt.Fprintf(&md, "| %s | %.0f | %s | %s | %s |\n", out.t.title, r.Throughput(), percentileCells(r),
					ms(r.Latency.PercentileDuration(99.99)), problems(r))
			}
		}
	}
	var skipped []string
	for _, out := range outs {
		if out.skipped != "" {
			skipped = append(skipped, fmt.Sprintf("- %s: %s", out.t.title, out.skipped))
		}
	}
	if len(skipped) > 0 {
		fmt.Fprintf(&md, "\n## Skipped\n\n%s\n", strings.Join(skipped, "\n"))
	}
	for _, out := range outs {
		for _, r := range []*loadgen.Result{out.closed, out.open} {
			if r != nil && r.FirstProblem != "" {
				fmt.Fprintf(&md, "\n%s: first problem: %s\n", out.t.title, r.FirstProblem)
			}
		}
	}

	os.Stdout.Write(md.Bytes())
	if err := os.MkdirAll(o.results, 0o755); err != nil {
		return fmt.Errorf("results dir: %w", err)
	}
	files := map[string][]byte{"bench-" + stamp + ".md": md.Bytes()}
	for _, mode := range []string{"closed", "open"} {
		var series []svgplot.Series
		for _, out := range outs {
			r := out.closed
			if mode == "open" {
				r = out.open
			}
			if r == nil || r.Latency.Count() == 0 {
				continue
			}
			s := svgplot.Series{Name: out.t.title}
			for _, p := range svgplot.Percentiles {
				s.Points = append(s.Points, svgplot.Point{P: p, Ms: float64(r.Latency.PercentileDuration(p)) / 1e6})
			}
			series = append(series, s)
		}
		if len(series) == 0 {
			continue
		}
		var svg bytes.Buffer
		if err := svgplot.Write(&svg, "sluice benchmark "+stamp+": "+mode+" loop latency", series); err != nil {
			return err
		}
		files["latency-"+mode+"-"+stamp+".svg"] = svg.Bytes()
	}
	for name, data := range files {
		latest := strings.Replace(name, stamp, "latest", 1)
		for _, n := range []string{name, latest} {
			if err := os.WriteFile(filepath.Join(o.results, n), data, 0o644); err != nil {
				return fmt.Errorf("write report: %w", err)
			}
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", filepath.Join(o.results, name))
	}
	return nil
}

func percentileCells(r *loadgen.Result) string {
	cells := make([]string, len(reportPercentiles))
	for i, p := range reportPercentiles {
		cells[i] = ms(r.Latency.PercentileDuration(p))
	}
	return strings.Join(cells, " | ")
}

func problems(r *loadgen.Result) string {
	n := r.Errors + r.BadStatus + r.Unsent
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%d transport, %d status, %d unsent)", n, r.Errors, r.BadStatus, r.Unsent)
}

// ms formats a latency in milliseconds with three decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }

// environment describes where and how the run happened.
func environment(o options, pin bool) string {
	rev, _ := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	placement := "no core pinning"
	if pin {
		placement = "proxies and upstream pinned to core 0, load generator to core 1 (taskset); the generator's single core may cap upstream direct and cache hit"
	}
	return fmt.Sprintf("commit %s, %s, %d CPUs (%s), %s/%s; %s. Request: GET /catalog/sku-42 (aggregate: GET /home/u1) over keep-alive connections on loopback.",
		strings.TrimSpace(string(rev)), runtime.Version(), cpuCount(), cpuModel(), runtime.GOOS, runtime.GOARCH, placement)
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "model name") {
			if i := strings.IndexByte(line, ':'); i >= 0 {
				return strings.TrimSpace(line[i+1:])
			}
		}
	}
	return "unknown CPU"
}

// cpuCount is the machine's CPU count (runtime.NumCPU sees only the pinned core).
func cpuCount() int {
	data, _ := os.ReadFile("/proc/cpuinfo")
	n := strings.Count(string(data), "\nprocessor\t") + map[bool]int{true: 1}[strings.HasPrefix(string(data), "processor\t")]
	return max(n, runtime.NumCPU())
}
