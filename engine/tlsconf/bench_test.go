package tlsconf

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/sluice-gw/sluice/engine/tlsconf/tlstest"
)

// benchPKI returns a server config with one ECDSA P-256 leaf for 127.0.0.1
// and a client config trusting it.
func benchPKI(b *testing.B) (srv, cli *tls.Config) {
	ca := tlstest.NewCA(b, "bench-ca")
	leaf := ca.Server(b, []string{"127.0.0.1"}, tlstest.Options{})
	srv, err := Server(&ServerOptions{Certificates: []CertFiles{{CertFile: leaf.CertFile, KeyFile: leaf.KeyFile}}})
	if err != nil {
		b.Fatal(err)
	}
	cli, err = Upstream(UpstreamOptions{CAFile: ca.CertFile})
	if err != nil {
		b.Fatal(err)
	}
	return srv, cli
}

// handshakeListener accepts TLS connections, completes each handshake, writes
// one byte and closes. The client reads that byte, as a real client reads a
// response, which is also when it receives TLS 1.3 session tickets.
func handshakeListener(b *testing.B, tc *tls.Config) string {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tc)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = c.Write([]byte{1})
				}
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// BenchmarkHandshake measures new TLS connections on loopback with an ECDSA
// P-256 certificate: ns/op is one TCP connect plus one handshake, client and
// server CPU both included (same process).
func BenchmarkHandshake(b *testing.B) {
	srvCfg, cliBase := benchPKI(b)
	addr := handshakeListener(b, srvCfg)
	cases := []struct {
		name    string
		version uint16
		resume  bool
		classic bool // X25519 only, no post-quantum hybrid key share
	}{
		{"TLS13-full", tls.VersionTLS13, false, false},
		{"TLS13-full-X25519", tls.VersionTLS13, false, true},
		{"TLS12-full", tls.VersionTLS12, false, false},
		{"TLS13-resumed", tls.VersionTLS13, true, false},
		{"TLS12-resumed", tls.VersionTLS12, true, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			cc := ForTarget(cliBase, addr).Clone()
			cc.MaxVersion = c.version
			if c.classic {
				cc.CurvePreferences = []tls.CurveID{tls.X25519}
			}
			if c.resume {
				cc.ClientSessionCache = tls.NewLRUClientSessionCache(1)
			} else {
				cc.ClientSessionCache = nil
			}
			b.ReportAllocs()
			start := time.Now()
			n := 0
			var one [1]byte
			for b.Loop() {
				raw, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				conn := tls.Client(raw, cc)
				if err := conn.Handshake(); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(conn, one[:]); err != nil {
					b.Fatal(err)
				}
				if c.resume && n > 0 && !conn.ConnectionState().DidResume {
					b.Fatal("session not resumed")
				}
				conn.Close()
				n++
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "handshakes/s")
		})
	}
}

// BenchmarkHandshakeParallel is BenchmarkHandshake/TLS13-full with
// concurrent clients: ns/op is the inverse of the handshake rate the machine
// sustains when client and server share its cores.
func BenchmarkHandshakeParallel(b *testing.B) {
	srvCfg, cliBase := benchPKI(b)
	addr := handshakeListener(b, srvCfg)
	cc := ForTarget(cliBase, addr).Clone()
	cc.ClientSessionCache = nil
	b.SetParallelism(4)
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var one [1]byte
		for pb.Next() {
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			conn := tls.Client(raw, cc)
			if err := conn.Handshake(); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(conn, one[:]); err != nil {
				b.Fatal(err)
			}
			conn.Close()
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "handshakes/s")
}

// BenchmarkKeepAlive compares keep-alive request throughput of one fasthttp
// server behind tls.NewListener against the same server in plain text, with
// 8 parallel clients on pooled loopback connections.
func BenchmarkKeepAlive(b *testing.B) {
	srvCfg, cliBase := benchPKI(b)
	body := []byte(`{"sku":"A-1","name":"widget","price":1299}`)
	handler := func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	}
	for _, secure := range []bool{false, true} {
		name := "plain"
		if secure {
			name = "tls"
		}
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			s := &fasthttp.Server{Handler: handler}
			served := ln
			if secure {
				served = tls.NewListener(ln, srvCfg)
			}
			go func() { _ = s.Serve(served) }()
			b.Cleanup(func() { _ = s.Shutdown() })
			scheme := "http"
			if secure {
				scheme = "https"
			}
			hc := &fasthttp.HostClient{Addr: ln.Addr().String(), IsTLS: secure, TLSConfig: cliBase, MaxConns: 64}
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				req.SetRequestURI(scheme + "://" + ln.Addr().String() + "/api/catalog/A-1")
				for pb.Next() {
					if err := hc.DoTimeout(req, resp, 5*time.Second); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
