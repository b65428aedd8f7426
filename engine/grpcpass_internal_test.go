package engine

import (
	"testing"
	"time"
)

func TestGRPCTimeoutCodec(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1S", time.Second, true}, {"250m", 250 * time.Millisecond, true}, {"3H", 3 * time.Hour, true},
		{"2M", 2 * time.Minute, true}, {"7u", 7 * time.Microsecond, true}, {"9n", 9, true},
		{"99999999m", 99999999 * time.Millisecond, true},
		{"", 0, false}, {"S", 0, false}, {"10", 0, false}, {"1x", 0, false}, {"-1S", 0, false},
		{"123456789S", 0, false}, {"1.5S", 0, false},
	} {
		got, ok := parseGRPCTimeout([]byte(c.in))
		if ok != c.ok || got != c.want {
			t.Errorf("parse %q = %v %v, want %v %v", c.in, got, ok, c.want, c.ok)
		}
	}
	for _, d := range []time.Duration{1, 999, time.Millisecond, 1500 * time.Millisecond, 5 * time.Second, 30 * time.Minute, 1000 * time.Hour} {
		enc := formatGRPCTimeout(d)
		got, ok := parseGRPCTimeout([]byte(enc))
		if !ok || got < d || len(enc) > 9 {
			t.Errorf("format %v = %q (parses as %v %v): must not shorten the deadline", d, enc, got, ok)
		}
	}
	if enc := formatGRPCTimeout(-time.Second); enc != "1n" {
		t.Errorf("format of a passed deadline = %q", enc)
	}
}

func TestGRPCContentTypeAndMessage(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/grpc": true, "application/grpc+proto": true, "Application/GRPC;charset=x": true,
		"application/grpc-web": false, "application/grpc-web+proto": false, "application/json": false, "": false,
	} {
		if isGRPCContentType(ct) != want {
			t.Errorf("isGRPCContentType(%q) = %v", ct, !want)
		}
	}
	for in, want := range map[string]string{
		"plain message": "plain message", "100% sure": "100%25 sure", "ünïcode\n": "%C3%BCn%C3%AFcode%0A",
	} {
		if got := grpcEncodeMessage(in); got != want {
			t.Errorf("grpcEncodeMessage(%q) = %q, want %q", in, got, want)
		}
	}
}
