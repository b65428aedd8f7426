package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer collects a child's stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRedisOutageLog runs the binary with a cluster quota whose Redis is not
// there: requests are answered (200 or 429, never a 5xx) and stderr stays
// JSON, with the Redis client's dial failures written once, not per attempt.
func TestRedisOutageLog(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "sluice")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer up.Close()
	listen, admin, deadRedis := freePort(t), freePort(t), freePort(t)
	cfg := writeConfig(t, fmt.Sprintf(`{"server": {"listen": %q, "admin_listen": %q, "access_log": "off"},
  "cluster": {"instances": 3, "redis": {"addr": %q, "sync_interval": "20ms"}},
  "services": {"a": {"targets": [%q]}},
  "rate_limits": {"q": {"key": "route", "requests": 60, "per": "1s", "scope": "cluster"}},
  "routes": [{"name": "a", "path": "/a", "service": "a", "rate_limits": ["q"]}]}`,
		listen, admin, deadRedis, strings.TrimPrefix(up.URL, "http://")))
	cmd := exec.Command(bin, "run", "-c", cfg)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ready := false
	for i := 0; i < 100 && !ready; i++ {
		if resp, err := http.Get("http://" + admin + "/readyz"); err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == 200
		}
		if !ready {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !ready {
		t.Fatalf("never ready: %s", stderr.String())
	}
	codes := map[int]int{}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + listen + "/a")
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	t.Logf("answers during the outage: %v", codes)
	if codes[200] == 0 || codes[200]+codes[429] != sum(codes) {
		t.Errorf("answers %v, want only 200 and 429", codes)
	}
	dials := 0
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stderr line is not JSON: %q", line)
		}
		if strings.Contains(fmt.Sprint(m["detail"]), "failed to dial") {
			dials++
		}
	}
	if dials != 1 {
		t.Errorf("%d Redis dial failure lines in 2 s of outage, want 1:\n%s", dials, stderr.String())
	}
}

func sum(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
