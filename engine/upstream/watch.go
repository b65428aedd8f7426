package upstream

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// An answer that streams to the client (chunked, or longer than
// BufferLimit) is read by the server while it writes it out, after Do has
// returned; fasthttp then closes the client connection on a read error, but
// tells nobody. So each upstream connection is watched: while it carries a
// streamed body, a failed read is a truncated answer and is counted.

// watchedConn is an upstream connection that counts a read failure while it
// carries a streamed answer's body.
type watchedConn struct {
	net.Conn
	t   *Target
	key netip.AddrPort
	// streaming is set while a streamed body is being read from the
	// connection; the next request written (or closing) clears it.
	streaming atomic.Bool
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && c.streaming.Swap(false) {
		c.t.service.CountTruncated()
	}
	return n, err
}

func (c *watchedConn) Write(p []byte) (int, error) {
	c.streaming.Store(false)
	return c.Conn.Write(p)
}

// Close is also how fasthttp interrupts a stream the client stopped
// reading: that is no truncation by the upstream.
func (c *watchedConn) Close() error {
	c.streaming.Store(false)
	c.t.conns.Delete(c.key)
	return c.Conn.Close()
}

// watch wraps a freshly dialed connection of t.
func (t *Target) watch(c net.Conn) net.Conn {
	a, ok := c.LocalAddr().(*net.TCPAddr)
	if !ok {
		return c
	}
	w := &watchedConn{Conn: c, t: t, key: a.AddrPort()}
	t.conns.Store(w.key, w)
	return w
}

// watchStream marks the connection resp streams from, when its body has a
// known end (chunked or a Content-Length): a close-delimited body ends with
// the connection, so its end is no failure.
func (t *Target) watchStream(resp *fasthttp.Response) {
	if cl := resp.Header.ContentLength(); cl != -1 && cl <= BufferLimit {
		return
	}
	a, ok := resp.LocalAddr().(*net.TCPAddr)
	if !ok {
		return
	}
	if w, ok := t.conns.Load(a.AddrPort()); ok {
		w.(*watchedConn).streaming.Store(true)
	}
}

// connRegistry maps the local address of each open upstream connection of a
// target to its watchedConn.
type connRegistry = sync.Map
