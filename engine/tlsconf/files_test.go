package tlsconf

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/tlsconf/tlstest"
)

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServerConfigErrors(t *testing.T) {
	ca := tlstest.NewCA(t, "err-ca")
	a := ca.Server(t, []string{"a.example"}, tlstest.Options{})
	b := ca.Server(t, []string{"b.example"}, tlstest.Options{})
	garbage := writeFile(t, "garbage.pem", []byte("not a certificate"))
	missing := filepath.Join(t.TempDir(), "x.pem")
	dir := t.TempDir() // a directory cannot be read as a file
	badDER := writeFile(t, "bad.pem", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))

	cases := []struct {
		name string
		cfg  *ServerOptions
		path string
		frag string
	}{
		{"no certificates", &ServerOptions{}, "certificates", "at least one"},
		{"cert_file empty", &ServerOptions{Certificates: []CertFiles{{KeyFile: a.KeyFile}}},
			"certificates[0].cert_file", "required"},
		{"key_file empty", &ServerOptions{Certificates: []CertFiles{{CertFile: a.CertFile}}},
			"certificates[0].key_file", "required"},
		{"cert missing", &ServerOptions{Certificates: []CertFiles{{CertFile: missing, KeyFile: a.KeyFile}}},
			"certificates[0].cert_file", "open " + missing + ": no such file"},
		{"key missing", &ServerOptions{Certificates: []CertFiles{
			{CertFile: a.CertFile, KeyFile: a.KeyFile}, {CertFile: b.CertFile, KeyFile: missing}}},
			"certificates[1].key_file", "open " + missing + ": no such file"},
		{"cert unreadable", &ServerOptions{Certificates: []CertFiles{{CertFile: dir, KeyFile: a.KeyFile}}},
			"certificates[0].cert_file", dir},
		{"cert not PEM", &ServerOptions{Certificates: []CertFiles{{CertFile: garbage, KeyFile: a.KeyFile}}},
			"certificates[0].cert_file", garbage + ": no PEM certificate found"},
		{"cert bad DER", &ServerOptions{Certificates: []CertFiles{{CertFile: badDER, KeyFile: a.KeyFile}}},
			"certificates[0].cert_file", badDER + ": certificate 0"},
		{"key not PEM", &ServerOptions{Certificates: []CertFiles{{CertFile: a.CertFile, KeyFile: garbage}}},
			"certificates[0].key_file", garbage},
		{"key mismatch", &ServerOptions{Certificates: []CertFiles{{CertFile: a.CertFile, KeyFile: b.KeyFile}}},
			"certificates[0].key_file", "private key does not match the certificate in " + a.CertFile},
		{"unknown client_auth", &ServerOptions{Certificates: []CertFiles{{CertFile: a.CertFile, KeyFile: a.KeyFile}}, ClientAuth: "optional"},
			"client_auth", `unknown value "optional"`},
		{"require without CA", &ServerOptions{Certificates: []CertFiles{{CertFile: a.CertFile, KeyFile: a.KeyFile}}, ClientAuth: "require"},
			"client_ca_file", "required when client_auth is \"require\""},
		{"request with missing CA", &ServerOptions{Certificates: []CertFiles{{CertFile: a.CertFile, KeyFile: a.KeyFile}}, ClientAuth: "request", ClientCAFile: missing},
			"client_ca_file", "no such file"},
		{"CA not PEM", &ServerOptions{Certificates: []CertFiles{{CertFile: a.CertFile, KeyFile: a.KeyFile}}, ClientAuth: "require", ClientCAFile: garbage},
			"client_ca_file", "no PEM certificate found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc, errs := Server(c.cfg)
			if tc != nil {
				t.Fatal("config returned despite errors")
			}
			if !hasError(errs, c.path, c.frag) {
				t.Fatalf("want error at %s containing %q, got:\n%v", c.path, c.frag, errs)
			}
		})
	}
}

func TestServerReportsEveryBadFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "gone.pem")
	_, errs := Server(&ServerOptions{
		Certificates: []CertFiles{{CertFile: missing, KeyFile: missing}, {CertFile: missing, KeyFile: missing}},
		ClientAuth:   "require", ClientCAFile: missing,
	})
	for _, p := range []string{
		"certificates[0].cert_file", "certificates[0].key_file",
		"certificates[1].cert_file", "certificates[1].key_file",
		"client_ca_file",
	} {
		if !hasError(errs, p, missing) {
			t.Errorf("no error at %s naming %s; got:\n%v", p, missing, errs)
		}
	}
}

