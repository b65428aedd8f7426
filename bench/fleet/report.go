package fleet

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Plan sizes a full run of the scenarios.
type Plan struct {
	// Clients is the number of distinct client addresses of scenario 1.
	Clients int
	// Skewed is the demand of scenario 2 as a multiple of the quota, split
	// 80/15/5 over three instances (then all on the first).
	Skewed float64
	// Warm and Window bound scenario 2's runs: warm-up, then counting.
	Warm, Window time.Duration
	// Load is the continuous load of scenarios 3-5.
	Load Load
	// Settle is the time under load before and after each disruption.
	Settle time.Duration
	// Outage is how long Redis stays down in scenario 5.
	Outage time.Duration
	// Latency is the load of scenario 6 (run for Window each way).
	Latency Load
}

// FullPlan is the plan of `make fleet`.
var FullPlan = Plan{Clients: 50, Skewed: 2, Warm: 2 * time.Second, Window: 10 * time.Second,
	Load: Load{Rate: 1000, Conns: 32}, Settle: 2 * time.Second, Outage: 3 * time.Second,
	Latency: Load{Rate: 500, Conns: 16}}

// Row is one line of the fleet table.
type Row struct {
	// N numbers the scenario ("1", "2a", ...).
	N string
	// Scenario says what ran, Measured what came out, Goal what was wanted.
	Scenario, Measured, Goal string
	// OK is whether Measured meets Goal.
	OK bool
}

// Report is the outcome of Run.
type Report struct {
	Features  Features
	Plan      Plan
	Quota     int
	Instances int
	Rows      []Row
	Started   time.Time
	Elapsed   time.Duration
}

// Run runs every scenario on f with plan p and returns the table. A
// scenario that errors ends the run with the rows so far.
func Run(ctx context.Context, f *Fleet, p Plan) (*Report, error) {
	rep := &Report{Features: f.Feat, Plan: p, Quota: f.opts.Quota, Instances: len(f.inst), Started: time.Now()}
	defer func() { rep.Elapsed = time.Since(rep.Started) }()
	logf := f.opts.Logf

	logf("1. client addresses: %d clients", p.Clients)
	ip, err := f.ClientAddresses(ctx, p.Clients)
	if err != nil {
		return rep, fmt.Errorf("client addresses: %w", err)
	}
	rep.Rows = append(rep.Rows, Row{N: "1", Scenario: fmt.Sprintf("client addresses through HAProxy: %d clients (127.0.0.%d-%d), per-ip burst %d", p.Clients, clientBase, clientBase+p.Clients-1, ipBurst),
		Measured: fmt.Sprintf("address seen upstream for %d/%d; limit held for %d/%d (admitted %d, want %d)", ip.Seen, ip.Clients, ip.Held, ip.Clients, ip.Admitted, ip.Clients*ipBurst),
		Goal:     fmt.Sprintf("%d/%d", p.Clients, p.Clients), OK: ip.Seen == ip.Clients && ip.Held == ip.Clients})

	q := float64(f.opts.Quota)
	d := q * p.Skewed
	for _, c := range []struct {
		n, name string
		demand  []float64
	}{
		{"2a", "80/15/5", []float64{0.80 * d, 0.15 * d, 0.05 * d}},
		{"2b", "all on one", []float64{d, 0, 0}},
	} {
		logf("2. cluster quota %d/s, demand %.0f/s %s", f.opts.Quota, d, c.name)
		r, err := f.QuotaFairness(ctx, c.demand, p.Warm, p.Window)
		if err != nil {
			return rep, fmt.Errorf("quota %s: %w", c.name, err)
		}
		rep.Rows = append(rep.Rows, quotaRow(c.n, c.name, f.opts.Quota, d, p.Window, r))
	}

	logf("3. rolling restart under %.0f req/s over %d connections", p.Load.Rate, p.Load.Conns)
	rr, err := f.RollingRestart(ctx, p.Load, p.Settle)
	if err != nil {
		return rep, fmt.Errorf("rolling restart: %w", err)
	}
	rep.Rows = append(rep.Rows, Row{N: "3", Scenario: fmt.Sprintf("rolling restart of %d instances (SIGTERM, drain_delay %v, start, ready), %.0f req/s over %d keep-alive connections, client without retries", len(f.inst), f.opts.DrainDelay, p.Load.Rate, p.Load.Conns),
		Measured: fmt.Sprintf("%d failed of %d%s", rr.Failed, rr.Requests, firstFailure(rr)), Goal: "0 failed", OK: rr.Failed == 0})

	logf("4. SIGKILL one instance under load")
	k, err := f.Kill(ctx, p.Load, len(f.inst)/2, p.Settle)
	if err != nil {
		return rep, fmt.Errorf("kill: %w", err)
	}
	perInst := (p.Load.Conns + len(f.inst) - 1) / len(f.inst)
	rep.Rows = append(rep.Rows, Row{N: "4", Scenario: fmt.Sprintf("one instance SIGKILLed under %.0f req/s", p.Load.Rate),
		Measured: fmt.Sprintf("%d failed of %d%s; HAProxy marked it down after %s (checks every %v, fall %d)", k.Failed, k.Requests, firstFailure(k), round(k.Detect), checkInter, checkFall),
		Goal:     fmt.Sprintf("only its in-flight requests (~%d connections on it)", perInst), OK: k.Failed <= int64(perInst)+2})

	logf("5. Redis killed for %v under load", p.Outage)
	rd, err := f.RedisOutage(ctx, p.Load, p.Outage, p.Settle)
	if err != nil {
		return rep, fmt.Errorf("redis outage: %w", err)
	}
	fb, rs := "n/a", "n/a"
	if rd.Fallback > 0 {
		fb = round(rd.Fallback)
	}
	if rd.Resume > 0 {
		rs = round(rd.Resume)
	}
	rep.Rows = append(rep.Rows, Row{N: "5", Scenario: fmt.Sprintf("Redis SIGKILLed for %v and restarted, %.0f req/s on a cluster quota", p.Outage, p.Load.Rate),
		Measured: fmt.Sprintf("%d 5xx (%d failed) of %d; every instance on its split %s after the kill, sharing again %s after the restart", rd.ServerErrors, rd.Failed, rd.Requests, fb, rs),
		Goal:     "0 5xx; resume within about 1s", OK: rd.ServerErrors == 0 && rd.Failed == 0 && rd.Resume > 0 && rd.Resume <= 2*time.Second})

	logf("6. latency through HAProxy vs direct, %.0f req/s", p.Latency.Rate)
	lat, err := f.Latency(ctx, p.Latency, p.Window)
	if err != nil {
		return rep, fmt.Errorf("latency: %w", err)
	}
	rep.Rows = append(rep.Rows, Row{N: "6", Scenario: fmt.Sprintf("latency on a Redis-shared cluster quota route, %.0f req/s over %d connections for %v: HAProxy + %d instances vs one instance direct", p.Latency.Rate, p.Latency.Conns, p.Window, len(f.inst)),
		Measured: fmt.Sprintf("p50 %s vs %s, p99 %s vs %s: p99 ratio %.2f (%d and %d failed)", ms(lat.FleetP50), ms(lat.DirectP50), ms(lat.FleetP99), ms(lat.DirectP99), lat.Ratio, lat.Fleet.Failed, lat.Direct.Failed),
		Goal:     "quoted (no goal); 0 failed", OK: lat.Fleet.Failed == 0 && lat.Direct.Failed == 0})

	if !f.Feat.ReusePort {
		logf("7. handover skipped: %s", f.Feat.Missing("server.reuse_port"))
		return rep, nil
	}
	logf("7. in-place handover under %.0f req/s over %d connections", p.Load.Rate, p.Load.Conns)
	ho, err := f.Handover(ctx, p.Load, p.Settle)
	if err != nil {
		return rep, fmt.Errorf("handover: %w", err)
	}
	rep.Rows = append(rep.Rows, Row{N: "7", Scenario: fmt.Sprintf("in-place handover of %d instances (a new process on the same client and admin addresses with reuse_port, ready, SIGTERM to the old), %.0f req/s over %d keep-alive connections", len(f.inst), p.Load.Rate, p.Load.Conns),
		Measured: fmt.Sprintf("%d failed of %d%s", ho.Failed, ho.Requests, firstFailure(ho)), Goal: "0 failed", OK: ho.Failed == 0})
	return rep, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func quotaRow(n, name string, quota int, demand float64, window time.Duration, r QuotaResult) Row {
	shares := func(v []float64) string {
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = fmt.Sprintf("%.0f", x)
		}
		return strings.Join(s, "/")
	}
	ok := absf(r.Ratio-1) <= 0.05 && r.MaxDev <= 10 && r.Failed == 0
	return Row{N: n, Scenario: fmt.Sprintf("cluster quota %d/s, demand %.0f/s %s, %v counted", quota, demand, name, window),
		Measured: fmt.Sprintf("admitted %.2f of the quota; admitted shares %s%% vs demand %s%% (max %.1f points)", r.Ratio, shares(r.AdmitShare), shares(r.DemandShare), r.MaxDev),
		Goal:     "total ±5%, shares ±10 points", OK: ok}
}

