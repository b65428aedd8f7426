package engine_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestAccessLogFile: one JSON line per request in the configured file,
// flushed in the background, complete after Close.
func TestAccessLogFile(t *testing.T) {
	up := startUpstream(t, "echo")
	logFile := filepath.Join(t.TempDir(), "access.log")
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": %q},
  "services": {"s": {"targets": [%q]}},
  "routes": [{"name": "items", "path": "/items/{id}", "service": "s"}]
}`, logFile, up.addr))
	do(t, "GET", g.url+"/items/1", map[string]string{"X-Request-Id": "log-1"}, "")
	get(t, g.url+"/nope")

	var lines []map[string]any
	deadline := time.Now().Add(2 * time.Second)
	for len(lines) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		lines = lines[:0]
		f, err := os.Open(logFile)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("access log line is not JSON: %q", sc.Text())
			}
			lines = append(lines, m)
		}
		f.Close()
	}
	if len(lines) != 2 {
		t.Fatalf("%d access log lines, want 2", len(lines))
	}
	first, second := lines[0], lines[1]
	if first["request_id"] != "log-1" || first["route"] != "items" || first["status"] != float64(200) ||
		first["method"] != "GET" || first["path"] != "/items/1" || first["upstream"] != up.addr || first["client_ip"] != "127.0.0.1" {
		t.Errorf("first line %v", first)
	}
	if second["route"] != "unmatched" || second["status"] != float64(404) {
		t.Errorf("second line %v", second)
	}
}
