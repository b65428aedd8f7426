package fleet

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procs starts child processes and makes sure every one is gone when the
// fleet stops: each child runs in its own process group, dies with the
// harness (Pdeathsig) and is stopped by killAll.
type procs struct {
	logDir string

	mu   sync.Mutex
	live map[*child]bool
}

// child is one started process; done closes when it has exited.
type child struct {
	label string
	log   string
	cmd   *exec.Cmd
	done  chan struct{}
}

func newProcs(logDir string) *procs {
	return &procs{logDir: logDir, live: make(map[*child]bool)}
}

// start runs name with args; output goes to logDir/<label>.log (appended, so a
// restarted process keeps its predecessor's lines).
func (p *procs) start(label, name string, args ...string) (*child, error) {
	logPath := filepath.Join(p.logDir, label+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
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

// forget drops c from the live set (it exited or was killed on purpose).
func (p *procs) forget(c *child) {
	p.mu.Lock()
	delete(p.live, c)
	p.mu.Unlock()
}

// signal sends sig to c's process group.
func (c *child) signal(sig syscall.Signal) { _ = syscall.Kill(-c.cmd.Process.Pid, sig) }

// exited reports whether c has exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// wait waits up to timeout for c to exit and returns its exit code (-1 when
// it did not exit or died of a signal).
func (c *child) wait(timeout time.Duration) (int, bool) {
	select {
	case <-c.done:
		return c.cmd.ProcessState.ExitCode(), true
	case <-time.After(timeout):
		return -1, false
	}
}

// stop sends SIGTERM to c's process group, SIGKILL after grace.
func (p *procs) stop(c *child, grace time.Duration) {
	if c == nil {
		return
	}
	p.forget(c)
	c.signal(syscall.SIGTERM)
	if _, ok := c.wait(grace); !ok {
		c.signal(syscall.SIGKILL)
		<-c.done
	}
	c.signal(syscall.SIGKILL) // stragglers in the group
}

// kill sends SIGKILL to c's process group and waits for it.
func (p *procs) kill(c *child) {
	p.forget(c)
	c.signal(syscall.SIGKILL)
	<-c.done
}

// killAll stops every child still running, in parallel.
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
		go func() { defer wg.Done(); p.stop(c, 3*time.Second) }()
	}
	wg.Wait()
}

// logTail returns the end of c's log on one line, for error messages.
func (c *child) logTail() string {
	data, _ := os.ReadFile(c.log)
	if len(data) > 800 {
		data = data[len(data)-800:]
	}
	return strings.Join(strings.Fields(string(data)), " ")
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitTCP waits until addr accepts connections, c exits, or timeout.
func waitTCP(ctx context.Context, c *child, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return fmt.Errorf("%s exited before listening on %s: %s", c.label, addr, c.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s: %s not listening after %v: %s", c.label, addr, timeout, c.logTail())
}
