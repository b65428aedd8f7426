package fleet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-gw/sluice/bench/internal/procs"
	"github.com/valyala/fasthttp"
)

// Features are the fleet features the sluice binary has, found by trying
// them on a scratch instance (a key the binary does not implement may be
// refused or silently ignored, so the probe looks at behaviour, not at
// `sluice check`).
type Features struct {
	// ProxyProtocol: a PROXY header's source address becomes the client
	// address (server.proxy_protocol).
	ProxyProtocol bool
	// ReusePort: a second process binds the same listen address
	// (server.reuse_port).
	ReusePort bool
	// DrainClose: once draining starts, answers on keep-alive connections
	// carry Connection: close.
	DrainClose bool
	// FairQuota: cluster quotas shared in proportion to each instance's
	// demand. It cannot be seen without measuring it, so the probe looks for
	// the work it ships with: `sluice check` accepts cluster.redis.addrs
	// (Redis Sentinel/Cluster).
	FairQuota bool
	// Notes says why a feature was found missing.
	Notes []string
}

func (ft Features) String() string {
	yn := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	return fmt.Sprintf("proxy_protocol=%s reuse_port=%s drain Connection: close=%s fair cluster quotas=%s",
		yn(ft.ProxyProtocol), yn(ft.ReusePort), yn(ft.DrainClose), yn(ft.FairQuota))
}

