package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-gw/sluice/bench/loadgen"
	"github.com/valyala/fasthttp"
)

// The targets of the load guards. nginx is the proxy-bound reference:
// a proxy doing the same work on the same core in the same run, so the
// ratios do not move with the machine or with the load generator's limits.
var (
	closedKeys = []string{"nginx", "plain", "pipeline", "cache"}
	openKeys   = []string{"direct", "nginx", "plain", "pipeline"}
)

// measureLoad starts the targets once and measures them in interleaved
// rounds: first closed-loop throughput (every target once per round, the
// guard is the median of the per-round ratios), then open-loop latency at one
// fixed rate, openFraction of the lowest proxy's measured capacity, in
// rounds again. A target that cannot start, or fails requests, leaves its
// guards unmeasured (which fails the check).
func measureLoad(ctx context.Context, o options, pin bool, m *measurement) error {
	s, err := newSession(ctx, o, pin)
	if err != nil {
		return err
	}
	defer s.close()
	s.lenient = true
	all, err := s.byKey()
	if err != nil {
		return err
	}
	live := map[string]*launched{}
	down := map[string]string{}
	for _, k := range []string{"direct", "nginx", "plain", "pipeline", "cache"} {
		t := all[k]
		l, why, err := s.start(ctx, t)
		if err != nil {
			return err
		}
		if l == nil {
			down[k] = why
			continue
		}
		defer s.procs.Stop(l.proc, stopGrace)
		live[k] = l
		if o.warmup > 0 {
			res, err := s.measure(ctx, t, l.addr, "warmup", loadgen.Config{Concurrency: o.concurrency, Duration: o.warmup})
			if err != nil {
				return err
			}
			if why := failedRequests(res); why != "" {
				down[k] = "warm-up: " + why
				delete(live, k)
			}
		}
	}
	verified := func() float64 {
		if l := live["pipeline"]; l != nil {
			return metricValue(l.admin, `sluice_auth_jwt_verifications_total{policy="users"}`)
		}
		return math.NaN()
	}

	// Closed loop: throughput ratios.
	rounds := max(o.rounds, 1)
	slice := o.duration / time.Duration(rounds)
	tput := map[string][]float64{}
	var pipeReqs, pipeLimited int64
	verifiedBefore := verified()
	for r := range rounds {
		// Rotate the order so that no target always follows the same one.
		for i := range closedKeys {
			k := closedKeys[(i+r)%len(closedKeys)]
			l := live[k]
			if l == nil {
				continue
			}
			res, err := s.measure(ctx, all[k], l.addr, fmt.Sprintf("%d/%d", r+1, rounds), loadgen.Config{Concurrency: o.concurrency, Duration: slice})
			if err != nil {
				return err
			}
			if why := failedRequests(res); why != "" {
				down[k] = fmt.Sprintf("closed round %d: %s", r+1, why)
				delete(live, k)
				continue
			}
			tput[k] = append(tput[k], res.Throughput())
			if k == "pipeline" {
				pipeReqs += res.Requests
				pipeLimited += res.Limited
			}
		}
	}
	verifiedAfter := verified()
	for _, rt := range throughputRatios {
		name := fmt.Sprintf("throughput/%s_vs_%s", rt[0], rt[1])
		if why := missingOf(down, live, rt[0], rt[1]); why != "" {
			m.miss(name, why)
			continue
		}
		var ratios []float64
		for i := range min(len(tput[rt[0]]), len(tput[rt[1]])) {
			ratios = append(ratios, tput[rt[0]][i]/tput[rt[1]][i])
		}
		m.values[name] = median(ratios)
	}
	capacity := math.Inf(1)
	for _, k := range closedKeys {
		if len(tput[k]) > 0 {
			m.note("closed loop %-10s median %8.0f req/s over %d rounds of %v (%s)", k, median(tput[k]), len(tput[k]), slice, joinFloats(tput[k], "%.0f"))
			if k != "cache" {
				capacity = min(capacity, median(tput[k]))
			}
		}
	}
	if l := live["pipeline"]; l != nil && pipeReqs > 0 {
		m.values["pipeline/limited_share"] = float64(pipeLimited) / float64(pipeReqs)
		m.values["pipeline/verified_share"] = (verifiedAfter - verifiedBefore) / float64(pipeReqs)
		m.note("pipeline: %d requests in the closed rounds, %d answered 429 (hot clients), %.0f signature checks (%d fresh tokens sent so far)",
			pipeReqs, pipeLimited, verifiedAfter-verifiedBefore, s.rotation.FreshUsed())
	} else {
		for _, n := range []string{"pipeline/limited_share", "pipeline/verified_share", "pipeline/access_log_bytes_per_request"} {
			m.miss(n, missingOf(down, live, "pipeline"))
		}
	}

	// Open loop: latency ratios at one fixed rate.
	rate := o.rate
	if rate == 0 && !math.IsInf(capacity, 1) {
		rate = roundRate(capacity * o.openFraction)
	}
	oRounds := max(o.openRounds, 1)
	oSlice := o.openDuration / time.Duration(oRounds)
	lat := map[string]map[float64][]float64{}
	var pipeOpen int64
	if rate > 0 {
		m.note("open loop at %.0f req/s (%.0f%% of the lowest proxy capacity), %d rounds of %v, up to %d in flight",
			rate, o.openFraction*100, oRounds, oSlice, o.openWorkers)
		for r := range oRounds {
			for i := range openKeys {
				k := openKeys[(i+r)%len(openKeys)]
				l := live[k]
				if l == nil {
					continue
				}
				res, err := s.measure(ctx, all[k], l.addr, fmt.Sprintf("open %d/%d", r+1, oRounds),
					loadgen.Config{Concurrency: o.openWorkers, Rate: rate, Duration: oSlice})
				if err != nil {
					return err
				}
				if why := failedRequests(res); why != "" {
					down[k] = fmt.Sprintf("open round %d: %s", r+1, why)
					delete(live, k)
					continue
				}
				if k == "pipeline" {
					pipeOpen += res.Requests
				}
				if lat[k] == nil {
					lat[k] = map[float64][]float64{}
				}
				for _, p := range append([]float64{50}, latencyPcts...) {
					lat[k][p] = append(lat[k][p], float64(res.Latency.PercentileDuration(p))/1e6)
				}
				if res.Unsent > 0 {
					m.note("open loop %s round %d: %d requests never sent (the target fell behind)", k, r+1, res.Unsent)
				}
			}
		}
	}
	for _, rt := range latencyRatios {
		for _, p := range latencyPcts {
			name := fmt.Sprintf("latency/%s/%s_vs_%s", pctName(p), rt[0], rt[1])
			if why := missingOf(down, live, rt[0], rt[1]); why != "" {
				m.miss(name, why)
				continue
			}
			if rate <= 0 {
				m.miss(name, "no closed-loop capacity to derive the open-loop rate from")
				continue
			}
			// Ratio of each target's best round: noise from elsewhere on
			// the machine only ever adds latency, while a regression in the
			// gateway (a 20 ms stall for 1% of requests) is there in every
			// round, the quietest included. The same reason as taking the
			// best of repeated micro-benchmark runs.
			a, b := lat[rt[0]][p], lat[rt[1]][p]
			if len(a) == 0 || len(b) == 0 {
				m.miss(name, "no open-loop rounds")
				continue
			}
			m.values[name] = minOf(a) / max(minOf(b), 0.001)
		}
	}
	for _, k := range openKeys {
		if lat[k] != nil {
			m.note("open loop %-10s best round p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms (p99 per round: %s; p99.9: %s)", k,
				minOf(lat[k][50]), minOf(lat[k][99]), minOf(lat[k][99.9]), joinFloats(lat[k][99], "%.3f"), joinFloats(lat[k][99.9], "%.3f"))
		}
	}
	if l := live["pipeline"]; l != nil {
		st, err := os.Stat(filepath.Join(l.dir, "access.log"))
		total := pipeReqs + pipeOpen
		switch {
		case err != nil:
			m.miss("pipeline/access_log_bytes_per_request", "no access log file: "+err.Error())
		case total > 0:
			// Lines may still sit in the writer's buffer: count what reached the file.
			m.values["pipeline/access_log_bytes_per_request"] = float64(st.Size()) / float64(total)
		}
	}
	for k, why := range down {
		m.note("target %s not measured: %s", k, why)
	}
	return nil
}

