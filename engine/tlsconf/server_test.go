package tlsconf

import (
	"crypto/tls"
	"testing"

	"github.com/sluice-gw/sluice/engine/tlsconf/tlstest"
)

func TestSNISelectsCertificate(t *testing.T) {
	ca := tlstest.NewCA(t, "sni-ca")
	def := ca.Server(t, []string{"default.example"}, tlstest.Options{})
	wild := ca.Server(t, []string{"*.wild.example"}, tlstest.Options{})
	exact := ca.Server(t, []string{"exact.example", "other.example"}, tlstest.Options{})
	// exact.wild.example is both an exact SAN here and covered by the wildcard:
	// the exact one must win.
	both := ca.Server(t, []string{"exact.wild.example"}, tlstest.Options{})
	tc := mustServer(t, &ServerOptions{Certificates: []CertFiles{
		{CertFile: def.CertFile, KeyFile: def.KeyFile},
		{CertFile: wild.CertFile, KeyFile: wild.KeyFile},
		{CertFile: exact.CertFile, KeyFile: exact.KeyFile},
		{CertFile: both.CertFile, KeyFile: both.KeyFile},
	}})
	srv := startTLSServer(t, tc)

	cases := []struct {
		sni    string
		want   *tlstest.Pair
		verify bool
	}{
		{"exact.example", exact, true},
		{"OTHER.example", exact, true},
		{"a.wild.example", wild, true},
		{"exact.wild.example", both, true},
		{"default.example", def, true},
		{"unknown.example", def, false},
		{"deep.a.wild.example", def, false}, // a wildcard covers one label only
		{"wild.example", def, false},
		{"", def, false}, // no SNI at all
	}
	for _, c := range cases {
		t.Run(c.sni, func(t *testing.T) {
			cc := &tls.Config{ServerName: c.sni, RootCAs: ca.Pool, InsecureSkipVerify: !c.verify}
			st, err := dial(srv.addr, cc)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			if got := st.PeerCertificates[0]; !got.Equal(c.want.Cert) {
				t.Fatalf("SNI %q got certificate %v, want %v", c.sni, got.DNSNames, c.want.Cert.DNSNames)
			}
			if st.Version != tls.VersionTLS13 {
				t.Fatalf("negotiated %s, want TLS 1.3", tls.VersionName(st.Version))
			}
			_ = srv.serverResult(t)
		})
	}
}

func TestProtocolVersionsAndSuites(t *testing.T) {
	ca := tlstest.NewCA(t, "ver-ca")
	leaf := ca.Server(t, []string{"localhost", "127.0.0.1"}, tlstest.Options{})
	tc := mustServer(t, &ServerOptions{Certificates: []CertFiles{{CertFile: leaf.CertFile, KeyFile: leaf.KeyFile}}})
	srv := startTLSServer(t, tc)

	t.Run("tls1.1 refused", func(t *testing.T) {
		cc := &tls.Config{RootCAs: ca.Pool, ServerName: "localhost", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
		if _, err := dial(srv.addr, cc); err == nil {
			t.Fatal("TLS 1.1 handshake succeeded")
		}
		if err := srv.serverResult(t); err == nil {
			t.Fatal("server accepted TLS 1.1")
		}
	})
	t.Run("tls1.2 ecdhe aead", func(t *testing.T) {
		cc := &tls.Config{RootCAs: ca.Pool, ServerName: "localhost", MaxVersion: tls.VersionTLS12}
		st, err := dial(srv.addr, cc)
		if err != nil {
			t.Fatalf("TLS 1.2: %v", err)
		}
		_ = srv.serverResult(t)
		if st.Version != tls.VersionTLS12 {
			t.Fatalf("version %s", tls.VersionName(st.Version))
		}
		allowed := false
		for _, s := range CipherSuites() {
			allowed = allowed || s == st.CipherSuite
		}
		if !allowed {
			t.Fatalf("suite %s is not an allowed ECDHE+AEAD suite", tls.CipherSuiteName(st.CipherSuite))
		}
	})
	t.Run("tls1.2 cbc refused", func(t *testing.T) {
		cc := &tls.Config{RootCAs: ca.Pool, ServerName: "localhost", MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}
		if _, err := dial(srv.addr, cc); err == nil {
			t.Fatal("CBC suite accepted")
		}
		_ = srv.serverResult(t)
	})
	t.Run("tls1.3 preferred", func(t *testing.T) {
		st, err := dial(srv.addr, &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		_ = srv.serverResult(t)
		if st.Version != tls.VersionTLS13 {
			t.Fatalf("version %s, want TLS 1.3", tls.VersionName(st.Version))
		}
	})
}

func TestSessionResumption(t *testing.T) {
	ca := tlstest.NewCA(t, "resume-ca")
	leaf := ca.Server(t, []string{"localhost"}, tlstest.Options{})
	tc := mustServer(t, &ServerOptions{Certificates: []CertFiles{{CertFile: leaf.CertFile, KeyFile: leaf.KeyFile}}})
	srv := startTLSServer(t, tc)
	for _, max := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(max), func(t *testing.T) {
			cc := &tls.Config{RootCAs: ca.Pool, ServerName: "localhost", MaxVersion: max,
				ClientSessionCache: tls.NewLRUClientSessionCache(4)}
			first, err := dial(srv.addr, cc)
			if err != nil {
				t.Fatal(err)
			}
			_ = srv.serverResult(t)
			second, err := dial(srv.addr, cc)
			if err != nil {
				t.Fatal(err)
			}
			_ = srv.serverResult(t)
			if first.DidResume || !second.DidResume {
				t.Fatalf("DidResume first=%v second=%v, want false then true", first.DidResume, second.DidResume)
			}
		})
	}
}

