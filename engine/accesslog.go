package engine

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"
)

// accessLog writes one JSON line per request. Lines are appended to an
// in-memory buffer under a short lock and written out by a background
// goroutine, so the request path never waits on the disk or the terminal.
type accessLog struct {
	enabled bool
	out     io.Writer
	file    *os.File

	mu      sync.Mutex
	buf     []byte
	spare   []byte
	kick    chan struct{}
	done    chan struct{}
	stopped chan struct{}
	dropped *metrics.Counter
	once    sync.Once
}

const (
	logFlushEvery = 100 * time.Millisecond
	logKickBytes  = 256 << 10
	logMaxBytes   = 8 << 20
)

func newAccessLog(dest string, set *metrics.Set) (*accessLog, error) {
	l := &accessLog{}
	switch dest {
	case "off":
		return l, nil
	case "", "stdout":
		l.out = os.Stdout
	default:
		f, err := os.OpenFile(dest, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, err
		}
		l.out, l.file = f, f
	}
	l.enabled = true
	l.kick = make(chan struct{}, 1)
	l.done = make(chan struct{})
	l.stopped = make(chan struct{})
	l.dropped = set.GetOrCreateCounter(`sluice_access_log_dropped_total`)
	go l.run()
	return l, nil
}

func (l *accessLog) run() {
	defer close(l.stopped)
	t := time.NewTicker(logFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-l.kick:
		case <-l.done:
			l.flush()
			return
		}
		l.flush()
	}
}

func (l *accessLog) flush() {
	l.mu.Lock()
	out := l.buf
	l.buf = l.spare[:0]
	l.mu.Unlock()
	if len(out) > 0 {
		_, _ = l.out.Write(out)
	}
	l.mu.Lock()
	l.spare = out[:0]
	l.mu.Unlock()
}

// Close flushes what is buffered and stops the writer.
func (l *accessLog) Close() {
	if !l.enabled {
		return
	}
	l.once.Do(func() {
		close(l.done)
		<-l.stopped
		if l.file != nil {
			_ = l.file.Close()
		}
	})
}

// write appends the access log line of x.
func (l *accessLog) write(x *pipeline.Exchange, status int, d time.Duration) {
	ctx := x.Ctx
	l.mu.Lock()
	if len(l.buf) > logMaxBytes {
		l.mu.Unlock()
		l.dropped.Inc()
		return
	}
	b := l.buf
	b = append(b, `{"time":"`...)
	b = x.Start.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","request_id":`...)
	b = pipeline.AppendJSONString(b, b2s(x.RequestID))
	b = append(b, `,"client_ip":"`...)
	b = append(b, x.ClientIP...)
	b = append(b, `","method":`...)
	b = pipeline.AppendJSONString(b, b2s(ctx.Method()))
	b = append(b, `,"path":`...)
	b = pipeline.AppendJSONString(b, b2s(x.Path))
	b = append(b, `,"route":`...)
	b = pipeline.AppendJSONString(b, x.RouteName)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', 3, 64)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(responseSize(&ctx.Response)), 10)
	if x.Target != "" {
		b = append(b, `,"upstream":`...)
		b = pipeline.AppendJSONString(b, x.Target)
	}
	if len(x.Consumer) > 0 {
		b = append(b, `,"consumer":`...)
		b = pipeline.AppendJSONString(b, b2s(x.Consumer))
	}
	if x.CacheResult != "" {
		b = append(b, `,"cache":"`...)
		b = append(b, x.CacheResult...)
		b = append(b, '"')
	}
	b = append(b, x.LogExtra...)
	b = append(b, "}\n"...)
	l.buf = b
	kick := len(b) > logKickBytes
	l.mu.Unlock()
	if kick {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// responseSize is the body size without forcing a streamed body into memory
// (-1 when a stream's size is unknown).
func responseSize(resp *fasthttp.Response) int {
	if resp.IsBodyStream() {
		return resp.Header.ContentLength()
	}
	return len(resp.Body())
}

// checkLogPath reports, at compile time, an access log file that Start could
// not open for appending, so that `check` refuses what `run` would. It
// creates nothing: an existing file is opened for writing and closed, a new
// one needs a writable directory.
func checkLogPath(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return fmt.Errorf("%s is a directory", path)
	case err == nil:
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return fmt.Errorf("cannot open for appending: %w", err)
		}
		return f.Close()
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cannot create the file: %w", err)
	}
	if !di.IsDir() {
		return fmt.Errorf("cannot create the file: %s is not a directory", dir)
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return fmt.Errorf("cannot create the file in %s: %w", dir, err)
	}
	return nil
}
