package main

import (
	"context"
	"fmt"
	"time"

	"github.com/sluice-gw/sluice/bench/internal/procs"
	"github.com/valyala/fasthttp"
)

// stopGrace is how long a stopped child has between SIGTERM and SIGKILL.
const stopGrace = 3 * time.Second

// newProcs returns the harness's children, their output in logDir; with pin
// they run under `taskset -c <proxyCore>`. The session stops them all on
// normal exit and on SIGINT/SIGTERM.
func newProcs(pin bool, logDir string) *procs.Set {
	o := procs.Options{LogDir: logDir}
	if pin {
		o.Wrap = func(name string, args []string) (string, []string) {
			return "taskset", append([]string{"-c", proxyCore(), name}, args...)
		}
	}
	return procs.New(o)
}

// waitHTTP polls http://addr+path until it answers 200, the child exits, or timeout.
func waitHTTP(ctx context.Context, c *procs.Child, addr, path string, timeout time.Duration) error {
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
		case <-c.Done():
			return fmt.Errorf("%s exited before http://%s%s was ready: %s", c.Label, addr, path, logTail(c))
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("http://%s%s not ready after %v: %s", addr, path, timeout, last)
}

// logTail returns the last lines of the child's log, on one line.
func logTail(c *procs.Child) string { return oneLine(c.Tail(600)) }
