package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-gw/sluice/bench/internal/procs"
	"github.com/sluice-gw/sluice/bench/loadgen"
)

// session is one harness invocation: the shared upstream and the children.
type session struct {
	o        options
	pin      bool
	procs    *procs.Set
	tmp      string
	upstream string
	// serviceUpstream answers like upstream but spends 1 ms on each request.
	serviceUpstream string
	sluiceBin       string
	// lenient turns launch failures into skips (run); check fails on them.
	lenient bool
	// rotation is the realistic pipeline's token rotation, shared by all its runs.
	rotation *loadgen.Rotation
}

// newSession starts the upstream. Call close when done.
func newSession(ctx context.Context, o options, pin bool) (*session, error) {
	tmp, err := os.MkdirTemp("", "sluice-bench-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	s := &session{o: o, pin: pin, tmp: tmp, sluiceBin: o.sluiceBin,
		procs: newProcs(pin, filepath.Join(o.results, "logs"))}
	if _, err := os.Stat(o.upstreamBin); err != nil {
		s.close()
		return nil, fmt.Errorf("no upstream binary at %s (go build -o bin/upstream ./cmd/upstream): %w", o.upstreamBin, err)
	}
	s.upstream, err = procs.FreeAddr()
	if err != nil {
		s.close()
		return nil, err
	}
	c, err := s.procs.Start("upstream", o.upstreamBin, "-listen", s.upstream, "-name", "catalog-1")
	if err != nil {
		s.close()
		return nil, err
	}
	if err := waitHTTP(ctx, c, s.upstream, "/healthz", 10*time.Second); err != nil {
		s.close()
		return nil, fmt.Errorf("upstream: %w", err)
	}
	if s.serviceUpstream, err = procs.FreeAddr(); err != nil {
		s.close()
		return nil, err
	}
	c, err = s.procs.Start("upstream-1ms", o.upstreamBin, "-listen", s.serviceUpstream, "-name", "catalog-svc", "-latency", "1ms")
	if err != nil {
		s.close()
		return nil, err
	}
	if err := waitHTTP(ctx, c, s.serviceUpstream, "/healthz", 10*time.Second); err != nil {
		s.close()
		return nil, fmt.Errorf("upstream with service time: %w", err)
	}
	return s, nil
}

// close stops every child and removes temporary files.
func (s *session) close() {
	s.procs.KillAll()
	os.RemoveAll(s.tmp)
}

// selected returns the targets named in -targets, in report order.
func (s *session) selected() ([]target, error) {
	if s.rotation == nil {
		s.rotation = pipelineRotation(time.Now())
	}
	all := allTargets(s.o.configs, s.o.peers, s.rotation)
	want := map[string]bool{}
	for _, k := range strings.Split(s.o.targets, ",") {
		if k = strings.TrimSpace(k); k != "" {
			want[k] = true
		}
	}
	var out []target
	for _, t := range all {
		if want[t.key] {
			out = append(out, t)
			delete(want, t.key)
		}
	}
	for k := range want {
		return nil, fmt.Errorf("unknown target %q", k)
	}
	return out, nil
}

// outcome is what happened to one target.
type outcome struct {
	t            target
	skipped      string
	closed, open *loadgen.Result
	openRate     float64
}

// measure runs one load run against addr and prints a progress line.
func (s *session) measure(ctx context.Context, t target, addr, label string, cfg loadgen.Config) (*loadgen.Result, error) {
	cfg.Addr, cfg.Request, cfg.LimitedStatus = addr, t.req, t.limited
	cfg.MaxRequests = s.o.maxRequests
	tty := isTerminal(os.Stderr)
	cfg.Progress = func(elapsed time.Duration, done int64) {
		left := max(cfg.Duration-elapsed, 0).Round(time.Second)
		line := fmt.Sprintf("  %-28s %-7s %4ds left  %9d requests", t.title, label, int(left.Seconds()), done)
		if tty {
			fmt.Fprint(os.Stderr, "\r"+line)
		} else {
			fmt.Fprintln(os.Stderr, line)
		}
	}
	res, err := loadgen.Run(ctx, cfg)
	if tty {
		fmt.Fprintf(os.Stderr, "\r%80s\r", "")
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", t.title, label, err)
	}
	return res, nil
}

