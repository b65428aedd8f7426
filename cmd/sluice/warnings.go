package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// warningHandler prints the warnings that compiling a config logs as
// `warning: PATH: message (key=value ...)`, one a line, like the errors
// `check` prints, so that each is labelled as a warning with its JSON path.
type warningHandler struct {
	mu *sync.Mutex
	w  io.Writer
}

func newWarningLogger(w io.Writer) *slog.Logger {
	return slog.New(warningHandler{mu: new(sync.Mutex), w: w})
}

func (h warningHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h warningHandler) Handle(_ context.Context, r slog.Record) error {
	path := ""
	var extra []string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "path" {
			path = a.Value.String()
		} else {
			extra = append(extra, a.Key+"="+a.Value.String())
		}
		return true
	})
	label := "warning"
	if r.Level >= slog.LevelError {
		label = "error"
	}
	line := label + ": "
	if path != "" {
		line += path + ": "
	}
	line += r.Message
	if len(extra) > 0 {
		line += " (" + strings.Join(extra, " ") + ")"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := fmt.Fprintln(h.w, line)
	return err
}

func (h warningHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h warningHandler) WithGroup(string) slog.Handler      { return h }
