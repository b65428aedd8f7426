package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// procs starts child processes and makes sure every one of them is gone when
// the harness exits: each child runs in its own process group (so nginx
// workers go too), dies with the harness (Pdeathsig), and killAll runs on
// normal exit and on SIGINT/SIGTERM.
type procs struct {
	pin    bool   // run children under `taskset -c <proxyCore>`
	logDir string // where children's stdout/stderr go

	mu   sync.Mutex
	live map[*child]bool
}

// child is one started process; done closes when it has exited.
type child struct {
	label string
	log   string // path of its output
	cmd   *exec.Cmd
	done  chan struct{}
}

func newProcs(pin bool, logDir string) *procs {
	return &procs{pin: pin, logDir: logDir, live: make(map[*child]bool)}
}

// start runs name with args, output in logDir/<label>.log.
func (p *procs) start(label, name string, args ...string) (*child, error) {
	if p.pin {
		args = append([]string{"-c", proxyCore(), name}, args...)
		name = "taskset"
	}
	if err := os.MkdirAll(p.logDir, 0o755); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	logPath := filepath.Join(p.logDir, label+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", label, err)
	}
	c := &child{label: label, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	p.mu.Lock()
	p.live[c] = true
	p.mu.Unlock()
	return c, nil
}

// stop sends SIGTERM to the child's process group, then SIGKILL after 3s.
func (p *procs) stop(c *child) {
	if c == nil {
		return
	}
	p.mu.Lock()
	ok := p.live[c]
	delete(p.live, c)
	p.mu.Unlock()
	if !ok {
		return
	}
	pgid := c.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-c.done
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // stragglers in the group
}

// killAll stops every child still running.
func (p *procs) killAll() {
	p.mu.Lock()
	cs := make([]*child, 0, len(p.live))
	for c := range p.live {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop(c) }()
	}
	wg.Wait()
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitHTTP polls http://addr+path until it answers 200, the child exits, or timeout.
func waitHTTP(ctx context.Context, c *child, addr, path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		status, _, err := fasthttp.GetTimeout(nil, "http://"+addr+path, time.Second)
		if err == nil && status == 200 {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("status %d", status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return fmt.Errorf("%s exited before http://%s%s was ready: %s", c.label, addr, path, c.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("http://%s%s not ready after %v: %s", addr, path, timeout, last)
}

// logTail returns the last lines of the child's log, on one line.
func (c *child) logTail() string {
	data, _ := os.ReadFile(c.log)
	if len(data) > 600 {
		data = data[len(data)-600:]
	}
	return oneLine(data)
}
