package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluice-gw/sluice/engine/tlsconf/tlstest"
)

// upstreamServer starts a TLS server for a leaf issued by ca for hosts.
func upstreamServer(t *testing.T, ca *tlstest.CA, hosts ...string) *tlsServer {
	t.Helper()
	leaf := ca.Server(t, hosts, tlstest.Options{})
	return startTLSServer(t, mustServer(t, &ServerOptions{
		Certificates: []CertFiles{{CertFile: leaf.CertFile, KeyFile: leaf.KeyFile}},
	}))
}

func mustUpstream(t *testing.T, cfg UpstreamOptions) *tls.Config {
	t.Helper()
	tc, err := Upstream(cfg)
	if err != nil {
		t.Fatalf("Upstream: %v", err)
	}
	return tc
}

func TestUpstreamVerification(t *testing.T) {
	ca := tlstest.NewCA(t, "up-ca")
	other := tlstest.NewCA(t, "up-other")
	srv := upstreamServer(t, ca, "api.internal", "127.0.0.1")

	t.Run("ca_file and target IP", func(t *testing.T) {
		tc := mustUpstream(t, UpstreamOptions{CAFile: ca.CertFile})
		if tc.ServerName != "" {
			t.Fatalf("ServerName = %q, want empty for the engine to fill per target", tc.ServerName)
		}
		if _, err := dial(srv.addr, ForTarget(tc, srv.addr)); err != nil {
			t.Fatalf("verified dial failed: %v", err)
		}
		_ = srv.serverResult(t)
	})
	t.Run("server_name override", func(t *testing.T) {
		tc := mustUpstream(t, UpstreamOptions{CAFile: ca.CertFile, ServerName: "api.internal"})
		if got := ForTarget(tc, srv.addr); got != tc || got.ServerName != "api.internal" {
			t.Fatalf("ForTarget must keep an explicit server_name, got %q", got.ServerName)
		}
		if _, err := dial(srv.addr, tc); err != nil {
			t.Fatalf("dial: %v", err)
		}
		_ = srv.serverResult(t)
	})
	t.Run("system pool rejects private CA", func(t *testing.T) {
		tc := mustUpstream(t, UpstreamOptions{})
		_, err := dial(srv.addr, ForTarget(tc, srv.addr))
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Fatalf("want unknown authority error, got %v", err)
		}
		_ = srv.serverResult(t)
	})
	t.Run("wrong ca_file", func(t *testing.T) {
		tc := mustUpstream(t, UpstreamOptions{CAFile: other.CertFile})
		if _, err := dial(srv.addr, ForTarget(tc, srv.addr)); err == nil {
			t.Fatal("certificate from another CA accepted")
		}
		_ = srv.serverResult(t)
	})
	t.Run("wrong server_name", func(t *testing.T) {
		tc := mustUpstream(t, UpstreamOptions{CAFile: ca.CertFile, ServerName: "evil.internal"})
		_, err := dial(srv.addr, tc)
		var host x509.HostnameError
		if !errors.As(err, &host) {
			t.Fatalf("want hostname error, got %v", err)
		}
		_ = srv.serverResult(t)
	})
}

func TestUpstreamClientCertificate(t *testing.T) {
	ca := tlstest.NewCA(t, "upm-ca")
	leaf := ca.Server(t, []string{"127.0.0.1"}, tlstest.Options{})
	cl := ca.Client(t, "gateway", tlstest.Options{})
	srv := startTLSServer(t, mustServer(t, &ServerOptions{
		Certificates: []CertFiles{{CertFile: leaf.CertFile, KeyFile: leaf.KeyFile}},
		ClientAuth:   "require", ClientCAFile: ca.CertFile,
	}))
	without := mustUpstream(t, UpstreamOptions{CAFile: ca.CertFile})
	if _, err := dial(srv.addr, ForTarget(without, srv.addr)); err == nil {
		t.Fatal("upstream requiring a client certificate accepted none")
	}
	_ = srv.serverResult(t)
	with := mustUpstream(t, UpstreamOptions{CAFile: ca.CertFile, CertFile: cl.CertFile, KeyFile: cl.KeyFile})
	if _, err := dial(srv.addr, ForTarget(with, srv.addr)); err != nil {
		t.Fatalf("client certificate not presented: %v", err)
	}
	if err := srv.serverResult(t); err != nil {
		t.Fatal(err)
	}
}

// TestUpstreamWithFasthttp checks the contract with the engine: a config with
// an empty ServerName given to fasthttp.HostClient verifies each target
// against its own host.
func TestUpstreamWithFasthttp(t *testing.T) {
	ca := tlstest.NewCA(t, "fh-ca")
	leaf := ca.Server(t, []string{"127.0.0.1"}, tlstest.Options{})
	tc := mustServer(t, &ServerOptions{Certificates: []CertFiles{{CertFile: leaf.CertFile, KeyFile: leaf.KeyFile}}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("secure") }}
	go func() { _ = s.Serve(tls.NewListener(ln, tc)) }()
	t.Cleanup(func() { _ = s.Shutdown() })

	get := func(cfg *tls.Config) (string, error) {
		hc := &fasthttp.HostClient{Addr: ln.Addr().String(), IsTLS: true, TLSConfig: cfg, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("https://" + ln.Addr().String() + "/")
		if err := hc.DoTimeout(req, resp, 5*time.Second); err != nil {
			return "", err
		}
		return string(resp.Body()), nil
	}
	if body, err := get(mustUpstream(t, UpstreamOptions{CAFile: ca.CertFile})); err != nil || body != "secure" {
		t.Fatalf("verified request: %q %v", body, err)
	}
	if _, err := get(mustUpstream(t, UpstreamOptions{})); err == nil {
		t.Fatal("request to an untrusted upstream succeeded")
	}
}
