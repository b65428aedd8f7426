package main

import (
	"slices"
	"testing"
)

// TestTunedEnv: the tuning adds schedtrace to GODEBUG, keeps the user's
// other settings, and changes nothing when switched off, already set, or not
// on Linux.
func TestTunedEnv(t *testing.T) {
	const tuned = "GODEBUG=schedtrace=" + schedtracePeriod
	cases := []struct {
		name, goos string
		env        []string
		want       []string // nil: no re-exec
	}{
		{"plain", "linux", []string{"PATH=/bin"}, []string{"PATH=/bin", tuned}},
		{"user GODEBUG kept", "linux", []string{"GODEBUG=gctrace=1", "HOME=/h"}, []string{"HOME=/h", "GODEBUG=gctrace=1,schedtrace=" + schedtracePeriod}},
		{"already tuned", "linux", []string{tuned}, nil},
		{"user schedtrace", "linux", []string{"GODEBUG=gctrace=1,schedtrace=1000"}, nil},
		{"other setting with the same suffix", "linux", []string{"GODEBUG=xschedtrace=1"}, []string{"GODEBUG=xschedtrace=1,schedtrace=" + schedtracePeriod}},
		{"off", "linux", []string{"PATH=/bin", tuningEnv + "=off"}, nil},
		{"not linux", "darwin", []string{"PATH=/bin"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := tunedEnv(c.goos, c.env)
			if ok != (c.want != nil) || !slices.Equal(got, c.want) {
				t.Fatalf("tunedEnv(%q) = %q, %v; want %q", c.env, got, ok, c.want)
			}
		})
	}
}
