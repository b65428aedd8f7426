package fleet

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFleet is the short form of `make fleet` (scenarios 1-3) with real
// processes: HAProxy, three sluice instances, an upstream and redis-server.
// A scenario that needs a feature the sluice binary lacks is skipped with the
// feature's name, found by trying it (see Features).
func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a fleet of real processes")
	}
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy is not installed (make test-deps installs it); skipping the fleet test")
	}
	redis, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (make test-deps installs it); skipping the fleet test")
	}
	bin := t.TempDir()
	for _, cmd := range []string{"sluice", "upstream"} {
		build := exec.Command("go", "build", "-o", filepath.Join(bin, cmd), "github.com/sluice-gw/sluice/cmd/"+cmd)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", cmd, err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	defer func() {
		if t.Failed() {
			dumpLogs(t, dir)
		}
	}()
	const quota = 100
	f, err := Start(ctx, Options{Sluice: filepath.Join(bin, "sluice"), Upstream: filepath.Join(bin, "upstream"),
		HAProxy: haproxy, RedisServer: redis, Dir: dir, Upstreams: 1, Quota: quota, DrainDelay: 1500 * time.Millisecond, Logf: t.Logf})
	if err != nil {
		t.Fatalf("start the fleet: %v", err)
	}
	defer f.Close()
	t.Logf("features: %s; %s", f.Feat, f.Feat.Missing(""))

	t.Run("client addresses", func(t *testing.T) {
		if !f.Feat.ProxyProtocol {
			t.Skipf("needs server.proxy_protocol: %s", f.Feat.Missing("server.proxy_protocol"))
		}
		const clients = 20
		r, err := f.ClientAddresses(ctx, clients)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v", r)
		if r.Seen != clients || r.Held != clients {
			t.Errorf("through HAProxy: upstream saw the client's address for %d/%d clients, per-ip burst held for %d/%d (admitted %d, want %d)",
				r.Seen, clients, r.Held, clients, r.Admitted, clients*ipBurst)
		}
	})

	t.Run("cluster quota", func(t *testing.T) {
		// Demand twice the quota, skewed 80/15/5 over the instances.
		r, err := f.QuotaFairness(ctx, []float64{160, 30, 10}, 3*time.Second, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("admitted %d of %.0f expected (%.2f); admitted shares %.1f vs demand %.1f; sent %v ok %v",
			r.Admitted, r.Expected, r.Ratio, r.AdmitShare, r.DemandShare, r.Sent, r.Ok)
		var sent int64
		for _, s := range r.Sent {
			sent += s
		}
		if float64(sent) < 1.2*r.Expected {
			t.Skipf("the load generator sent only %d requests for a quota of %.0f: machine too busy to measure", sent, r.Expected)
		}
		if r.Failed != 0 {
			t.Errorf("%d requests failed (want only 200 and 429)", r.Failed)
		}
		// The fleet table's goal is ±5%; a short window on a shared
		// machine gets ±10%.
		if r.Ratio < 0.90 || r.Ratio > 1.10 {
			t.Errorf("the fleet admitted %.2f of its cluster quota, want 1 ± 0.10", r.Ratio)
		}
		if !f.Feat.FairQuota {
			t.Skipf("admitted shares not checked, needs fair cluster quotas: %s", f.Feat.Missing("fair cluster quotas"))
		}
		if r.MaxDev > 10 {
			t.Errorf("admitted shares %.1f%% vs demand %.1f%%: %.1f points apart, want at most 10", r.AdmitShare, r.DemandShare, r.MaxDev)
		}
	})

	t.Run("rolling restart", func(t *testing.T) {
		if !f.Feat.DrainClose {
			t.Skipf("needs Connection: close while draining: %s", f.Feat.Missing("drain"))
		}
		r, err := f.RollingRestart(ctx, Load{Rate: 300, Conns: 12}, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d requests, %d failed", r.Requests, r.Failed)
		if r.Requests < 1000 {
			t.Errorf("only %d requests during the rolling restart: the load did not run", r.Requests)
		}
		if r.Failed != 0 {
			t.Errorf("%d of %d requests failed during the rolling restart for a client that does not retry (first: %s)", r.Failed, r.Requests, r.FirstFailure)
		}
	})
}

// dumpLogs prints the end of every process log of a failed run.
func dumpLogs(t *testing.T, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		s := string(data)
		if len(s) > 1500 {
			s = s[len(s)-1500:]
		}
		t.Logf("--- %s\n%s", filepath.Base(l), strings.TrimSpace(s))
	}
}
