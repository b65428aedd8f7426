package engine

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
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
	pl := newProxyListener(ln, proxyRequired, trustLoopback(t), 5*time.Second, testProxyErrors)
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
	// A lingering close can half-close through the wrapper.
	if err := pc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(client)
	if err != nil || len(got) != 201 {
		t.Errorf("after CloseWrite: %d bytes, %v; want the 201 written and EOF", len(got), err)
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
				l = newProxyListener(ln, proxyRequired, forward.NewProxies([]netip.Prefix{pfx}), 5*time.Second, testProxyErrors)
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

// memConn is a net.Conn reading from a fixed byte string.
type memConn struct {
	net.Conn
	data []byte
}

func (m *memConn) Read(b []byte) (int, error) {
	if len(m.data) == 0 {
		return 0, io.EOF
	}
	n := copy(b, m.data)
	m.data = m.data[n:]
	return n, nil
}
func (m *memConn) Write(b []byte) (int, error)      { return len(b), nil }
func (m *memConn) Close() error                     { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (m *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzProxyConn: any opening bytes either yield a usable connection with a
// client address, or a failed one that answers nothing; never a panic.
func FuzzProxyConn(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.7 127.0.0.1 4000 80\r\nGET / HTTP/1.1\r\n\r\n"), true)
	f.Add([]byte("PROXY UNKNOWN\r\n"), false)
	f.Add([]byte("PROXY TCP6 ::1 ::1 1 2\r\n"), true)
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xcb\x00\x71\x07\x7f\x00\x00\x01\x0f\xa0\x00\x50"), true)
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"), true)
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, required bool) {
		c := &proxyConn{Conn: &memConn{data: append([]byte(nil), data...)}, required: required, timeout: time.Second, errs: testProxyErrors}
		buf := make([]byte, 64)
		var err error
		for range 1000 {
			if _, err = c.Read(buf); err != nil {
				break
			}
		}
		if c.RemoteAddr() == nil {
			t.Fatal("nil RemoteAddr")
		}
		_ = c.RemoteAddr().String()
		if c.state.Load() == ppFailed {
			if _, werr := c.Write([]byte("x")); werr == nil {
				t.Fatal("a failed connection accepted a write")
			}
		}
	})
}

// TestLingeringCloseThroughProxyConn: the client connection's lingering
// close half-closes through a proxyConn, so a client with unread bytes in
// flight reads a clean end instead of a reset.
func TestLingeringCloseThroughProxyConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pl := newProxyListener(ln, proxyOptional, trustLoopback(t), 5*time.Second, testProxyErrors)
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := pl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	client.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	buf := make([]byte, 64)
	if _, err := server.Read(buf); err != nil {
		t.Fatal(err)
	}
	// Bytes the server never reads (the rest of an upload it answered early).
	client.Write(make([]byte, 64<<10))
	time.Sleep(50 * time.Millisecond)
	cc := &clientConn{Conn: server, state: scanOff}
	cc.lingerOnClose()
	cc.Close()
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(buf); err != io.EOF {
		t.Errorf("client read after the lingering close: %v, want a clean EOF (not a reset)", err)
	}
}

// FuzzHeaderScanner: the client connection's header scanner must give the
// same verdict (refused or not) however the bytes are split across reads (a request trickled
// byte by byte is judged like one read at once), and never panic.
func FuzzHeaderScanner(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"\r\nGET / HTTP/1.1\r\nHost: a\r\nX-A: b:c\r\n\r\nbody",
		"GET / HTTP/1.1\r\nBad Name: x\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
		"GET / HTTP/1.1\r\n: x\r\n\r\n",
		"GET / HTTP/1.1\r\n folded\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, step uint8) {
		whole := &clientConn{state: scanHeader}
		want := whole.scan(b)
		n := int(step%16) + 1
		split := &clientConn{state: scanHeader}
		var got error
		for i := 0; i < len(b) && got == nil && split.state == scanHeader; i += n {
			got = split.scan(b[i:min(i+n, len(b))])
		}
		// Which of two faults a line shows first may differ (both are a
		// 400); whether the bytes are refused may not.
		if (got == nil) != (want == nil) {
			t.Fatalf("%q: whole read %v, reads of %d bytes %v", b, want, n, got)
		}
		if want == nil && whole.state != split.state {
			t.Fatalf("%q: block end seen whole=%v split=%v", b, whole.state == scanOff, split.state == scanOff)
		}
	})
}

// testProxyErrors counts the PROXY protocol failures of these tests.
var testProxyErrors = newProxyErrors(metrics.NewSet())
