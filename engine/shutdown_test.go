package engine_test

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestGracefulShutdown: /readyz turns 503 at once, the listener keeps serving
// through drain_delay, requests in flight finish, and Shutdown reports clean.
func TestGracefulShutdown(t *testing.T) {
	up := startUpstream(t, "slow")
	up.SetDelay(400 * time.Millisecond)
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0", "access_log": "off",
             "drain_delay": "300ms", "shutdown_timeout": "5s"},
  "services": {"slow": {"targets": [%q], "timeout": "3s"}},
  "routes": [{"name": "slow", "path": "/slow", "service": "slow"}]
}`, up.addr))
	if r := get(t, g.admin+"/readyz"); r.status != 200 {
		t.Fatalf("readyz before shutdown: %d", r.status)
	}

	// Requests in flight when shutdown starts.
	var wg sync.WaitGroup
	statuses := make([]int, 5)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(g.url + "/slow")
			if err != nil {
				t.Errorf("in-flight request %d: %v", i, err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	time.Sleep(100 * time.Millisecond)
	done := make(chan bool)
	go func() { done <- g.server.Shutdown() }()
	time.Sleep(50 * time.Millisecond)
	if r := get(t, g.admin+"/readyz"); r.status != 503 {
		t.Errorf("readyz while draining: %d, want 503", r.status)
	}
	// New connections are still served during drain_delay.
	if r := get(t, g.url+"/slow"); r.status != 200 {
		t.Errorf("request during drain_delay: %d", r.status)
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Errorf("in-flight request %d: status %d", i, s)
		}
	}
	select {
	case clean := <-done:
		if !clean {
			t.Errorf("shutdown reported requests cut off")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown did not finish")
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(g.url, "http://"), 200*time.Millisecond); err == nil {
		t.Errorf("listener still accepting after shutdown")
	}
}

// TestShutdownClosesBusyKeepAlive: a keep-alive connection busy when the
// listener closes gets Connection: close on its last answer.
func TestShutdownClosesBusyKeepAlive(t *testing.T) {
	up := startUpstream(t, "slow")
	up.SetDelay(300 * time.Millisecond)
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off", "shutdown_timeout": "5s"},
  "services": {"slow": {"targets": [%q]}},
  "routes": [{"name": "slow", "path": "/slow", "service": "slow"}]
}`, up.addr))
	c, err := net.Dial("tcp", hostOf(g.url))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"))
	time.Sleep(100 * time.Millisecond)
	go g.server.Shutdown()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("busy request dropped: %v", err)
	}
	if resp.StatusCode != 200 || !resp.Close {
		t.Errorf("status %d close=%v, want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
}

// TestShutdownTimeoutCutsOff: a request slower than shutdown_timeout makes
// Shutdown report that it cut requests off (the process then exits 1).
func TestShutdownTimeoutCutsOff(t *testing.T) {
	up := startUpstream(t, "slow")
	up.SetDelay(2 * time.Second)
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off", "shutdown_timeout": "200ms"},
  "services": {"slow": {"targets": [%q], "timeout": "5s"}},
  "routes": [{"name": "slow", "path": "/slow", "service": "slow"}]
}`, up.addr))
	go http.Get(g.url + "/slow")
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if clean := g.server.Shutdown(); clean {
		t.Errorf("Shutdown reported clean although a request was still running")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown took %v, want about shutdown_timeout", d)
	}
}