func absf(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func firstFailure(r LoadResult) string {
	if r.FirstFailure == "" {
		return ""
	}
	return fmt.Sprintf(" (first: %s)", r.FirstFailure)
}

func round(d time.Duration) string {
	if d <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// Markdown renders the table with a short header.
func (r *Report) Markdown(env string) string {
	var b strings.Builder
	send, keys := "", ""
	if r.Features.ProxyProtocol {
		send, keys = ", send-proxy-v2", "proxy_protocol: required"
	}
	if r.Features.ReusePort {
		keys += ", reuse_port: true"
	}
	if keys != "" {
		keys = " (" + strings.TrimPrefix(keys, ", ") + ")"
	}
	fmt.Fprintf(&b, "# Fleet run\n\n`make fleet`: HAProxy (TCP mode%s, /readyz checks) → %d sluice instances%s → demo upstreams, one redis-server; "+
		"every process on this machine, all traffic on 127.0.0.1, a client that never retries. Written by bench/cmd/fleet.\n\n", send, r.Instances, keys)
	fmt.Fprintf(&b, "- run: %s, %s\n", r.Started.UTC().Format("2006-01-02 15:04 UTC"), round(r.Elapsed))
	if env != "" {
		fmt.Fprintf(&b, "- %s\n", env)
	}
	fmt.Fprintf(&b, "- sluice features found: %s\n", r.Features)
	for _, n := range r.Features.Notes {
		fmt.Fprintf(&b, "  - %s\n", n)
	}
	fmt.Fprintf(&b, "\n%s", r.Table())
	return b.String()
}

// Table renders the rows as a Markdown table.
func (r *Report) Table() string {
	var b strings.Builder
	b.WriteString("| # | scenario | measured | goal | |\n|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		mark := "ok"
		if !row.OK {
			mark = "**missed**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", row.N, row.Scenario, row.Measured, row.Goal, mark)
	}
	return b.String()
}