// byKey returns every target by key.
func (s *session) byKey() (map[string]target, error) {
	saved := s.o.targets
	s.o.targets = "direct,direct-1ms,nginx,haproxy,plain,pipeline,cache,aggregate"
	ts, err := s.selected()
	s.o.targets = saved
	if err != nil {
		return nil, err
	}
	out := map[string]target{}
	for _, t := range ts {
		out[t.key] = t
	}
	return out, nil
}

// failedRequests describes a run's failed requests ("" when none).
func failedRequests(res *loadgen.Result) string {
	if n := res.Errors + res.BadStatus; n > 0 {
		return fmt.Sprintf("%d failed requests, first: %s", n, res.FirstProblem)
	}
	return ""
}

// missingOf explains why a guard over targets keys cannot be computed.
func missingOf(down map[string]string, live map[string]*launched, keys ...string) string {
	for _, k := range keys {
		if why, ok := down[k]; ok {
			return k + ": " + why
		}
		if live[k] == nil {
			return k + " did not run"
		}
	}
	return ""
}

// metricValue reads one sample from http://admin/metrics (NaN when absent).
func metricValue(admin, series string) float64 {
	status, body, err := fasthttp.GetTimeout(nil, "http://"+admin+"/metrics", 5*time.Second)
	if err != nil || status != 200 {
		return math.NaN()
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return math.NaN()
}

// minOf is the smallest of xs (NaN when empty).
func minOf(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	m := xs[0]
	for _, x := range xs[1:] {
		m = min(m, x)
	}
	return m
}

func joinFloats(xs []float64, format string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, " ")
}
