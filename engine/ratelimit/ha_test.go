package ratelimit

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServerPath is redis-server's path; the test is skipped without it.
func redisServerPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install -y redis-server redis-sentinel); skipping")
	}
	return path
}

// waitFor polls cond every 20 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// startSentinel starts a Redis Sentinel on a free port watching master
// "m" at masterAddr with quorum 1 and a 1 s down-after, and returns its
// address. It runs redis-sentinel (Debian's redis-sentinel package) when
// installed, else redis-server --sentinel.
func startSentinel(t *testing.T, masterAddr string) string {
	t.Helper()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	mhost, mport, _ := net.SplitHostPort(masterAddr)
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	body := fmt.Sprintf("port %s\nbind 127.0.0.1\nprotected-mode no\n"+
		"sentinel monitor m %s %s 1\nsentinel down-after-milliseconds m 1000\n"+
		"sentinel failover-timeout m 3000\nsentinel parallel-syncs m 1\n", port, mhost, mport)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	if p, err := exec.LookPath("redis-sentinel"); err == nil {
		cmd = exec.Command(p, conf)
	} else {
		cmd = exec.Command(redisServerPath(t), conf, "--sentinel")
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sentinel: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if !waitFor(5*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		t.Fatalf("sentinel did not listen on %s", addr)
	}
	return addr
}

// TestSentinelFailover runs a master, a replica and a Sentinel as real
// processes. One instance of three takes all the load: it gets the fleet
// rate through Sentinel; when the master is killed it admits within its
// split, without a failure or a slow call; once Sentinel has promoted the
// replica it shares the fleet quota again.
func TestSentinelFailover(t *testing.T) {
	path := redisServerPath(t)
	master := startRedisAt(t, path, freeAddr(t))
	_, mport, _ := net.SplitHostPort(master.addr)
	replica := startRedisAt(t, path, freeAddr(t), "--replicaof", "127.0.0.1", mport)
	sentinel := startSentinel(t, master.addr)

	ctx := context.Background()
	rc := redis.NewClient(&redis.Options{Addr: replica.addr})
	defer rc.Close()
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel})
	defer sc.Close()
	if !waitFor(15*time.Second, func() bool {
		info, _ := rc.Info(ctx, "replication").Result()
		reps, _ := sc.Replicas(ctx, "m").Result()
		return strings.Contains(info, "master_link_status:up") && len(reps) == 1
	}) {
		t.Fatal("replica not in sync or not known to Sentinel")
	}

	c := fleetConfig(RedisOptions{Addrs: []string{sentinel}, MasterName: "m"}, fleetN, int(fleetRate), int(fleetBurst))
	sets := make([]*Set, fleetN)
	for i := range sets {
		sets[i] = c.compile(t)
		if sets[i].sync.mode != modeSentinel {
			t.Fatalf("mode %v, want sentinel", sets[i].sync.mode)
		}
		sets[i].Start(ctx)
	}
	rt := route(t, sets[0], "r", "q")
	l := &load{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go l.run(rt, 2*fleetRate, stop, &wg)
	defer func() { close(stop); wg.Wait() }()
	rateOver := func(d time.Duration) float64 {
		a0 := l.admitted.Load()
		time.Sleep(d)
		return float64(l.admitted.Load()-a0) / d.Seconds()
	}

	time.Sleep(time.Second)
	if got := rateOver(1500 * time.Millisecond); got < sharing {
		t.Fatalf("through Sentinel: %.0f/s admitted on one instance, want about the fleet rate %.0f/s", got, fleetRate)
	}

	master.stop() // SIGKILL
	if !waitFor(3*time.Second, sets[0].sync.isDegraded) {
		t.Fatal("no fallback to the split after the master died")
	}
	down, a0 := time.Now(), l.admitted.Load()
	if !waitFor(20*time.Second, func() bool { return !sets[0].sync.isDegraded() }) {
		t.Fatal("sharing did not resume after the failover")
	}
	w, admittedDown := time.Since(down), float64(l.admitted.Load()-a0)
	addr, err := sc.GetMasterAddrByName(ctx, "m").Result()
	if err != nil || net.JoinHostPort(addr[0], addr[1]) != replica.addr {
		t.Fatalf("Sentinel's master is %v (%v), want the promoted replica %s", addr, err, replica.addr)
	}
	// While on the split: at most the local bucket plus the split's refill
	// (and a poll's worth at the fleet rate), and not nothing.
	split := fleetRate / fleetN
	upper := fleetBurst/fleetN + 1.1*split*w.Seconds() + 0.05*fleetRate
	t.Logf("failover: %v on the split, %.0f admitted (split %.0f/s, bound %.0f)", w.Round(time.Millisecond), admittedDown, split, upper)
	if admittedDown > upper {
		t.Errorf("admitted %.0f during the failover, over the split's bound %.0f", admittedDown, upper)
	}
	if w > time.Second && admittedDown < 0.7*split*w.Seconds() {
		t.Errorf("admitted %.0f during %v of failover, want about the split %.0f/s", admittedDown, w, split)
	}

	time.Sleep(500 * time.Millisecond)
	if got := rateOver(1500 * time.Millisecond); got < sharing {
		t.Fatalf("after the failover: %.0f/s admitted, want about the fleet rate %.0f/s", got, fleetRate)
	}
	if n := l.rejectedOther.Load(); n > 0 {
		t.Fatalf("%d failures that are not 429", n)
	}
	if s := time.Duration(l.slowest.Load()); s > 200*time.Millisecond {
		t.Fatalf("slowest Allow took %v: a request waited", s)
	}
}

