package fleet

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/sluice-gw/sluice/bench/internal/procs"
)

// logTail returns the end of c's log on one line, for error messages.
func logTail(c *procs.Child) string {
	return strings.Join(strings.Fields(string(c.Tail(800))), " ")
}

// waitTCP waits until addr accepts connections, c exits, or timeout.
func waitTCP(ctx context.Context, c *procs.Child, addr string, timeout time.Duration) error {
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
		case <-c.Done():
			return fmt.Errorf("%s exited before listening on %s: %s", c.Label, addr, logTail(c))
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s: %s not listening after %v: %s", c.Label, addr, timeout, logTail(c))
}
