// Package fleet starts a real local sluice fleet and measures it: Debian's
// HAProxy in TCP mode with send-proxy-v2 in front of several sluice processes
// (reuse_port, proxy_protocol), demo upstreams behind them and one
// redis-server for cluster quotas. Scenarios drive bounded load through the
// balancer with a client that never retries and report what a fleet operator
// cares about: client addresses, quota accuracy and fairness, failed requests
// during a rolling restart, a crash and a Redis outage.
//
// bench/cmd/fleet (make fleet) runs every scenario and writes a table to
// docs/fleet/; a shorter form runs in the package's tests (make test).
package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-gw/sluice/bench/internal/procs"
)

// Options configures a fleet.
type Options struct {
	// Sluice and Upstream are the paths of the sluice and bin/upstream binaries.
	Sluice, Upstream string
	// HAProxy and RedisServer are the paths of haproxy and redis-server.
	HAProxy, RedisServer string
	// Dir holds generated configs and every process's log.
	Dir string
	// Instances is the number of sluice processes (default 3).
	Instances int
	// Upstreams is the number of demo upstream processes (default 2).
	Upstreams int
	// Quota is the scope: cluster quota of the fairness scenario, per second (default 200).
	Quota int
	// DrainDelay is each instance's server.drain_delay (default 1s).
	DrainDelay time.Duration
	// Logf, when set, receives progress lines.
	Logf func(format string, args ...any)
}

