package tlsconf

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/fielderr"
)

// tlsServer is a real TLS listener on 127.0.0.1 that completes the handshake,
// writes "ok" and closes each connection, reporting each handshake's outcome.
type tlsServer struct {
	addr    string
	results chan error
}

func startTLSServer(t *testing.T, tc *tls.Config) *tlsServer {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tc)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &tlsServer{addr: ln.Addr().String(), results: make(chan error, 64)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				err := c.(*tls.Conn).Handshake()
				if err == nil {
					_, err = c.Write([]byte("ok"))
				}
				select {
				case s.results <- err:
				default:
				}
			}()
		}
	}()
	return s
}

// serverResult waits for the outcome of the next server-side handshake.
func (s *tlsServer) serverResult(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.results:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("no server-side handshake result")
		return nil
	}
}

// dial connects with cc and reads the server's "ok". With TLS 1.3 a rejected
// client certificate only surfaces on the first read, so both count.
func dial(addr string, cc *tls.Config) (tls.ConnectionState, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cc)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil {
		return c.ConnectionState(), err
	}
	if string(buf) != "ok" {
		return c.ConnectionState(), errors.New("unexpected payload " + string(buf))
	}
	return c.ConnectionState(), nil
}

// mustServer builds a server config and fails the test on config errors.
func mustServer(t *testing.T, cfg *ServerOptions) *tls.Config {
	t.Helper()
	tc, err := Server(cfg)
	if err != nil {
		t.Fatalf("Server: %v", err)
	}
	return tc
}

// hasError reports whether err is a fielderr.List with an entry at path whose
// message contains frag.
func hasError(err error, path, frag string) bool {
	var errs fielderr.List
	if !errors.As(err, &errs) {
		return false
	}
	for _, e := range errs {
		if e.Path == path && strings.Contains(e.Msg, frag) {
			return true
		}
	}
	return false
}
