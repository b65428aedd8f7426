package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "sluice.json")
	if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestCheck(t *testing.T) {
	good := writeConfig(t, `{"services": {"a": {"targets": ["127.0.0.1:9"]}}, "routes": [{"name": "a", "path": "/a", "service": "a"}]}`)
	var out, errb bytes.Buffer
	if code := run([]string{"check", "-c", good}, &out, &errb); code != 0 {
		t.Fatalf("valid config: exit %d, stderr %s", code, errb.String())
	}

	bad := writeConfig(t, `{"server": {"lissen": 1}, "services": {"a": {"targets": ["127.0.0.1:9"]}},
  "routes": [{"name": "a", "path": "/a", "service": "a"}, {"name": "b", "path": "/b", "service": "a"}, {"name": "c", "path": "/c", "service": "catalgo"}]}`)
	out.Reset()
	errb.Reset()
	if code := run([]string{"check", "-c", bad}, &out, &errb); code != 2 {
		t.Fatalf("invalid config: exit %d, want 2", code)
	}
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	want := []string{"server.lissen: unknown key", `routes[2].service: unknown service "catalgo"`}
	if len(lines) != len(want) {
		t.Fatalf("problems %q, want %q", lines, want)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d: %q, want %q", i, lines[i], want[i])
		}
	}
}

func TestUsageErrors(t *testing.T) {
	var out, errb bytes.Buffer
	for _, args := range [][]string{nil, {"frobnicate"}, {"check"}, {"run", "-x"}} {
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	if code := run([]string{"check", "-c", "/does/not/exist.json"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "read config") {
		t.Errorf("missing file: exit %d, stderr %q", code, errb.String())
	}
	out.Reset()
	if code := run([]string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "sluice ") {
		t.Errorf("version: exit %d, %q", code, out.String())
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRunAndSignal builds the binary, serves a config, and checks that
// SIGTERM drains and exits 0; a config that does not compile exits 2.
func TestRunAndSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "sluice")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	listen, admin := freePort(t), freePort(t)
	cfg := writeConfig(t, fmt.Sprintf(`{"server": {"listen": %q, "admin_listen": %q, "access_log": "off"},
  "services": {"a": {"targets": ["127.0.0.1:9"]}}, "routes": [{"name": "a", "path": "/a", "service": "a"}]}`, listen, admin))
	cmd := exec.Command(bin, "run", "-c", cfg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := false
	for i := 0; i < 100 && !ready; i++ {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == 200
		}
		if !ready {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !ready {
		cmd.Process.Kill()
		t.Fatalf("never ready: %s", stderr.String())
	}
	// `run` re-executed itself once with the tuned runtime (runtime.go):
	// same process, tuned environment.
	if environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", cmd.Process.Pid)); err == nil &&
		!bytes.Contains(environ, []byte("GODEBUG=schedtrace="+schedtracePeriod)) {
		t.Errorf("the serving process was not re-executed with the runtime tuning (GODEBUG=schedtrace=%s missing from its environment)", schedtracePeriod)
	}
	resp, err := http.Get("http://" + listen + "/nope")
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("request: %v %v", err, resp)
	}
	resp.Body.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("did not exit after SIGTERM")
	}

	bad := writeConfig(t, `{"routes": []}`)
	err = exec.Command(bin, "run", "-c", bad).Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("run with a bad config: %v, want exit 2", err)
	}
}

// TestSchemaCommand: `sluice schema` prints the config's JSON Schema, and a
// config that names it with "$schema" passes check.
func TestSchemaCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"schema"}, &out, &errb); code != 0 {
		t.Fatalf("schema: exit %d, stderr %s", code, errb.String())
	}
	if !bytes.Contains(out.Bytes(), []byte(`"$schema": "https://json-schema.org/draft/2020-12/schema"`)) ||
		!bytes.Contains(out.Bytes(), []byte(`"rate_limits"`)) {
		t.Fatalf("schema output does not look like the config schema:\n%.400s", out.String())
	}
	cfg := writeConfig(t, `{"$schema": "./sluice.schema.json", "services": {"a": {"targets": ["127.0.0.1:9"]}}, "routes": [{"name": "a", "path": "/a", "service": "a"}]}`)
	out.Reset()
	if code := run([]string{"check", "-c", cfg}, &out, &errb); code != 0 {
		t.Fatalf("config with $schema: exit %d, stderr %s", code, errb.String())
	}
}

func TestCheckLabelsWarnings(t *testing.T) {
	cfg := writeConfig(t, `{"services": {"a": {"targets": ["127.0.0.1:9"], "health_check": {"interval": "1s", "timeout": "2s"}}},
  "routes": [{"name": "a", "path": "/a", "service": "a"}]}`)
	var out, errb bytes.Buffer
	if code := run([]string{"check", "-c", cfg}, &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
	if got := errb.String(); !strings.HasPrefix(got, "warning: services.a.health_check.timeout: ") {
		t.Errorf("stderr %q: want the warning labelled with its path", got)
	}
}
