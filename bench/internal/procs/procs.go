// Package procs starts the child processes of the bench tools (upstreams,
// gateways, Redis, nginx, HAProxy) and makes sure every one is gone when the
// tool stops: each child runs in its own process group (so nginx workers go
// too), dies with its parent (Pdeathsig), and KillAll stops what is left.
package procs

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Options configure a Set.
type Options struct {
	// LogDir receives each child's stdout and stderr as <label>.log.
	LogDir string
	// Append keeps the earlier lines of a label's log when it is started
	// again (a restarted process); otherwise the log is truncated.
	Append bool
	// Wrap, when set, rewrites every command line before it runs (the
	// harness pins children to a core with taskset).
	Wrap func(name string, args []string) (string, []string)
}

// Set is the children started by one tool.
type Set struct {
	opts Options

	mu   sync.Mutex
	live map[*Child]bool
}

// Child is one started process.
type Child struct {
	// Label names the child in logs and errors.
	Label string
	// Log is the path of its output.
	Log string

	cmd  *exec.Cmd
	done chan struct{}
}

// New returns an empty Set.
func New(o Options) *Set {
	return &Set{opts: o, live: make(map[*Child]bool)}
}

// Start runs name with args, its output in LogDir/<label>.log.
func (p *Set) Start(label, name string, args ...string) (*Child, error) {
	if p.opts.Wrap != nil {
		name, args = p.opts.Wrap(name, args)
	}
	if err := os.MkdirAll(p.opts.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	logPath := filepath.Join(p.opts.LogDir, label+".log")
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if p.opts.Append {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	logf, err := os.OpenFile(logPath, flags, 0o644)
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
	c := &Child{Label: label, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(c.done) }()
	p.mu.Lock()
	p.live[c] = true
	p.mu.Unlock()
	return c, nil
}

// Forget drops c from the set, so that KillAll leaves it alone (it exited,
// or its caller ends it on purpose). It reports whether c was in the set.
func (p *Set) Forget(c *Child) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ok := p.live[c]
	delete(p.live, c)
	return ok
}

// Stop sends SIGTERM to c's process group, SIGKILL after grace, and waits
// for c. A nil c, or one already stopped or forgotten, is left alone.
func (p *Set) Stop(c *Child, grace time.Duration) {
	if c == nil || !p.Forget(c) {
		return
	}
	c.Signal(syscall.SIGTERM)
	if _, ok := c.Wait(grace); !ok {
		c.Signal(syscall.SIGKILL)
		<-c.done
	}
	c.Signal(syscall.SIGKILL) // stragglers in the group
}

// Kill sends SIGKILL to c's process group and waits for c.
func (p *Set) Kill(c *Child) {
	p.Forget(c)
	c.Signal(syscall.SIGKILL)
	<-c.done
}

// KillAll stops every child still in the set, in parallel, each with a
// grace of 3 s.
func (p *Set) KillAll() {
	p.mu.Lock()
	cs := make([]*Child, 0, len(p.live))
	for c := range p.live {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Forgotten meanwhile by another Stop: that one finishes it.
			p.Stop(c, 3*time.Second)
		}()
	}
	wg.Wait()
}

// Pid is the child's process id, which is also its process group id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Signal sends sig to c's process group.
func (c *Child) Signal(sig syscall.Signal) { _ = syscall.Kill(-c.cmd.Process.Pid, sig) }

// Done is closed when c has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// Exited reports whether c has exited.
func (c *Child) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Wait waits up to timeout for c to exit and returns its exit code (-1 when
// it died of a signal); ok is false when it did not exit in time.
func (c *Child) Wait(timeout time.Duration) (code int, ok bool) {
	select {
	case <-c.done:
		return c.cmd.ProcessState.ExitCode(), true
	case <-time.After(timeout):
		return -1, false
	}
}

// Tail returns the last n bytes (at most) of c's log.
func (c *Child) Tail(n int) []byte {
	data, _ := os.ReadFile(c.Log)
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return data
}

// FreeAddr returns a loopback address whose port was free a moment ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
