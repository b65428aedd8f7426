package engine

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/forward"
)

// TestProxyConnNoAllocsAfterHeader: once the header is read, a request's
// socket work through a proxyConn (deadline, reads, the client address)
// allocates nothing, like the bare connection.
func TestProxyConnNoAllocsAfterHeader(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pl := newProxyListener(ln, proxyRequired, trustLoopback(t), 5*time.Second)
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := pl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	pc := server.(*proxyConn)

	msg := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	client.Write(append([]byte("PROXY TCP4 203.0.113.7 127.0.0.1 4000 80\r\n"), msg...))
	buf := make([]byte, 4096)
	if n, err := pc.Read(buf); err != nil || string(buf[:n]) != string(msg) {
		t.Fatalf("first read %q %v", buf[:n], err)
	}
	if got := pc.RemoteAddr().String(); got != "203.0.113.7:4000" {
		t.Fatalf("RemoteAddr %s", got)
	}
	allocs := testing.AllocsPerRun(200, func() {
		client.Write(msg)
		pc.SetReadDeadline(time.Now().Add(time.Second))
		n := 0
		for n < len(msg) {
			m, err := pc.Read(buf[n:])
			if err != nil {
				t.Fatal(err)
			}
			n += m
		}
		_ = pc.RemoteAddr()
		pc.Write(msg[:1])
	})
	if allocs != 0 {
		t.Errorf("%v allocations per request after the header, want 0", allocs)
	}
}

func trustLoopback(t *testing.T) *forward.Proxies {
	pfx, err := forward.ParseTrusted("127.0.0.1/32")
	if err != nil {
		t.Fatal(err)
	}
	return forward.NewProxies([]netip.Prefix{pfx})
}

// BenchmarkConnRead is a request's socket work (deadline, read, client
// address) on a bare TCP connection and on a proxyConn after its header:
// the per-request cost of the PROXY layer alone.
func BenchmarkConnRead(b *testing.B) {
	for _, proxied := range []bool{false, true} {
		name := "raw"
		if proxied {
			name = "proxy"
		}
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			var l net.Listener = ln
			if proxied {
				pfx, _ := forward.ParseTrusted("127.0.0.1/32")
				l = newProxyListener(ln, proxyRequired, forward.NewProxies([]netip.Prefix{pfx}), 5*time.Second)
			}
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer client.Close()
			server, err := l.Accept()
			if err != nil {
				b.Fatal(err)
			}
			defer server.Close()
			msg := []byte("GET /api/products/abc HTTP/1.1\r\nHost: gateway\r\nUser-Agent: bench\r\n\r\n")
			buf := make([]byte, 4096)
			if proxied {
				client.Write([]byte("PROXY TCP4 203.0.113.7 127.0.0.1 4000 80\r\n"))
			}
			read := func() {
				client.Write(msg)
				server.SetReadDeadline(time.Now().Add(time.Second))
				for n := 0; n < len(msg); {
					m, err := server.Read(buf[n:])
					if err != nil {
						b.Fatal(err)
					}
					n += m
				}
				_ = server.RemoteAddr()
			}
			read()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				read()
			}
		})
	}
}
