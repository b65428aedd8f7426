package procs

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillAll starts real children (one with a grandchild) and checks that
// KillAll leaves none behind, process groups included.
func TestKillAll(t *testing.T) {
	p := New(Options{LogDir: t.TempDir()})
	a, err := p.Start("sleeper", "sleep", "60")
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Start("shell", "sh", "-c", "sleep 60 & wait")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	p.KillAll()
	if time.Since(start) > 5*time.Second {
		t.Error("KillAll slow")
	}
	for _, c := range []*Child{a, b} {
		if !c.Exited() {
			t.Errorf("%s still running", c.Label)
		}
		// The whole process group is gone (the grandchild sleep too), once
		// the orphans are reaped.
		gone := false
		for range 100 {
			if syscall.Kill(-c.Pid(), 0) != nil {
				gone = true
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if !gone {
			t.Errorf("%s: process group still alive", c.Label)
		}
	}
}

// TestLogsWaitAndForget: the exit code, the log (truncated or appended),
// Wrap, and a forgotten child that KillAll leaves alone.
func TestLogsWaitAndForget(t *testing.T) {
	dir := t.TempDir()
	for _, appendLog := range []bool{false, true} {
		p := New(Options{LogDir: dir, Append: appendLog})
		for range 2 {
			c, err := p.Start("quick", "sh", "-c", "echo boom; exit 3")
			if err != nil {
				t.Fatal(err)
			}
			if code, ok := c.Wait(5 * time.Second); !ok || code != 3 {
				t.Fatalf("exit %d %v, want 3", code, ok)
			}
		}
		data, _ := os.ReadFile(dir + "/quick.log")
		want := "boom\n"
		if appendLog {
			want = "boom\nboom\nboom\n" // the truncating run's line, then two
		}
		if string(data) != want {
			t.Errorf("append %v: log %q, want %q", appendLog, data, want)
		}
	}

	wrapped := New(Options{LogDir: dir, Wrap: func(name string, args []string) (string, []string) {
		return "sh", append([]string{"-c", `echo wrapped "$@"`, "sh", name}, args...)
	}})
	c, err := wrapped.Start("wrapped", "sleep", "60")
	if err != nil {
		t.Fatal(err)
	}
	c.Wait(5 * time.Second)
	if tail := string(c.Tail(100)); !strings.Contains(tail, "wrapped sleep 60") {
		t.Errorf("Wrap not applied: %q", tail)
	}

	p := New(Options{LogDir: dir})
	kept, err := p.Start("kept", "sleep", "60")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Forget(kept) || p.Forget(kept) {
		t.Error("Forget: want true once")
	}
	p.KillAll()
	if kept.Exited() {
		t.Error("KillAll stopped a forgotten child")
	}
	p.Kill(kept)
	if !kept.Exited() {
		t.Error("Kill left it running")
	}
}