// clusterAddr is a free 127.0.0.1 address whose cluster bus port (+10000)
// is free too.
func clusterAddr(t *testing.T) string {
	t.Helper()
	for range 50 {
		a := freeAddr(t)
		_, p, _ := net.SplitHostPort(a)
		port, _ := strconv.Atoi(p)
		if port+10000 > 65535 {
			continue
		}
		if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000))); err == nil {
			ln.Close()
			return a
		}
	}
	t.Fatal("no free port pair for a cluster node")
	return ""
}

// startCluster starts three Redis Cluster masters and joins them with
// redis-cli --cluster create.
func startCluster(t *testing.T) []string {
	t.Helper()
	path := redisServerPath(t)
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli is not installed (apt-get install -y redis-tools); skipping")
	}
	dir := t.TempDir()
	addrs := make([]string, 3)
	for i := range addrs {
		addrs[i] = clusterAddr(t)
		_, p, _ := net.SplitHostPort(addrs[i])
		startRedisAt(t, path, addrs[i], "--cluster-enabled", "yes", "--cluster-node-timeout", "2000",
			"--cluster-config-file", filepath.Join(dir, "nodes-"+p+".conf"), "--dir", dir)
	}
	out, err := exec.Command(cli, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	ctx := context.Background()
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		ok := waitFor(15*time.Second, func() bool {
			info, _ := c.ClusterInfo(ctx).Result()
			return strings.Contains(info, "cluster_state:ok")
		})
		c.Close()
		if !ok {
			t.Fatalf("cluster node %s never reached cluster_state:ok", a)
		}
	}
	return addrs
}

// TestRedisCluster shares a quota through a three-master Redis Cluster:
// many keys of one sync spread over the nodes without a cross-slot error,
// and skewed load is shared fairly.
func TestRedisCluster(t *testing.T) {
	addrs := startCluster(t)
	ctx := context.Background()

	// One sync of 300 keys: every script call stays in one slot.
	s := fleetConfig(RedisOptions{Addrs: addrs}, 3, fairRate, fairBurst).compile(t)
	if s.sync.mode != modeCluster {
		t.Fatalf("mode %v, want cluster", s.sync.mode)
	}
	p := s.sync.policies[0]
	for k := range uint64(300) {
		p.lim.Allow(k*0x9e3779b97f4a7c15 + 1)
	}
	s.sync.warmUp(ctx)
	s.sync.usage[0] = p.lim.AppendUsage(nil)
	if err := s.sync.exchange(ctx, time.Second); err != nil {
		t.Fatalf("the sync failed against Redis Cluster: %v", err)
	}
	nodes := 0
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		n, err := c.DBSize(ctx).Result()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("node %s holds %d buckets", a, n)
		if n > 0 {
			nodes++
		}
	}
	if nodes < 2 {
		t.Errorf("the buckets sit on %d node(s), want them spread", nodes)
	}

	undisturbed(t, func() func() {
		routes := fleetOf(t, RedisOptions{Addrs: addrs}, 3, fairRate, fairBurst)
		const d = 3 * time.Second
		res := measure(routes, []float64{0.80, 0.15, 0.05}, fairDemand, 1500*time.Millisecond, d)
		return func() { checkFair(t, res, fairRate, d) }
	})
}
