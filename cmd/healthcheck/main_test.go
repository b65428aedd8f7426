package main

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	var notReady atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || notReady.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"status":"ready"}`))
	}))
	defer srv.Close()
	if err := check(srv.URL+"/readyz", 5*time.Second); err != nil {
		t.Fatalf("ready server: %v", err)
	}
	notReady.Store(true)
	if err := check(srv.URL+"/readyz", 5*time.Second); err == nil {
		t.Fatal("draining server (503) passed the check")
	}
	if err := check(srv.URL+"/other", 5*time.Second); err == nil {
		t.Fatal("unknown path passed the check")
	}
	srv.Close()
	if err := check(srv.URL+"/readyz", 5*time.Second); err == nil {
		t.Fatal("closed server passed the check")
	}
}