// Missing says why the features whose notes start with prefix were found
// missing, for skip messages; with prefix "" every note.
func (ft Features) Missing(prefix string) string {
	var out []string
	for _, n := range ft.Notes {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return strings.Join(out, "; ")
}

// probeSource is the client address the probe sends in its PROXY header.
const probeSource = "10.9.8.7"

// probe starts a scratch sluice (and a second one beside it on the same
// address) to find which features the binary has.
func probe(ctx context.Context, f *Fleet) (Features, error) {
	var ft Features
	listen, err := procs.FreeAddr()
	if err != nil {
		return ft, err
	}
	if err := probeRedisHA(f, &ft); err != nil {
		return ft, err
	}
	var admins, cfgs [2]string
	writeCfg := func(i int, reusePort bool) error {
		name := fmt.Sprintf("probe-%d", i+1)
		cfgs[i] = filepath.Join(f.opts.Dir, name+".json")
		// Redis is given but nothing uses a cluster quota here.
		data := sluiceConfig(listen, admins[i], f.redisAddr, name, f.upstreams, 1, 100, 2*time.Second, "optional", reusePort)
		if err := os.WriteFile(cfgs[i], data, 0o644); err != nil {
			return fmt.Errorf("write probe config: %w", err)
		}
		return nil
	}
	for i := range admins {
		if admins[i], err = procs.FreeAddr(); err != nil {
			return ft, err
		}
		if err := writeCfg(i, true); err != nil {
			return ft, err
		}
	}
	c1, err := f.procs.Start("probe-1", f.opts.Sluice, "run", "-c", cfgs[0])
	if err != nil {
		return ft, err
	}
	reuseBroken := false
	if err := waitReady(ctx, c1, admins[0], 15*time.Second); err != nil {
		f.procs.Stop(c1, 5*time.Second)
		// reuse_port itself may fail on this kernel: try without it.
		reuseBroken = true
		ft.Notes = append(ft.Notes, "server.reuse_port: true does not start here ("+logTail(c1)+")")
		if err := writeCfg(0, false); err != nil {
			return ft, err
		}
		if c1, err = f.procs.Start("probe-1", f.opts.Sluice, "run", "-c", cfgs[0]); err != nil {
			return ft, err
		}
		if err := waitReady(ctx, c1, admins[0], 15*time.Second); err != nil {
			return ft, fmt.Errorf("probe instance: %w", err)
		}
	}
	defer f.procs.Stop(c1, 5*time.Second)

	// PROXY protocol: the upstream must see probeSource in X-Forwarded-For.
	xff, err := proxiedXFF(listen)
	switch {
	case err != nil:
		ft.Notes = append(ft.Notes, fmt.Sprintf("server.proxy_protocol not implemented (a request after a PROXY v1 header failed: %v)", err))
	case !strings.Contains(xff, probeSource):
		ft.Notes = append(ft.Notes, fmt.Sprintf("server.proxy_protocol not implemented (PROXY source %s not the client address, X-Forwarded-For %q)", probeSource, xff))
	default:
		ft.ProxyProtocol = true
	}

	// A keep-alive connection opened before the drain, for DrainClose.
	ka := newClient(listen, nil)
	defer ka.close()
	if r, err := ka.get("/plain/probe", false); err != nil || r.status != 200 || r.closed {
		return ft, fmt.Errorf("probe instance: keep-alive request: %v %+v", err, r)
	}

	// reuse_port: a second instance on the same listen address gets ready.
	if !reuseBroken {
		c2, err := f.procs.Start("probe-2", f.opts.Sluice, "run", "-c", cfgs[1])
		if err != nil {
			return ft, err
		}
		if err := waitReady(ctx, c2, admins[1], 15*time.Second); err != nil {
			ft.Notes = append(ft.Notes, "server.reuse_port not implemented (a second instance on the same address did not start: "+logTail(c2)+")")
		} else {
			ft.ReusePort = true
		}
		f.procs.Stop(c2, 5*time.Second)
	}

	// Drain: SIGTERM, wait for /readyz 503, then one more request on the
	// kept connection must say Connection: close.
	c1.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if code, _ := httpStatus("http://" + admins[0] + "/readyz"); code == 503 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	r, err := ka.get("/plain/probe", false)
	switch {
	case err != nil:
		ft.Notes = append(ft.Notes, fmt.Sprintf("drain: a keep-alive request during drain_delay failed: %v", err))
	case !r.closed:
		ft.Notes = append(ft.Notes, "drain: no Connection: close on keep-alive answers while draining")
	default:
		ft.DrainClose = true
	}
	return ft, nil
}

// proxiedXFF sends a PROXY v1 header claiming probeSource, then GET /echo,
// and returns the X-Forwarded-For the upstream received.
func proxiedXFF(listen string) (string, error) {
	conn, err := net.DialTimeout("tcp", listen, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, port, _ := net.SplitHostPort(listen)
	hdr := fmt.Sprintf("PROXY TCP4 %s 127.0.0.1 40000 %s\r\n", probeSource, port)
	if _, err := conn.Write([]byte(hdr + "GET /echo/probe HTTP/1.1\r\nHost: probe\r\n\r\n")); err != nil {
		return "", err
	}
	var resp fasthttp.Response
	if err := resp.Read(bufio.NewReader(conn)); err != nil {
		return "", err
	}
	if resp.StatusCode() != 200 {
		return "", fmt.Errorf("status %d", resp.StatusCode())
	}
	var echo struct {
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(resp.Body(), &echo); err != nil {
		return "", fmt.Errorf("echo body: %w", err)
	}
	return echo.Headers["X-Forwarded-For"], nil
}

// probeRedisHA sets ft.FairQuota when `sluice check` accepts a Redis given by
// cluster.redis.addrs alone.
func probeRedisHA(f *Fleet, ft *Features) error {
	cfg := filepath.Join(f.opts.Dir, "probe-redis-ha.json")
	data := fmt.Sprintf(`{"cluster": {"instances": 3, "redis": {"addrs": [%q]}},
  "services": {"demo": {"targets": [%q]}},
  "rate_limits": {"quota": {"key": "route", "requests": 10, "per": "1s", "scope": "cluster"}},
  "routes": [{"name": "q", "path": "/q", "service": "demo", "rate_limits": ["quota"]}]}`, f.redisAddr, f.upstreams[0])
	if err := os.WriteFile(cfg, []byte(data), 0o644); err != nil {
		return fmt.Errorf("write probe config: %w", err)
	}
	out, err := exec.Command(f.opts.Sluice, "check", "-c", cfg).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		ft.FairQuota = true
	case errors.As(err, &exit):
		ft.Notes = append(ft.Notes, "fair cluster quotas not in this binary (sluice check refuses cluster.redis.addrs: "+strings.TrimSpace(string(out))+")")
	default:
		return fmt.Errorf("sluice check: %w", err)
	}
	return nil
}
