package main

import (
	"os"
	"runtime"
	"strings"
	"syscall"
)

// Runtime tuning. Go's system monitor thread (sysmon) parks whenever every
// scheduler P is idle, and the next system call wakes it; it then polls
// every 20 µs for a millisecond before backing off. A proxy whose upstream
// answers in tens of microseconds goes idle and busy again thousands of times
// a second, so the monitor is woken on nearly every request: measured with
// the upstream on the proxy's core, 0.22 nanosleeps and 0.07 futex calls a
// request and about a quarter of sluice's CPU per request. With the runtime's
// schedtrace setting on, the monitor never parks and settles at one wake-up
// per 10 ms. The setting is read only at start-up, hence the re-exec; the
// trace it enables prints one scheduler line to stderr every schedtracePeriod.
const (
	// tuningEnv set to "off" disables the tuning.
	tuningEnv = "SLUICE_RUNTIME_TUNING"
	// schedtracePeriod is the largest the runtime accepts, in milliseconds
	// (24.8 days).
	schedtracePeriod = "2147483647"
)

// tuneRuntime re-executes the running binary (the same inode, through
// /proc/self/exe, so an upgrade on disk cannot slip in) with the tuned
// GODEBUG. It returns only when it does not re-execute: tuning off, already
// tuned, the user set schedtrace, not Linux, or exec failed (then sluice runs
// untuned, which is correct, only slower).
func tuneRuntime() {
	env, ok := tunedEnv(runtime.GOOS, os.Environ())
	if !ok {
		return
	}
	_ = syscall.Exec("/proc/self/exe", os.Args, env)
}

// tunedEnv returns env with the tuned GODEBUG, and false when nothing should
// change.
func tunedEnv(goos string, env []string) ([]string, bool) {
	if goos != "linux" {
		return nil, false
	}
	var godebug string
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		switch {
		case kv == tuningEnv+"=off":
			return nil, false
		case strings.HasPrefix(kv, "GODEBUG="):
			godebug = kv[len("GODEBUG="):]
		default:
			out = append(out, kv)
		}
	}
	for _, setting := range strings.Split(godebug, ",") {
		if strings.HasPrefix(setting, "schedtrace=") {
			return nil, false
		}
	}
	if godebug != "" {
		godebug += ","
	}
	return append(out, "GODEBUG="+godebug+"schedtrace="+schedtracePeriod), true
}
