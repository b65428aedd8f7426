package forward

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func ctxFrom(peer string, xff string) *fasthttp.RequestCtx {
	ctx := &fasthttp.RequestCtx{}
	ip, port, _ := net.SplitHostPort(peer)
	addr := &net.TCPAddr{IP: net.ParseIP(ip)}
	_ = port
	ctx.Init(&fasthttp.Request{}, addr, nil)
	if xff != "" {
		ctx.Request.Header.Set(HeaderXFF, xff)
	}
	return ctx
}

func proxies(t *testing.T, cidrs ...string) *Proxies {
	var pfx []netip.Prefix
	for _, c := range cidrs {
		p, err := ParseTrusted(c)
		if err != nil {
			t.Fatal(err)
		}
		pfx = append(pfx, p)
	}
	return NewProxies(pfx)
}

func TestClientIP(t *testing.T) {
	p := proxies(t, "10.0.0.0/8", "192.0.2.1")
	cases := []struct {
		peer, xff, want string
		trusted         bool
	}{
		{"203.0.113.9:1", "", "203.0.113.9", false},
		{"203.0.113.9:1", "1.2.3.4", "203.0.113.9", false},            // untrusted peer: XFF ignored
		{"10.1.1.1:1", "1.2.3.4", "1.2.3.4", true},                    // trusted peer: believed
		{"10.1.1.1:1", "6.6.6.6, 1.2.3.4, 10.2.2.2", "1.2.3.4", true}, // rightmost not trusted
		{"10.1.1.1:1", "1.2.3.4,192.0.2.1", "1.2.3.4", true},          // bare address trusted
		{"10.1.1.1:1", "garbage, 10.3.3.3", "10.1.1.1", true},         // unparsable: stop at the peer
		{"10.1.1.1:1", "[2001:db8::1]:443", "2001:db8::1", true},      // bracketed v6 with port
		{"10.1.1.1:1", "", "10.1.1.1", true},                          // no XFF
		{"10.1.1.1:1", "10.9.9.9, 10.8.8.8", "10.1.1.1", true},        // all trusted
		{"[::ffff:10.1.1.1]:1", "1.2.3.4", "1.2.3.4", true},           // v4-mapped peer
		{"10.1.1.1:1", "1.2.3.4:5678", "1.2.3.4", true},               // v4 with port
	}
	for _, c := range cases {
		got, trusted := p.ClientIP(nil, ctxFrom(c.peer, c.xff))
		if string(got) != c.want || trusted != c.trusted {
			t.Errorf("peer %s xff %q: got %s trusted=%v, want %s trusted=%v", c.peer, c.xff, got, trusted, c.want, c.trusted)
		}
	}
}

func TestParseTrusted(t *testing.T) {
	for _, bad := range []string{"", "10.0.0.0/33", "nope", "1.2.3"} {
		if _, err := ParseTrusted(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if p, err := ParseTrusted("::1"); err != nil || p.Bits() != 128 {
		t.Errorf("::1 -> %v %v", p, err)
	}
}

func TestValidRequestID(t *testing.T) {
	for id, want := range map[string]bool{
		"abc": true, strings.Repeat("x", 128): true, strings.Repeat("x", 129): false,
		"": false, "a b": false, "tab\t": false, "é": false, "!~": true,
	} {
		if ValidRequestID([]byte(id)) != want {
			t.Errorf("ValidRequestID(%q) != %v", id, want)
		}
	}
	if id := AppendRequestID(nil); len(id) != 32 || !ValidRequestID(id) {
		t.Errorf("generated id %q", id)
	}
}

func TestTraceparent(t *testing.T) {
	in := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	out := string(Traceparent(nil, []byte(in)))
	if out[:36] != in[:36] || out[52:] != in[52:] || out[36:52] == in[36:52] || !validTraceparent([]byte(out)) {
		t.Errorf("kept %q -> %q", in, out)
	}
	for _, bad := range []string{"", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"} {
		out := string(Traceparent(nil, []byte(bad)))
		if !validTraceparent([]byte(out)) || (len(bad) > 35 && out[3:35] == bad[3:35]) {
			t.Errorf("invalid %q -> %q, want a new valid trace", bad, out)
		}
	}
}

func TestRemoveHopByHop(t *testing.T) {
	var h fasthttp.RequestHeader
	h.Set("Connection", "X-A, close, X-B")
	for _, k := range []string{"X-A", "X-B", "Keep-Alive", "TE", "Trailer", "Upgrade", "Proxy-Authorization", "Proxy-Custom", "X-Keep"} {
		h.Set(k, "1")
	}
	RemoveHopByHop(&h, nil)
	for _, k := range []string{"Connection", "X-A", "X-B", "Keep-Alive", "TE", "Trailer", "Upgrade", "Proxy-Authorization", "Proxy-Custom"} {
		if len(h.Peek(k)) != 0 {
			t.Errorf("%s survived", k)
		}
	}
	if string(h.Peek("X-Keep")) != "1" {
		t.Errorf("end-to-end header removed")
	}

	var r fasthttp.ResponseHeader
	r.Set("Connection", "X-Up")
	r.Set("X-Up", "1")
	r.Set("Proxy-Foo", "1")
	r.SetConnectionClose()
	Response(&r, nil)
	if len(r.Peek("X-Up")) != 0 || len(r.Peek("Proxy-Foo")) != 0 || r.ConnectionClose() {
		t.Errorf("response hop-by-hop kept: %s", r.String())
	}
}

func TestHopByHopZeroAllocs(t *testing.T) {
	var h fasthttp.RequestHeader
	h.Set("X-Keep", "1")
	scratch := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { scratch = RemoveHopByHop(&h, scratch) }); n != 0 {
		t.Errorf("RemoveHopByHop allocates %v times", n)
	}
}

// FuzzForwardingHeaders feeds arbitrary X-Forwarded-For, traceparent and
// Connection values: nothing panics, the client address is always a valid IP,
// and the traceparent sent upstream is always valid.
func FuzzForwardingHeaders(f *testing.F) {
	f.Add("1.2.3.4, 10.0.0.1", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "X-A, close")
	f.Add("[::1]:80,,", "garbage", ",,,")
	p := NewProxies([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")})
	f.Fuzz(func(t *testing.T, xff, tp, conn string) {
		ctx := ctxFrom("127.0.0.1:1", "")
		ctx.Request.Header.Set(HeaderXFF, xff)
		ip, _ := p.ClientIP(nil, ctx)
		if _, err := netip.ParseAddr(string(ip)); err != nil {
			t.Fatalf("client ip %q from xff %q", ip, xff)
		}
		if out := Traceparent(nil, []byte(tp)); !validTraceparent(out) {
			t.Fatalf("traceparent %q from %q", out, tp)
		}
		ctx.Request.Header.Set("Connection", conn)
		RemoveHopByHop(&ctx.Request.Header, nil)
		if len(ctx.Request.Header.Peek("Connection")) != 0 {
			t.Fatal("Connection kept")
		}
	})
}
