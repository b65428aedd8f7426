package ratelimit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// redisServer is a real redis-server on a free 127.0.0.1 port.
type redisServer struct {
	t    *testing.T
	path string
	addr string
	args []string // beyond port, bind and persistence
	cmd  *exec.Cmd
}

// startRedis starts redis-server for the test; it skips the test only when
// redis-server is not installed (make test installs it).
func startRedis(t *testing.T, args ...string) *redisServer {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install -y redis-server); skipping the Redis quota tests")
	}
	return startRedisAt(t, path, freeAddr(t), args...)
}

// startRedisAt starts redis-server (path) on addr with extra arguments.
func startRedisAt(t *testing.T, path, addr string, args ...string) *redisServer {
	t.Helper()
	// Its own directory: a replica's full resync writes an RDB file.
	args = append([]string{"--dir", t.TempDir()}, args...)
	r := &redisServer{t: t, path: path, addr: addr, args: args}
	r.start()
	t.Cleanup(r.stop)
	return r
}

// freeAddr is a 127.0.0.1 address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (r *redisServer) start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	args := append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"}, r.args...)
	r.cmd = exec.Command(r.path, args...)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", r.addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("redis-server did not listen on %s", r.addr)
}

func (r *redisServer) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// Fleet quota used by the cluster tests: 500 a second, burst 100, over 3
// instances syncing every 50 ms.
const (
	fleetRate  = 500.0
	fleetBurst = 100.0
	fleetN     = 3
	fleetSync  = 50 * time.Millisecond
)

// fleet compiles one Set per instance from the same config and starts them.
func fleet(t *testing.T, addr string) []*Route {
	t.Helper()
	return fleetOf(t, RedisOptions{Addr: addr}, fleetN, int(fleetRate), int(fleetBurst))
}

// fleetOf starts n instances whose cluster.redis block is r plus a sync
// interval of fleetSync and a fresh key prefix, sharing one policy "q"
// (key header:X-Tenant) of rate a second and burst.
func fleetOf(t *testing.T, r RedisOptions, n, rate, burst int) []*Route {
	t.Helper()
	c := fleetConfig(r, n, rate, burst)
	routes := make([]*Route, n)
	for i := range routes {
		routes[i] = startInstance(t, c)
	}
	return routes
}

// instanceConfig is the config of one instance: its cluster.redis block and
// its other options.
type instanceConfig struct {
	redis RedisOptions
	o     Options
}

// compile compiles one instance of c, with a store of its own.
func (c instanceConfig) compile(t *testing.T) *Set {
	t.Helper()
	o := c.o
	o.Store = store(t, c.redis)
	return compile(t, o)
}

// fleetConfig is the config of fleetOf's instances.
func fleetConfig(r RedisOptions, n, rate, burst int) instanceConfig {
	r.SyncInterval = fleetSync
	r.KeyPrefix = fmt.Sprintf("t%d:", rand.Uint32())
	return instanceConfig{redis: r, o: Options{Instances: n, Policies: []PolicyOptions{
		{Name: "q", Key: "header:X-Tenant", Requests: rate, Per: time.Second, Burst: burst, Scope: "cluster"},
	}}}
}

// startInstance compiles and starts one instance of config c.
func startInstance(t *testing.T, c instanceConfig) *Route {
	t.Helper()
	s := c.compile(t)
	if s.sync == nil {
		t.Fatal("no syncer compiled")
	}
	s.Start(context.Background())
	return route(t, s, "r", "q")
}

// load offers requests to rt at rate per second until stop closes, counting
// offered and admitted requests and the slowest Allow call.
type load struct {
	offered, admitted atomic.Int64
	slowest           atomic.Int64 // ns
	rejectedOther     atomic.Int64 // failures that are not 429
}

func (l *load) run(rt *Route, rate float64, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	tenant := req{headers: map[string]string{"X-Tenant": "acme"}}
	start := time.Now()
	done := int64(0)
	last := start
	for {
		select {
		case <-stop:
			return
		default:
		}
		now := time.Now()
		if now.Sub(last) > 100*time.Millisecond {
			stalls.Add(1) // the machine did not run this client for a while
		}
		last = now
		due := int64(rate*time.Since(start).Seconds()) - done
		for range min(due, 1000) {
			x := exchange(tenant)
			t0 := time.Now()
			ok := rt.Allow(x)
			if d := int64(time.Since(t0)); d > l.slowest.Load() {
				l.slowest.Store(d)
			}
			l.offered.Add(1)
			if ok {
				l.admitted.Add(1)
			} else if rej, _ := x.Rejected(); rej.Status != 429 {
				l.rejectedOther.Add(1)
			}
			done++
		}
		time.Sleep(time.Millisecond)
	}
}

// stalls counts the times a load generator was not scheduled for over
// 100 ms: on a machine that loaded, the measured figures are the machine's.
var stalls atomic.Int64

// quota is what one ideal fleet-wide bucket admits over d under saturation.
func quota(d time.Duration) float64 { return fleetBurst + fleetRate*d.Seconds() }

// overshootBound is the README's worst case E = B + N + R·T* (shares
// current) beyond the quota, with T* = T + twice the sync timeout.
func overshootBound() float64 {
	return fleetBurst + fleetN + fleetRate*(fleetSync+2*syncTimeout(fleetSync)).Seconds()
}

// sharing is the least rate one instance of three with all the load must
// get while it shares the fleet quota: well above its split (a third), with
// room for a loaded machine that does not run the load generator on time.
const sharing = 0.7 * fleetRate

