package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-gw/sluice/bench/internal/procs"
	"github.com/sluice-gw/sluice/bench/loadgen"
	"github.com/valyala/fasthttp"
)

// target is one thing the harness puts load on.
type target struct {
	key   string // short id used in flags and baseline ratios
	title string // name in the report
	kind  string // "direct", "sluice", "nginx" or "haproxy"
	file  string // config file (sluice) or template (peers)
	req   loadgen.Request
	// wantHit asks the probe to check that the second answer is a cache HIT.
	wantHit bool
	// wantHeader, when set, must be on the probe's answer (proof a stage ran).
	wantHeader string
	// needs, when set, is a request header without which the target must
	// answer 401 (proof that auth is enforced, not just configured).
	needs string
	// serviceTime selects the upstream that spends 1 ms on every answer, as a
	// real service does: the baseline a cache hit has to beat.
	serviceTime bool
	// limited is a status that counts as an answer (429 where the rate
	// limit is meant to engage for some clients).
	limited int
	// accessLog: the target writes its access log to DIR/access.log.
	accessLog bool
}

// catalogReq is the request every proxy scenario sends: the same route for
// the upstream, sluice and the peers.
var catalogReq = loadgen.Request{Method: "GET", Path: "/catalog/sku-42"}

// allTargets lists every target in report order. pipe is the realistic
// pipeline's token rotation (pipelineRotation); its second value serves
// the probe.
func allTargets(configs, peers string, pipe *loadgen.Rotation) []target {
	pipeReq := catalogReq
	pipeReq.Headers = [][2]string{{"Authorization", pipe.Values[1]}, {"X-Client", "bench"}}
	pipeReq.Rotate = pipe
	return []target{
		{key: "direct", title: "upstream direct", kind: "direct", req: catalogReq},
		{key: "direct-1ms", title: "upstream direct, 1 ms service time", kind: "direct", req: catalogReq, serviceTime: true},
		{key: "nginx", title: "nginx (peer)", kind: "nginx", file: filepath.Join(peers, "nginx.conf.tmpl"), req: catalogReq},
		{key: "haproxy", title: "haproxy (peer)", kind: "haproxy", file: filepath.Join(peers, "haproxy.cfg.tmpl"), req: catalogReq},
		{key: "plain", title: "sluice plain proxy", kind: "sluice", file: filepath.Join(configs, "plain.json"), req: catalogReq},
		{key: "pipelined", title: "sluice plain proxy, pipelined upstream (opt-in `pipelining`: 2)", kind: "sluice",
			file: filepath.Join(configs, "pipelined.json"), req: catalogReq},
		{key: "pipeline", title: "sluice full pipeline (10k JWTs, per-client limits, access log)", kind: "sluice",
			file: filepath.Join(configs, "pipeline.json"), req: pipeReq,
			wantHeader: "RateLimit-Limit", needs: "Authorization", limited: 429, accessLog: true},
		{key: "cache", title: "sluice cache hit", kind: "sluice", file: filepath.Join(configs, "cache.json"), req: catalogReq, wantHit: true},
		{key: "aggregate", title: "sluice aggregate of three", kind: "sluice", file: filepath.Join(configs, "aggregate.json"),
			req: loadgen.Request{Method: "GET", Path: "/home/u1"}},
	}
}

// skipError marks a target that cannot run here (not installed, rejected
// config, feature not answering yet): reported as skipped, not failed.
type skipError struct{ why string }

func (e *skipError) Error() string { return e.why }

func skipf(format string, args ...any) error { return &skipError{fmt.Sprintf(format, args...)} }

// render fills the {{NAME}} placeholders of a config template.
func render(tmpl []byte, vars map[string]string) []byte {
	out := tmpl
	for k, v := range vars {
		out = bytes.ReplaceAll(out, []byte("{{"+k+"}}"), []byte(v))
	}
	return out
}

// launched is a running target.
type launched struct {
	addr  string
	admin string       // sluice's admin listener ("" for others)
	dir   string       // the target's temporary directory (configs, logs)
	proc  *procs.Child // nil for the upstream itself (owned by the session)
}