func TestNilServerTLS(t *testing.T) {
	tc, errs := Server(nil)
	if tc != nil || errs != nil {
		t.Fatalf("nil server.tls: %v %v", tc, errs)
	}
}

func TestUpstreamConfigErrors(t *testing.T) {
	ca := tlstest.NewCA(t, "uerr-ca")
	cl := ca.Client(t, "gw", tlstest.Options{})
	other := ca.Client(t, "gw2", tlstest.Options{})
	missing := filepath.Join(t.TempDir(), "ca.pem")
	cases := []struct {
		name string
		cfg  UpstreamOptions
		path string
		frag string
	}{
		{"ca missing", UpstreamOptions{CAFile: missing}, "ca_file", "open " + missing},
		{"cert without key", UpstreamOptions{CertFile: cl.CertFile}, "key_file", "required when cert_file"},
		{"key without cert", UpstreamOptions{KeyFile: cl.KeyFile}, "cert_file", "required when key_file"},
		{"key mismatch", UpstreamOptions{CertFile: cl.CertFile, KeyFile: other.KeyFile}, "key_file", "does not match"},
		{"cert missing", UpstreamOptions{CertFile: missing, KeyFile: cl.KeyFile}, "cert_file", missing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc, errs := Upstream(c.cfg)
			if tc != nil || !hasError(errs, c.path, c.frag) {
				t.Fatalf("want error at %s containing %q, got %v", c.path, c.frag, errs)
			}
		})
	}
}

// captureLog routes slog's default logger into a buffer for one test.
func captureLog(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return &buf
}

func TestExpiredCertificateIsAWarning(t *testing.T) {
	logs := captureLog(t)
	ca := tlstest.NewCA(t, "exp-ca")
	old := ca.Server(t, []string{"old.example"}, tlstest.Options{
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	tc, err := Server(&ServerOptions{Certificates: []CertFiles{{CertFile: old.CertFile, KeyFile: old.KeyFile}}, LogPath: "server.tls"})
	if err != nil || tc == nil {
		t.Fatalf("expired certificate must not be an error: %v", err)
	}
	out := logs.String()
	for _, want := range []string{"level=WARN", "certificate expired", "certificates[0].cert_file", old.CertFile} {
		if !strings.Contains(out, want) {
			t.Fatalf("log %q lacks %q", out, want)
		}
	}
}

func TestSelfSigned(t *testing.T) {
	notAfter := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	certPEM, keyPEM, err := SelfSigned([]string{"localhost", "127.0.0.1", "::1"}, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writeFile(t, "c.pem", certPEM), writeFile(t, "k.pem", keyPEM)
	srvCfg := mustServer(t, &ServerOptions{Certificates: []CertFiles{{CertFile: certFile, KeyFile: keyFile}}})
	leaf := srvCfg.Certificates[0].Leaf
	if !leaf.NotAfter.Equal(notAfter) {
		t.Fatalf("NotAfter = %v, want %v", leaf.NotAfter, notAfter)
	}
	if len(leaf.DNSNames) != 1 || len(leaf.IPAddresses) != 2 {
		t.Fatalf("SANs: %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	// The certificate is its own CA: an upstream config trusting it verifies
	// both the IP and the DNS name.
	srv := startTLSServer(t, srvCfg)
	up := mustUpstream(t, UpstreamOptions{CAFile: certFile})
	for _, name := range []string{"", "localhost"} {
		cc := ForTarget(up, srv.addr)
		if name != "" {
			cc = cc.Clone()
			cc.ServerName = name
		}
		if _, err := dial(srv.addr, cc); err != nil {
			t.Fatalf("dial as %q: %v", cc.ServerName, err)
		}
		_ = srv.serverResult(t)
	}
	if _, _, err := SelfSigned(nil, notAfter); err == nil {
		t.Fatal("no hosts accepted")
	}
}

func TestForTarget(t *testing.T) {
	base := mustUpstream(t, UpstreamOptions{})
	for addr, want := range map[string]string{
		"10.0.0.1:443": "10.0.0.1", "api.internal:8443": "api.internal", "[::1]:443": "::1", "bare.host": "bare.host",
	} {
		if got := ForTarget(base, addr).ServerName; got != want {
			t.Errorf("ForTarget(%q) ServerName = %q, want %q", addr, got, want)
		}
	}
	if base.ServerName != "" {
		t.Fatal("ForTarget modified its base")
	}
	if ForTarget(nil, "x:1") != nil {
		t.Fatal("ForTarget(nil) must stay nil")
	}
}