func (o *Options) defaults() {
	if o.Instances <= 0 {
		o.Instances = 3
	}
	if o.Upstreams <= 0 {
		o.Upstreams = 2
	}
	if o.Quota <= 0 {
		o.Quota = 200
	}
	if o.DrainDelay <= 0 {
		o.DrainDelay = time.Second
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// Health checks of the generated HAProxy config: an instance is marked down
// after fall failed checks inter apart, and up after rise good ones.
const (
	checkInter = 200 * time.Millisecond
	checkFall  = 2
	checkRise  = 2
)

// Rate limit policies of the generated config.
const (
	ipBurst    = 5       // per-ip: burst 5, 1 token every 10s
	sharedRate = 1000000 // shared: a cluster quota that does not reject, to watch Redis
	clientBase = 10      // first 127.0.0.x source address of the ip scenario
	maxClients = 200     // 127.0.0.10 .. 127.0.0.209
)

// Fleet is a running fleet.
type Fleet struct {
	opts  Options
	procs *procs.Set
	Feat  Features

	redisAddr string
	redis     *procs.Child
	upstreams []string
	inst      []*instance

	// All balances over every instance (round robin); Source pins each
	// client address to one instance (balance source); Direct[i] reaches
	// only instance i (all through HAProxy, all with send-proxy-v2).
	All, Source string
	Direct      []string
	stats       string // HAProxy stats (CSV at /stats;csv)
	gen         int    // handovers so far, to name the new processes' logs
	haproxy     *procs.Child
}

// instance is one sluice process of the fleet.
type instance struct {
	name          string
	listen, admin string
	config        string
	proc          *procs.Child
}

// Start starts redis-server, the upstreams, probes which fleet features the
// sluice binary has, then starts the instances and HAProxy. On error
// everything started so far is stopped.
func Start(ctx context.Context, opts Options) (_ *Fleet, err error) {
	opts.defaults()
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("fleet dir: %w", err)
	}
	f := &Fleet{opts: opts, procs: procs.New(procs.Options{LogDir: opts.Dir, Append: true})}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	if err := f.startRedis(ctx); err != nil {
		return nil, err
	}
	for i := range opts.Upstreams {
		addr, err := procs.FreeAddr()
		if err != nil {
			return nil, err
		}
		c, err := f.procs.Start(fmt.Sprintf("upstream-%d", i+1), opts.Upstream, "-listen", addr, "-name", fmt.Sprintf("upstream-%d", i+1))
		if err != nil {
			return nil, err
		}
		if err := waitTCP(ctx, c, addr, 10*time.Second); err != nil {
			return nil, err
		}
		f.upstreams = append(f.upstreams, addr)
	}
	opts.Logf("probing the sluice binary for fleet features")
	if f.Feat, err = probe(ctx, f); err != nil {
		return nil, err
	}
	opts.Logf("features: %s", f.Feat)
	for i := range opts.Instances {
		in := &instance{name: fmt.Sprintf("sluice-%d", i+1)}
		if in.listen, err = procs.FreeAddr(); err != nil {
			return nil, err
		}
		if in.admin, err = procs.FreeAddr(); err != nil {
			return nil, err
		}
		in.config = filepath.Join(opts.Dir, in.name+".json")
		if err := os.WriteFile(in.config, f.instanceConfig(in), 0o644); err != nil {
			return nil, fmt.Errorf("write config: %w", err)
		}
		f.inst = append(f.inst, in)
		if err := f.startInstance(ctx, i); err != nil {
			return nil, err
		}
	}
	if err := f.startHAProxy(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

// Close stops every process of the fleet.
func (f *Fleet) Close() { f.procs.KillAll() }

func (f *Fleet) startRedis(ctx context.Context) error {
	if f.redisAddr == "" {
		addr, err := procs.FreeAddr()
		if err != nil {
			return err
		}
		f.redisAddr = addr
	}
	_, port, _ := net.SplitHostPort(f.redisAddr)
	c, err := f.procs.Start("redis", f.opts.RedisServer, "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", f.opts.Dir)
	if err != nil {
		return err
	}
	f.redis = c
	return waitTCP(ctx, c, f.redisAddr, 10*time.Second)
}

// sluiceConfig is the config of one instance: routes /echo (no limit), /ip
// (per-ip, instance scope), /quota (the cluster quota of scenario 2),
// /shared (a cluster quota too high to reject, to watch Redis) and /plain,
// each answering X-Instance with the instance's name (for people reading
// logs). proxyProtocol and reusePort are left out when empty/false (see Features).
func sluiceConfig(listen, admin, redis, instance string, upstreams []string, instances, quota int, drain time.Duration, proxyProtocol string, reusePort bool) []byte {
	targets, _ := json.Marshal(upstreams)
	server := fmt.Sprintf(`"listen": %q, "admin_listen": %q, "trusted_proxies": ["127.0.0.1/32"],
    "drain_delay": %q, "shutdown_timeout": "5s", "access_log": "off"`, listen, admin, drain.String())
	if proxyProtocol != "" {
		server += fmt.Sprintf(`, "proxy_protocol": %q`, proxyProtocol)
	}
	if reusePort {
		server += `, "reuse_port": true`
	}
	route := func(name, path, rewrite, limits string) string {
		r := fmt.Sprintf(`{"name": %q, "path": %q, "methods": ["GET"], "service": "demo", "rewrite": %q,
     "response_headers": {"set": {"X-Instance": %q}}`, name, path, rewrite, instance)
		if limits != "" {
			r += `, "rate_limits": [` + limits + `]`
		}
		return r + `}`
	}
	return []byte(fmt.Sprintf(`{
  "server": {%s},
  "cluster": {"instances": %d, "redis": {"addr": %q, "sync_interval": "50ms", "key_prefix": "fleet:"}},
  "services": {"demo": {"targets": %s, "timeout": "2s", "retries": 0}},
  "rate_limits": {
    "per-ip": {"key": "ip", "requests": 1, "per": "10s", "burst": %d, "scope": "instance"},
    "quota": {"key": "route", "requests": %d, "per": "1s", "scope": "cluster"},
    "shared": {"key": "route", "requests": %d, "per": "1s", "scope": "cluster"}
  },
  "routes": [
    %s,
    %s,
    %s,
    %s,
    %s
  ]
}`, server, instances, redis, targets, ipBurst, quota, sharedRate,
		route("echo", "/echo/{id}", "/echo/{id}", ""),
		route("per-ip", "/ip/{id}", "/catalog/{id}", `"per-ip"`),
		route("quota", "/quota/{id}", "/catalog/{id}", `"quota"`),
		route("shared", "/shared/{id}", "/catalog/{id}", `"shared"`),
		route("plain", "/plain/{id}", "/catalog/{id}", "")))
}

func (f *Fleet) instanceConfig(in *instance) []byte {
	pp := ""
	if f.Feat.ProxyProtocol {
		pp = "required"
	}
	return sluiceConfig(in.listen, in.admin, f.redisAddr, in.name, f.upstreams, f.opts.Instances, f.opts.Quota, f.opts.DrainDelay, pp, f.Feat.ReusePort)
}

// startInstance starts instance i and waits for its /readyz.
func (f *Fleet) startInstance(ctx context.Context, i int) error {
	in := f.inst[i]
	c, err := f.procs.Start(in.name, f.opts.Sluice, "run", "-c", in.config)
	if err != nil {
		return err
	}
	in.proc = c
	return waitReady(ctx, c, in.admin, 15*time.Second)
}

// waitReady polls http://admin/readyz until 200, c's exit, or timeout.
func waitReady(ctx context.Context, c *procs.Child, admin string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		code, err := httpStatus("http://" + admin + "/readyz")
		if code == http.StatusOK {
			return nil
		}
		last = fmt.Sprint(code, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.Done():
			return fmt.Errorf("%s exited before it was ready: %s", c.Label, logTail(c))
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after %v (%s): %s", c.Label, timeout, last, logTail(c))
}

var adminClient = &http.Client{Timeout: 2 * time.Second}

func httpStatus(url string) (int, error) {
	resp, err := adminClient.Get(url)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func httpBody(url string) ([]byte, error) {
	resp, err := adminClient.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 4<<20))
}

// haproxyConfig is the balancer of the fleet: frontends All, Source and one
// per instance, every server with send-proxy-v2 (when the binary reads PROXY
// headers) and an HTTP check of the instance's /readyz on its admin port.
func (f *Fleet) haproxyConfig() string {
	send := ""
	if f.Feat.ProxyProtocol {
		send = " send-proxy-v2"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn 4000
    nbthread 1

defaults
    mode tcp
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout check 500ms
    retries 2
    option redispatch 1

listen stats
    mode http
    bind %s
    stats enable
    stats uri /stats

frontend all
    bind %s
    default_backend all

backend all
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz
    http-check expect status 200
`, f.stats, f.All)
	for _, in := range f.inst {
		_, aport, _ := net.SplitHostPort(in.admin)
		fmt.Fprintf(&b, "    server %s %s%s check port %s inter %dms fall %d rise %d\n", in.name, in.listen, send, aport, checkInter.Milliseconds(), checkFall, checkRise)
	}
	fmt.Fprintf(&b, "\nfrontend source\n    bind %s\n    default_backend source\n\nbackend source\n    balance source\n", f.Source)
	for _, in := range f.inst {
		fmt.Fprintf(&b, "    server %s %s%s track all/%s\n", in.name, in.listen, send, in.name)
	}
	for i, in := range f.inst {
		fmt.Fprintf(&b, "\nfrontend direct-%d\n    bind %s\n    default_backend direct-%d\n\nbackend direct-%d\n    server %s %s%s track all/%s\n",
			i+1, f.Direct[i], i+1, i+1, in.name, in.listen, send, in.name)
	}
	return b.String()
}

func (f *Fleet) startHAProxy(ctx context.Context) error {
	var err error
	if f.All, err = procs.FreeAddr(); err != nil {
		return err
	}
	if f.Source, err = procs.FreeAddr(); err != nil {
		return err
	}
	if f.stats, err = procs.FreeAddr(); err != nil {
		return err
	}
	f.Direct = make([]string, len(f.inst))
	for i := range f.inst {
		if f.Direct[i], err = procs.FreeAddr(); err != nil {
			return err
		}
	}
	cfg := filepath.Join(f.opts.Dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(f.haproxyConfig()), 0o644); err != nil {
		return fmt.Errorf("write haproxy config: %w", err)
	}
	c, err := f.procs.Start("haproxy", f.opts.HAProxy, "-db", "-f", cfg)
	if err != nil {
		return err
	}
	f.haproxy = c
	if err := waitTCP(ctx, c, f.All, 10*time.Second); err != nil {
		return err
	}
	for i := range f.inst {
		if err := f.waitBalancer(ctx, i, true, 10*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// serverStates reads HAProxy's view of backend "all": instance name → status
// ("UP", "DOWN", "UP 1/2", ...).
func (f *Fleet) serverStates() (map[string]string, error) {
	body, err := httpBody("http://" + f.stats + "/stats;csv")
	if err != nil {
		return nil, fmt.Errorf("haproxy stats: %w", err)
	}
	states := map[string]string{}
	statusCol := -1
	for i, line := range strings.Split(string(body), "\n") {
		cols := strings.Split(line, ",")
		if i == 0 {
			for j, c := range cols {
				if c == "status" {
					statusCol = j
				}
			}
			continue
		}
		if len(cols) > statusCol && statusCol >= 0 && cols[0] == "all" {
			states[cols[1]] = cols[statusCol]
		}
	}
	if statusCol < 0 {
		return nil, fmt.Errorf("haproxy stats: no status column")
	}
	return states, nil
}

// waitBalancer waits until HAProxy sees instance i up (or down), bounded by
// timeout, and returns how long it took.
func (f *Fleet) waitBalancer(ctx context.Context, i int, up bool, timeout time.Duration) error {
	_, err := f.timeBalancer(ctx, i, up, timeout)
	return err
}

func (f *Fleet) timeBalancer(ctx context.Context, i int, up bool, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	want := "DOWN"
	if up {
		want = "UP"
	}
	last := ""
	for time.Since(start) < timeout {
		states, err := f.serverStates()
		if err == nil {
			last = states[f.inst[i].name]
			if last == want {
				return time.Since(start), nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return 0, fmt.Errorf("haproxy: %s is %q after %v, want %s", f.inst[i].name, last, timeout, want)
}

// restart stops instance i with SIGTERM (it drains), waits for its exit,
// starts it again and waits until it is ready and HAProxy sends to it.
func (f *Fleet) restart(ctx context.Context, i int) error {
	in := f.inst[i]
	f.procs.Forget(in.proc)
	in.proc.Signal(syscall.SIGTERM)
	code, ok := in.proc.Wait(f.opts.DrainDelay + 10*time.Second)
	if !ok {
		f.procs.Kill(in.proc)
		return fmt.Errorf("%s did not exit after SIGTERM", in.name)
	}
	if code != 0 {
		return fmt.Errorf("%s exited %d after SIGTERM: %s", in.name, code, logTail(in.proc))
	}
	if err := f.startInstance(ctx, i); err != nil {
		return err
	}
	return f.waitBalancer(ctx, i, true, 10*time.Second)
}

// handover replaces instance i in place: a new process with the same config
// (same client and admin addresses, reuse_port), ready before the old one
// gets SIGTERM and drains. With reuse_port the newest process answers the
// shared admin address, so HAProxy's /readyz checks follow the new one.
func (f *Fleet) handover(ctx context.Context, i int, gen int) error {
	in := f.inst[i]
	c, err := f.procs.Start(fmt.Sprintf("%s-gen%d", in.name, gen), f.opts.Sluice, "run", "-c", in.config)
	if err != nil {
		return err
	}
	// Until the new process has bound, the old one answers /readyz: wait
	// for the new one's "serving" log line first.
	deadline := time.Now().Add(15 * time.Second)
	for {
		data, _ := os.ReadFile(c.Log)
		if strings.Contains(string(data), `"msg":"sluice serving"`) {
			break
		}
		if c.Exited() || time.Now().After(deadline) {
			return fmt.Errorf("%s: the new process did not start serving: %s", in.name, logTail(c))
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	if err := waitReady(ctx, c, in.admin, 15*time.Second); err != nil {
		return err
	}
	old := in.proc
	in.proc = c
	f.procs.Forget(old)
	old.Signal(syscall.SIGTERM)
	code, ok := old.Wait(f.opts.DrainDelay + 10*time.Second)
	if !ok {
		f.procs.Kill(old)
		return fmt.Errorf("%s: the old process did not exit after SIGTERM", in.name)
	}
	if code != 0 {
		return fmt.Errorf("%s: the old process exited %d after SIGTERM: %s", in.name, code, logTail(old))
	}
	return nil
}

// redisFallback reads sluice_ratelimit_redis_fallback (1 while an instance
// has fallen back to its split of cluster quotas) from every instance.
func (f *Fleet) redisFallback() ([]int, error) {
	out := make([]int, len(f.inst))
	for i, in := range f.inst {
		body, err := httpBody("http://" + in.admin + "/metrics")
		if err != nil {
			return nil, err
		}
		v, ok := metricValue(body, "sluice_ratelimit_redis_fallback")
		if !ok {
			return nil, fmt.Errorf("%s: no sluice_ratelimit_redis_fallback metric", in.name)
		}
		out[i] = int(v)
	}
	return out, nil
}

// metricValue finds an unlabelled sample of name in Prometheus text.
func metricValue(body []byte, name string) (float64, bool) {
	for _, line := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(line, name+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		return v, err == nil
	}
	return 0, false
}