// runFleet drives the instances at the given shares of 3× the quota's rate
// for d and returns the admitted counts.
func runFleet(t *testing.T, routes []*Route, shares []float64, d time.Duration) []*load {
	loads := make([]*load, len(routes))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, rt := range routes {
		loads[i] = &load{}
		if shares[i] > 0 {
			wg.Add(1)
			go loads[i].run(rt, 3*fleetRate*shares[i], stop, &wg)
		}
	}
	time.Sleep(d)
	close(stop)
	wg.Wait()
	return loads
}

func checkFleet(t *testing.T, loads []*load, d time.Duration) {
	t.Helper()
	total := int64(0)
	for i, l := range loads {
		t.Logf("instance %d: offered %d, admitted %d, slowest Allow %v", i, l.offered.Load(), l.admitted.Load(), time.Duration(l.slowest.Load()))
		total += l.admitted.Load()
		if n := l.rejectedOther.Load(); n > 0 {
			t.Errorf("instance %d: %d rejections that are not 429", i, n)
		}
	}
	q := quota(d)
	t.Logf("fleet admitted %d, quota %.0f (%.1f%%), overshoot bound %.0f", total, q, 100*float64(total)/q, overshootBound())
	if f := float64(total); f < 0.9*q || f > 1.1*q {
		t.Errorf("fleet admitted %d, not within ±10%% of the quota %.0f", total, q)
	}
	if f := float64(total); f > q+overshootBound() {
		t.Errorf("fleet admitted %d, over the quota plus the worst-case overshoot (%.0f)", total, q+overshootBound())
	}
}

func TestClusterSkewedLoad(t *testing.T) {
	r := startRedis(t)
	undisturbed(t, func() func() {
		routes := fleet(t, r.addr)
		const d = 5 * time.Second
		loads := runFleet(t, routes, []float64{0.80, 0.15, 0.05}, d)
		return func() { checkFleet(t, loads, d) }
	})
}

func TestClusterAllLoadOnOneInstance(t *testing.T) {
	r := startRedis(t)
	undisturbed(t, func() func() {
		routes := fleet(t, r.addr)
		const d = 5 * time.Second
		loads := runFleet(t, routes, []float64{1, 0, 0}, d)
		return func() { checkFleet(t, loads, d) }
	})
}

// TestRedisOutage drives one instance of three: with Redis it gets the whole
// fleet rate; with Redis killed it falls back to its split (a third) without
// a failure or a slow call; once Redis is back it gets the fleet rate again.
func TestRedisOutage(t *testing.T) {
	r := startRedis(t)
	c := instanceConfig{redis: RedisOptions{Addr: r.addr, SyncInterval: fleetSync}, o: Options{Instances: fleetN, Policies: []PolicyOptions{
		{Name: "q", Key: "header:X-Tenant", Requests: int(fleetRate), Per: time.Second, Burst: int(fleetBurst), Scope: "cluster"},
	}}}
	sets := make([]*Set, fleetN)
	for i := range sets {
		sets[i] = c.compile(t)
		sets[i].Start(context.Background())
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
	time.Sleep(time.Second) // burst spent, sharing settled
	if got := rateOver(1500 * time.Millisecond); got < sharing {
		t.Fatalf("with Redis: %.0f/s admitted on one instance, want about the fleet rate %.0f/s", got, fleetRate)
	}

	r.stop()
	if !waitFor(time.Second, sets[0].sync.isDegraded) {
		t.Fatal("syncer not degraded a second after Redis died")
	}
	time.Sleep(400 * time.Millisecond) // spend what the last share left
	split := fleetRate / fleetN
	if got := rateOver(1500 * time.Millisecond); got < 0.8*split || got > 1.2*split {
		t.Fatalf("without Redis: %.0f/s admitted, want the split %.0f/s", got, split)
	}

	r.start()
	back := time.Now()
	for sets[0].sync.isDegraded() && time.Since(back) < 3*time.Second {
		time.Sleep(10 * time.Millisecond)
	}
	if waited := time.Since(back); waited > 1500*time.Millisecond {
		t.Fatalf("sharing resumed %v after Redis came back, want about a second", waited)
	} else {
		t.Logf("sharing resumed %v after Redis came back", waited)
	}
	time.Sleep(500 * time.Millisecond)
	if got := rateOver(1500 * time.Millisecond); got < sharing {
		t.Fatalf("after Redis returned: %.0f/s admitted, want about the fleet rate %.0f/s", got, fleetRate)
	}
	if n := l.rejectedOther.Load(); n > 0 {
		t.Fatalf("%d failures that are not 429", n)
	}
	if s := time.Duration(l.slowest.Load()); s > 200*time.Millisecond {
		t.Fatalf("slowest Allow took %v: a request waited", s)
	}
}

// TestOvershootIdleInstancesWake is the README's corner case: two instances
// idle for a key keep full local buckets while the third takes the whole
// fleet rate; then all three spend at once. The fleet stays within the
// quota plus the worst-case overshoot E.
func TestOvershootIdleInstancesWake(t *testing.T) {
	r := startRedis(t)
	undisturbed(t, func() func() {
		routes := fleet(t, r.addr)
		loads := []*load{{}, {}, {}}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		start := time.Now()
		wg.Add(1)
		go loads[0].run(routes[0], 3*fleetRate, stop, &wg)
		time.Sleep(2 * time.Second)
		for i := 1; i < 3; i++ {
			wg.Add(1)
			go loads[i].run(routes[i], 3*fleetRate, stop, &wg)
		}
		time.Sleep(time.Second)
		close(stop)
		wg.Wait()
		d := time.Since(start)
		return func() { checkFleet(t, loads, d) }
	})
}