// launch starts t and waits until it is ready and answers its request.
func (s *session) launch(ctx context.Context, t target) (*launched, error) {
	if t.kind == "direct" {
		addr := s.upstream
		if t.serviceTime {
			addr = s.serviceUpstream
		}
		return &launched{addr: addr}, s.probe(t, addr)
	}
	listen, err := procs.FreeAddr()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(s.tmp, t.key+"-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	tmpl, err := os.ReadFile(t.file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.file, err)
	}
	vars := map[string]string{"UPSTREAM": s.upstream, "LISTEN": listen, "DIR": dir}
	var c *procs.Child
	readyAddr, readyPath := listen, "/healthz"
	switch t.kind {
	case "sluice":
		if _, err := os.Stat(s.sluiceBin); err != nil {
			return nil, skipf("no sluice binary at %s (build it: go build -o bin/sluice ./cmd/sluice)", s.sluiceBin)
		}
		admin, err := procs.FreeAddr()
		if err != nil {
			return nil, err
		}
		vars["ADMIN"] = admin
		cfg := filepath.Join(dir, "sluice.json")
		if err := os.WriteFile(cfg, render(tmpl, vars), 0o644); err != nil {
			return nil, fmt.Errorf("write config: %w", err)
		}
		if err := sluiceCheck(ctx, s.sluiceBin, cfg); err != nil {
			return nil, err
		}
		c, err = s.procs.Start("sluice-"+t.key, s.sluiceBin, "run", "-c", cfg)
		if err != nil {
			return nil, err
		}
		readyAddr, readyPath = admin, "/readyz"
	case "nginx":
		bin, err := exec.LookPath("nginx")
		if err != nil {
			return nil, skipf("nginx not installed (bench/peers/install.sh)")
		}
		cfg := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(cfg, render(tmpl, vars), 0o644); err != nil {
			return nil, fmt.Errorf("write config: %w", err)
		}
		c, err = s.procs.Start("nginx", bin, "-p", dir, "-c", cfg, "-e", filepath.Join(dir, "nginx-error.log"))
		if err != nil {
			return nil, err
		}
	case "haproxy":
		bin, err := exec.LookPath("haproxy")
		if err != nil {
			return nil, skipf("haproxy not installed (bench/peers/install.sh)")
		}
		cfg := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(cfg, render(tmpl, vars), 0o644); err != nil {
			return nil, fmt.Errorf("write config: %w", err)
		}
		c, err = s.procs.Start("haproxy", bin, "-db", "-f", cfg)
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown target kind %q", t.kind)
	}
	l := &launched{addr: listen, admin: vars["ADMIN"], dir: dir, proc: c}
	if err := waitHTTP(ctx, c, readyAddr, readyPath, 15*time.Second); err != nil {
		s.procs.Stop(c, stopGrace)
		return nil, fmt.Errorf("%s: %w", t.title, err)
	}
	if err := s.probe(t, listen); err != nil {
		s.procs.Stop(c, stopGrace)
		return nil, err
	}
	return l, nil
}

// sluiceCheck runs `sluice check -c cfg`; a rejected config skips the scenario.
func sluiceCheck(ctx context.Context, bin, cfg string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "check", "-c", cfg).CombinedOutput()
	if err == nil {
		return nil
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 2 {
		return skipf("sluice check rejects the config: %s", oneLine(out))
	}
	return fmt.Errorf("sluice check: %v: %s", err, oneLine(out))
}

// probe sends the target's request once (twice for a cache) and wants 200:
// a feature that is not answering yet skips the scenario instead of
// benchmarking error pages.
func (s *session) probe(t target, addr string) error {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	tries := 1
	if t.wantHit {
		tries = 2
	}
	for i := 0; i < tries; i++ {
		req.Reset()
		req.Header.SetMethod(t.req.Method)
		req.SetRequestURI("http://" + addr + t.req.Path)
		for _, kv := range t.req.Headers {
			req.Header.Set(kv[0], kv[1])
		}
		if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil {
			return skipf("probe %s: %v", t.req.Path, err)
		}
		if resp.StatusCode() != 200 {
			return skipf("probe %s: status %d: %s", t.req.Path, resp.StatusCode(), oneLine(resp.Body()))
		}
	}
	if t.wantHit {
		if xc := string(resp.Header.Peek("X-Cache")); xc != "HIT" {
			return skipf("probe %s: second answer has X-Cache %q, want HIT", t.req.Path, xc)
		}
	}
	if t.wantHeader != "" && len(resp.Header.Peek(t.wantHeader)) == 0 {
		return skipf("probe %s: answer lacks %s", t.req.Path, t.wantHeader)
	}
	if t.needs != "" {
		req.Header.Del(t.needs)
		if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil {
			return skipf("probe %s without %s: %v", t.req.Path, t.needs, err)
		}
		if resp.StatusCode() != 401 {
			return skipf("probe %s without %s: status %d, want 401", t.req.Path, t.needs, resp.StatusCode())
		}
	}
	return nil
}

// oneLine squeezes process output into one short line for the report.
func oneLine(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
