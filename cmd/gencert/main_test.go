package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRunWritesUsablePair(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	if err := run(dir, "localhost, 127.0.0.1", 2); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf := pair.Leaf
	if leaf.VerifyHostname("localhost") != nil || leaf.VerifyHostname("127.0.0.1") != nil {
		t.Fatalf("SANs %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	if d := time.Until(leaf.NotAfter); d < 47*time.Hour || d > 49*time.Hour {
		t.Fatalf("NotAfter in %v, want about 48h", d)
	}
	st, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, want 0600", st.Mode().Perm())
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	if run(t.TempDir(), "localhost", 0) == nil {
		t.Fatal("-days 0 accepted")
	}
	if run(t.TempDir(), " , ", 1) == nil {
		t.Fatal("empty host list accepted")
	}
}