// start launches t; a target that cannot run comes back as a skip reason
// (in a full run also one that fails to start; check fails on that).
func (s *session) start(ctx context.Context, t target) (l *launched, skipped string, err error) {
	fmt.Fprintf(os.Stderr, "%s: starting\n", t.title)
	l, err = s.launch(ctx, t)
	var skip *skipError
	if err != nil && !errors.As(err, &skip) && s.lenient {
		skip = &skipError{"failed to start: " + err.Error()}
	}
	if skip != nil {
		fmt.Fprintf(os.Stderr, "%s: SKIPPED: %s\n", t.title, skip.why)
		return nil, skip.why, nil
	}
	return l, "", err
}

// loadTarget launches t, warms it up and runs one load run with cfg.
func (s *session) loadTarget(ctx context.Context, t target, label string, cfg loadgen.Config) (res *loadgen.Result, skipped string, err error) {
	l, skipped, err := s.start(ctx, t)
	if l == nil {
		return nil, skipped, err
	}
	defer s.procs.Stop(l.proc, stopGrace)
	if s.o.warmup > 0 {
		if _, err := s.measure(ctx, t, l.addr, "warmup", loadgen.Config{Concurrency: s.o.concurrency, Duration: s.o.warmup}); err != nil {
			return nil, "", err
		}
	}
	res, err = s.measure(ctx, t, l.addr, label, cfg)
	return res, "", err
}

// runBench is `harness run`: a closed-loop pass over every target, then an
// open-loop pass at one rate for all of them: -rate, or by default half the
// lowest closed-loop throughput seen, so that every target can sustain it
// and the latencies compare service, not overload.
func runBench(ctx context.Context, o options, pin bool) error {
	s, err := newSession(ctx, o, pin)
	if err != nil {
		return err
	}
	defer s.close()
	s.lenient = true
	targets, err := s.selected()
	if err != nil {
		return err
	}
	outs := make([]outcome, len(targets))
	lowest := 0.0
	for i, t := range targets {
		outs[i].t = t
		res, skipped, err := s.loadTarget(ctx, t, "closed", loadgen.Config{Concurrency: o.concurrency, Duration: o.duration})
		if err != nil {
			return err
		}
		outs[i].closed, outs[i].skipped = res, skipped
		if res != nil {
			fmt.Fprintf(os.Stderr, "%s: %.0f req/s closed loop\n", t.title, res.Throughput())
			if tp := res.Throughput(); tp > 0 && (lowest == 0 || tp < lowest) {
				lowest = tp
			}
		}
	}
	rate := o.rate
	if rate == 0 {
		rate = roundRate(lowest / 2)
	}
	for i, t := range targets {
		if outs[i].closed == nil {
			continue
		}
		res, skipped, err := s.loadTarget(ctx, t, "open", loadgen.Config{Concurrency: o.openWorkers, Rate: rate, Duration: o.duration})
		if err != nil {
			return err
		}
		outs[i].open, outs[i].openRate = res, rate
		if skipped != "" {
			outs[i].skipped = "open loop: " + skipped
		}
	}
	return writeReport(o, pin, outs)
}

// roundRate rounds a rate down to two significant digits.
func roundRate(r float64) float64 {
	if r < 10 {
		return max(r, 1)
	}
	m := 1.0
	for r >= 100 {
		r /= 10
		m *= 10
	}
	return float64(int(r)) * m
}

// isTerminal reports whether f is a character device (a terminal): the
// progress line is then redrawn in place, else printed once a second.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
