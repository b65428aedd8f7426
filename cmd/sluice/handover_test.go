package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// sluiceProc is a running `sluice run` process.
type sluiceProc struct {
	cmd    *exec.Cmd
	admin  string
	stderr *bytes.Buffer
	done   chan struct{} // closed when the process has exited
	err    error         // its exit status, once done
}

func startSluice(t *testing.T, bin, cfg, admin string) *sluiceProc {
	t.Helper()
	p := &sluiceProc{cmd: exec.Command(bin, "run", "-c", cfg), admin: admin, stderr: new(bytes.Buffer), done: make(chan struct{})}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("sluice exited before ready: %v\n%s", p.err, p.stderr.String())
		default:
		}
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				// With reuse_port the admin address is shared too: the
				// newest process answers it while it runs.
				select {
				case <-p.done:
					t.Fatalf("sluice exited: %v\n%s", p.err, p.stderr.String())
				default:
				}
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("sluice never ready: %s", p.stderr.String())
	return nil
}

// stop sends SIGTERM and waits for a clean exit.
func (p *sluiceProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", p.err, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("did not exit after SIGTERM")
	}
}

// loadStats counts a load run's outcomes.
type loadStats struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
}

func (s *loadStats) fail(format string, args ...any) {
	s.failed.Add(1)
	s.mu.Lock()
	if len(s.errs) < 10 {
		s.errs = append(s.errs, fmt.Sprintf(format, args...))
	}
	s.mu.Unlock()
}

// nonRetryingClient sends POSTs (never silently re-sent) over raw HTTP/1.1
// until stop closes. With keepAlive it reuses its connection until an answer
// says Connection: close, else it dials for every request. Every dial,
// write or read error and every status other than 200 is a failure: nothing
// is retried.
// A non-empty proxyHeader is written first on every connection, as a
// balancer with PROXY protocol does.
func nonRetryingClient(addr string, keepAlive bool, proxyHeader string, stop <-chan struct{}, st *loadStats) {
	var c net.Conn
	var br *bufio.Reader
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for i := 0; i < 100000; i++ {
		select {
		case <-stop:
			return
		default:
		}
		if c == nil {
			var err error
			c, err = net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				st.fail("dial: %v", err)
				c = nil
				time.Sleep(10 * time.Millisecond)
				continue
			}
			br = bufio.NewReader(c)
			if proxyHeader != "" {
				if _, err := io.WriteString(c, proxyHeader); err != nil {
					st.fail("write header: %v", err)
					c.Close()
					c = nil
					continue
				}
			}
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		conn := "keep-alive"
		if !keepAlive {
			conn = "close"
		}
		req := "POST /work HTTP/1.1\r\nHost: gw\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: " + conn + "\r\n\r\nhello"
		if _, err := io.WriteString(c, req); err != nil {
			st.fail("write (request %d on conn): %v", i, err)
			c.Close()
			c = nil
			continue
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			st.fail("read: %v", err)
			c.Close()
			c = nil
			continue
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			st.fail("body: %v", err)
		case resp.StatusCode != 200:
			st.fail("status %d", resp.StatusCode)
		case resp.Header.Get("X-Seen-Client") != wantClient(proxyHeader):
			st.fail("client address %q, want %q", resp.Header.Get("X-Seen-Client"), wantClient(proxyHeader))
		default:
			st.ok.Add(1)
		}
		if err != nil || resp.Close || !keepAlive {
			c.Close()
			c = nil
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// wantClient is the client address the upstream must see.
func wantClient(proxyHeader string) string {
	if proxyHeader == "" {
		return "127.0.0.1"
	}
	return strings.Fields(proxyHeader)[2]
}

// TestHandoverUnderLoad replaces a running sluice twice (start the new one
// beside it with reuse_port, wait for its /readyz, SIGTERM the old one)
// under continuous load from non-retrying clients, keep-alive and new
// connections alike, half of them through a PROXY protocol header: not one
// request may fail.
func TestHandoverUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs processes")
	}
	bin := filepath.Join(t.TempDir(), "sluice")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Seen-Client", r.Header.Get("X-Forwarded-For"))
		w.Write([]byte("done"))
	}))
	defer up.Close()

	// One config for every generation, as in production: the client and
	// admin addresses are both shared through SO_REUSEPORT.
	listen, admin := freePort(t), freePort(t)
	cfg := writeConfig(t, fmt.Sprintf(`{
  "server": {"listen": %q, "admin_listen": %q, "access_log": "off", "reuse_port": true,
             "proxy_protocol": "optional", "trusted_proxies": ["127.0.0.1/32"],
             "drain_delay": "1s", "shutdown_timeout": "10s"},
  "services": {"up": {"targets": [%q]}},
  "routes": [{"name": "work", "path": "/work", "methods": ["POST"], "service": "up"}]
}`, listen, admin, strings.TrimPrefix(up.URL, "http://")))
	old := startSluice(t, bin, cfg, admin)

	var st loadStats
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			header := ""
			if i%4 < 2 {
				header = fmt.Sprintf("PROXY TCP4 198.51.100.%d 127.0.0.1 40000 80\r\n", i+1)
			}
			nonRetryingClient(listen, i%2 == 0, header, stop, &st)
		}()
	}
	time.Sleep(500 * time.Millisecond)
	for gen := 1; gen <= 2; gen++ {
		next := startSluice(t, bin, cfg, admin)
		time.Sleep(300 * time.Millisecond)
		before := st.ok.Load()
		old.stop(t)
		time.Sleep(500 * time.Millisecond)
		if st.ok.Load() == before {
			t.Fatalf("handover %d: no request served after the old process left", gen)
		}
		old = next
	}
	close(stop)
	wg.Wait()
	old.stop(t)
	t.Logf("requests: %d ok, %d failed", st.ok.Load(), st.failed.Load())
	if st.ok.Load() < 200 {
		t.Errorf("only %d requests served: the load did not run", st.ok.Load())
	}
	if n := st.failed.Load(); n > 0 {
		t.Errorf("%d requests failed across the handovers; first: %s", n, strings.Join(st.errs, "; "))
	}
}