func TestClientAuth(t *testing.T) {
	ca := tlstest.NewCA(t, "client-ca")
	other := tlstest.NewCA(t, "other-ca")
	leaf := ca.Server(t, []string{"localhost"}, tlstest.Options{})
	good := ca.Client(t, "machine-1", tlstest.Options{})
	bad := other.Client(t, "intruder", tlstest.Options{})
	certs := []CertFiles{{CertFile: leaf.CertFile, KeyFile: leaf.KeyFile}}

	client := func(p *tlstest.Pair, max uint16) *tls.Config {
		cc := &tls.Config{RootCAs: ca.Pool, ServerName: "localhost", MaxVersion: max}
		if p != nil {
			// Send the certificate whatever CAs the server names: a stock Go
			// client would quietly send none for a CA the server did not list.
			cc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &p.TLS, nil }
		}
		return cc
	}
	cases := []struct {
		mode   string
		pair   *tlstest.Pair
		wantOK bool
	}{
		{"require", nil, false},
		{"require", bad, false},
		{"require", good, true},
		{"request", nil, true},
		{"request", bad, false},
		{"request", good, true},
		{"none", bad, true}, // not asked for, never looked at
	}
	for _, c := range cases {
		for _, max := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			name := c.mode + "/"
			switch c.pair {
			case nil:
				name += "no-cert"
			case bad:
				name += "wrong-ca"
			default:
				name += "right-cert"
			}
			t.Run(name+"/"+tls.VersionName(max), func(t *testing.T) {
				cfg := &ServerOptions{Certificates: certs, ClientAuth: c.mode}
				if c.mode != "none" {
					cfg.ClientCAFile = ca.CertFile
				}
				srv := startTLSServer(t, mustServer(t, cfg))
				_, cerr := dial(srv.addr, client(c.pair, max))
				serr := srv.serverResult(t)
				if c.wantOK && (cerr != nil || serr != nil) {
					t.Fatalf("want success: client %v, server %v", cerr, serr)
				}
				if !c.wantOK && (cerr == nil || serr == nil) {
					t.Fatalf("want failure: client %v, server %v", cerr, serr)
				}
			})
		}
	}
}

func TestClientCertificateVisibleToAuth(t *testing.T) {
	ca := tlstest.NewCA(t, "vis-ca")
	leaf := ca.Server(t, []string{"localhost"}, tlstest.Options{})
	cl := ca.Client(t, "machine-7", tlstest.Options{})
	tc := mustServer(t, &ServerOptions{
		Certificates: []CertFiles{{CertFile: leaf.CertFile, KeyFile: leaf.KeyFile}},
		ClientAuth:   "require", ClientCAFile: ca.CertFile,
	})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tc)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		if err := c.(*tls.Conn).Handshake(); err != nil {
			got <- err.Error()
			return
		}
		chains := c.(*tls.Conn).ConnectionState().VerifiedChains
		if len(chains) == 0 {
			got <- "no verified chain"
			return
		}
		got <- chains[0][0].Subject.CommonName
		_, _ = c.Write([]byte("ok"))
	}()
	if _, err := dial(ln.Addr().String(), &tls.Config{RootCAs: ca.Pool, ServerName: "localhost", Certificates: []tls.Certificate{cl.TLS}}); err != nil {
		t.Fatal(err)
	}
	if cn := <-got; cn != "machine-7" {
		t.Fatalf("verified client CN = %q", cn)
	}
}
