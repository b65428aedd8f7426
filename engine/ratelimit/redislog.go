package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/redis/go-redis/v9"
)

// redisLogEvery is how often one kind of Redis client log line may be
// written; the lines in between are counted and the count is logged with the
// next one.
const redisLogEvery = 10 * time.Second

// maxLogKinds bounds the kinds a redisLogger tracks; further kinds share one.
const maxLogKinds = 64

// redisLogger carries the Redis client's own log lines (go-redis writes
// plain text to stderr, for example "failed to dial" on every attempt while
// Redis is down) to slog, so they keep the gateway's JSON format, and at
// most one line per kind (the client's format string) every interval.
type redisLogger struct {
	every      time.Duration
	now        func() time.Time
	log        func() *slog.Logger
	suppressed *metrics.Counter

	mu    sync.Mutex
	kinds map[string]*logKind
}

// logKind is the rate-limit state of one kind of line.
type logKind struct {
	last       time.Time
	suppressed int
}

func newRedisLogger(every time.Duration) *redisLogger {
	return &redisLogger{
		every: every,
		now:   time.Now,
		log:   slog.Default,
		// The Redis client's logger is process-wide, and so is this series
		// (in the default set, written after the engine's by /metrics).
		suppressed: metrics.GetOrCreateCounter("sluice_ratelimit_redis_log_suppressed_total"),
		kinds:      make(map[string]*logKind),
	}
}

var redisLoggerOnce sync.Once

// installRedisLogger makes the Redis client log through slog.Default (the
// client's logger is process-wide).
func installRedisLogger() {
	redisLoggerOnce.Do(func() { redis.SetLogger(newRedisLogger(redisLogEvery)) })
}

// Printf implements go-redis's logger interface.
func (l *redisLogger) Printf(ctx context.Context, format string, v ...any) {
	now := l.now()
	l.mu.Lock()
	k := l.kinds[format]
	if k == nil {
		if len(l.kinds) >= maxLogKinds {
			format = "(other)"
			k = l.kinds[format]
		}
		if k == nil {
			k = &logKind{}
			l.kinds[format] = k
		}
	}
	if !k.last.IsZero() && now.Sub(k.last) < l.every {
		k.suppressed++
		l.mu.Unlock()
		l.suppressed.Inc()
		return
	}
	k.last = now
	n := k.suppressed
	k.suppressed = 0
	l.mu.Unlock()

	msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	level := slog.LevelInfo
	if lower := strings.ToLower(msg); strings.Contains(lower, "fail") || strings.Contains(lower, "error") {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{slog.String("component", "redis"), slog.String("detail", msg)}
	if n > 0 {
		attrs = append(attrs, slog.Int("suppressed", n))
	}
	if ctx == nil {
		ctx = context.Background()
	}
	l.log().LogAttrs(ctx, level, "redis client", attrs...)
}
