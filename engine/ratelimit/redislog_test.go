package ratelimit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// syncBuffer is a bytes.Buffer safe for the client's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// lines parses every line as a JSON object, failing on one that is not.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// TestRedisLoggerRateLimits: one line per kind per interval, in JSON, the
// next one carrying how many were suppressed.
func TestRedisLoggerRateLimits(t *testing.T) {
	buf := &syncBuffer{}
	now := time.Unix(1000, 0)
	l := newRedisLogger(10 * time.Second)
	l.now = func() time.Time { return now }
	l.log = func() *slog.Logger { return slog.New(slog.NewJSONHandler(buf, nil)) }
	dial := "redis: connection pool: failed to dial after %d attempts: %v"
	for i := range 100 {
		l.Printf(context.Background(), dial, 1, errors.New("connection refused"))
		if i == 50 {
			l.Printf(context.Background(), "sentinel: new master=%q addr=%q", "m", "127.0.0.1:1")
		}
		now = now.Add(50 * time.Millisecond) // 5 s in all
	}
	lines := buf.lines(t)
	if len(lines) != 2 {
		t.Fatalf("%d lines for 100 dial failures and one master change in 5 s, want 2: %v", len(lines), lines)
	}
	if lines[0]["level"] != "WARN" || lines[0]["component"] != "redis" || !strings.Contains(fmt.Sprint(lines[0]["detail"]), "failed to dial after 1 attempts: connection refused") {
		t.Fatalf("dial line %v", lines[0])
	}
	if lines[1]["level"] != "INFO" || !strings.Contains(fmt.Sprint(lines[1]["detail"]), "new master") {
		t.Fatalf("master line %v", lines[1])
	}
	now = now.Add(6 * time.Second)
	l.Printf(nil, dial, 2, errors.New("timeout")) //nolint:staticcheck // go-redis may pass nil
	lines = buf.lines(t)
	if len(lines) != 3 || lines[2]["suppressed"] != float64(99) {
		t.Fatalf("after the interval: %v, want a line with suppressed 99", lines[len(lines)-1])
	}
	// Kinds are bounded: many distinct formats share one slot past the cap.
	for i := range 3 * maxLogKinds {
		l.Printf(context.Background(), fmt.Sprintf("kind %d: %%v", i), i)
	}
	if len(l.kinds) > maxLogKinds+1 {
		t.Fatalf("%d kinds tracked, want at most %d", len(l.kinds), maxLogKinds+1)
	}
}

// TestRedisLogsDuringOutage points an instance at a Redis that is not
// there: the client's dial errors reach slog as JSON, one line for the
// whole outage instead of one per attempt.
func TestRedisLogsDuringOutage(t *testing.T) {
	installRedisLogger()
	buf := &syncBuffer{}
	l := newRedisLogger(10 * time.Second)
	l.log = func() *slog.Logger { return slog.New(slog.NewJSONHandler(buf, nil)) }
	redis.SetLogger(l)
	t.Cleanup(func() { redis.SetLogger(newRedisLogger(redisLogEvery)) })

	s := compile(t, Options{Instances: 3, Store: store(t, RedisOptions{Addr: freeAddr(t), SyncInterval: 20 * time.Millisecond}),
		Policies: []PolicyOptions{{Name: "q", Key: "ip", Requests: 30, Per: time.Second, Scope: "cluster"}}})
	s.Start(context.Background())
	rt := route(t, s, "r", "q")
	before := l.suppressed.Get()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		do(rt, req{ip: "10.0.0.1"}) // usage, so that every tick syncs or probes
		time.Sleep(10 * time.Millisecond)
	}
	dials := 0
	for _, m := range buf.lines(t) {
		if strings.Contains(fmt.Sprint(m["detail"]), "failed to dial") {
			dials++
		}
	}
	attempts := l.suppressed.Get() - before + uint64(dials)
	t.Logf("%d dial failure lines written for %d attempts", dials, attempts)
	if dials != 1 || attempts < 2 {
		t.Fatalf("%d dial failure lines for %d attempts, want 1 line for several", dials, attempts)
	}
}
