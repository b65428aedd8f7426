// Command fleet starts a local sluice fleet (HAProxy in TCP mode with
// send-proxy-v2, three sluice instances, two demo upstreams, one
// redis-server), runs the fleet scenarios through it, prints one table and
// writes it to docs/fleet/README.md. Every process it starts is stopped when it
// ends, also on failure and on Ctrl-C. `make fleet` builds and runs it.
//
//	fleet [-bin bin] [-out docs/fleet/README.md] [-rate 1000] [-conns 32] [-window 10s]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-gw/sluice/bench/fleet"
)

func main() { os.Exit(run()) }

func run() int {
	p := fleet.FullPlan
	bin := flag.String("bin", "bin", "directory holding the sluice and upstream binaries")
	out := flag.String("out", "docs/fleet/README.md", "where to write the table (empty: do not write)")
	dir := flag.String("dir", "", "directory for configs and logs (default: a temporary one, removed on success)")
	quota := flag.Int("quota", 200, "cluster quota of scenario 2, requests a second")
	flag.Float64Var(&p.Load.Rate, "rate", p.Load.Rate, "continuous load of scenarios 3-5, requests a second")
	flag.IntVar(&p.Load.Conns, "conns", p.Load.Conns, "keep-alive connections of the continuous load")
	flag.DurationVar(&p.Window, "window", p.Window, "counting window of scenario 2")
	flag.IntVar(&p.Clients, "clients", p.Clients, "distinct client addresses of scenario 1 (at most 200)")
	flag.Parse()
	if p.Load.Rate <= 0 || p.Load.Rate > 5000 || p.Load.Conns <= 0 || p.Clients <= 0 || *quota <= 0 {
		fmt.Fprintln(os.Stderr, "fleet: -rate must be within 1..5000, -conns, -clients and -quota positive")
		return 2
	}

	haproxy, err1 := exec.LookPath("haproxy")
	redis, err2 := exec.LookPath("redis-server")
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintf(os.Stderr, "fleet: %v (make fleet installs haproxy and redis-server)\n", err)
		return 1
	}
	work := *dir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "sluice-fleet-"); err != nil {
			fmt.Fprintln(os.Stderr, "fleet:", err)
			return 1
		}
	}

	// The first Ctrl-C cancels the run (the fleet stops cleanly); a second
	// one exits at once (children die with us through Pdeathsig).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		fmt.Fprintln(os.Stderr, "fleet: interrupted, stopping the fleet")
		cancel()
		<-sig
		os.Exit(130)
	}()
	// Hard bound on the whole run.
	ctx, stop := context.WithTimeout(ctx, 10*time.Minute)
	defer stop()

	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s fleet: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	f, err := fleet.Start(ctx, fleet.Options{
		Sluice: filepath.Join(*bin, "sluice"), Upstream: filepath.Join(*bin, "upstream"),
		HAProxy: haproxy, RedisServer: redis, Dir: work, Quota: *quota, Logf: logf,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "fleet: start: %v (logs in %s)\n", err, work)
		return 1
	}
	rep, err := fleet.Run(ctx, f, p)
	f.Close()
	if err != nil {
		if len(rep.Rows) > 0 {
			fmt.Print(rep.Table())
		}
		fmt.Fprintf(os.Stderr, "fleet: %v (logs in %s)\n", err, work)
		return 1
	}
	md := rep.Markdown(environment(haproxy, redis))
	fmt.Print("\n" + rep.Table())
	if *out != "" {
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err == nil {
			err = os.WriteFile(*out, []byte(md), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "fleet:", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "fleet: table written to %s\n", *out)
	}
	if *dir == "" {
		_ = os.RemoveAll(work)
	}
	return 0
}

// environment describes the machine and the tools' versions for the report.
func environment(haproxy, redis string) string {
	first := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			return "?"
		}
		line, _, _ := strings.Cut(string(out), "\n")
		return strings.TrimSpace(line)
	}
	hv := strings.Fields(first(haproxy, "-v"))
	rv := first(redis, "--version")
	if i := strings.Index(rv, "v="); i >= 0 {
		rv, _, _ = strings.Cut(rv[i+2:], " ")
	}
	ver := "?"
	if len(hv) >= 3 {
		ver = hv[2]
	}
	return fmt.Sprintf("machine: %d CPUs (%s/%s), HAProxy %s, redis-server %s, sluice %s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, ver, rv, first("git", "describe", "--always", "--dirty"))
}
