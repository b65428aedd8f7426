package engine

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/pires/go-proxyproto"
	"github.com/sluice-gw/sluice/engine/forward"
)

// proxyMode is server.proxy_protocol compiled.
type proxyMode uint8

const (
	proxyOff proxyMode = iota
	proxyOptional
	proxyRequired
)

// listenerSettings are the client listener's socket-level settings.
type listenerSettings struct {
	proxy     proxyMode
	reusePort bool
}

// listenClient binds the client listener: SO_REUSEPORT when asked, and the
// PROXY protocol reader around the raw TCP listener (under TLS, since the
// header comes before the handshake).
func (e *Engine) listenClient() (net.Listener, error) {
	st := &e.server
	var ln net.Listener
	var err error
	if st.listener.reusePort {
		ln, err = listenReusePort(st.listen)
	} else {
		ln, err = net.Listen("tcp", st.listen)
	}
	if err != nil {
		return nil, err
	}
	if st.listener.proxy != proxyOff {
		ln = newProxyListener(ln, st.listener.proxy, e.proxies, st.readTimeout, e.proxyErrors)
	}
	return ln, nil
}

// listenAdmin binds the admin listener, with SO_REUSEPORT like the client
// listener: during a handover the new process binds the same admin address,
// and its /readyz is the one answered there.
func (e *Engine) listenAdmin() (net.Listener, error) {
	if e.server.listener.reusePort {
		return listenReusePort(e.server.adminListen)
	}
	return net.Listen("tcp", e.server.adminListen)
}

// proxyErrors count PROXY protocol failures by reason, in the engine's set.
// A connection closed before it sent a byte is not one (TCP health checks do
// that).
type proxyErrors struct {
	untrusted, missing, malformed, oversized, timeout *metrics.Counter
}

func newProxyErrors(set *metrics.Set) *proxyErrors {
	c := func(reason string) *metrics.Counter {
		return set.GetOrCreateCounter(`sluice_proxy_protocol_errors_total{reason="` + reason + `"}`)
	}
	return &proxyErrors{untrusted: c("untrusted"), missing: c("missing"), malformed: c("malformed"),
		oversized: c("oversized"), timeout: c("timeout")}
}

// proxyListener reads a PROXY protocol header (v1 or v2, parsed by
// go-proxyproto) at the start of connections from trusted proxies. Accept
// does no I/O: the header is read by the connection's first Read, on the
// goroutine that serves it, so a slow or silent peer never holds up the
// accept loop or other connections.
type proxyListener struct {
	net.Listener
	mode    proxyMode
	trusted *forward.Proxies
	timeout time.Duration
	errs    *proxyErrors
}

func newProxyListener(ln net.Listener, mode proxyMode, trusted *forward.Proxies, timeout time.Duration, errs *proxyErrors) *proxyListener {
	return &proxyListener{Listener: ln, mode: mode, trusted: trusted, timeout: timeout, errs: errs}
}

// Accept returns the next connection. A connection from a peer outside
// trusted_proxies is closed at once under required, and is a plain
// connection under optional (a header it sends is not believed: it is not
// HTTP and gets a 400).
func (l *proxyListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if !l.trusted.Trusted(tcpAddr(c.RemoteAddr())) {
			if l.mode == proxyRequired {
				l.errs.untrusted.Inc()
				_ = c.Close()
				continue
			}
			return c, nil
		}
		pc := &proxyConn{Conn: c, required: l.mode == proxyRequired, timeout: l.timeout, errs: l.errs}
		if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			pc.remote.Store(ta)
		}
		return pc, nil
	}
}

func tcpAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// Connection states of a proxyConn.
const (
	ppPending uint32 = iota
	ppReady
	ppFailed
)

// errProxyHeader is returned by Write on a connection whose header failed,
// so nothing is ever answered on it.
var errProxyHeader = errors.New("proxy protocol header failed")

// proxyConn is a trusted peer's connection. Its first Read consumes the
// PROXY header; RemoteAddr then returns the address the header carries (the
// TCP peer for a v2 LOCAL or v1 UNKNOWN header, or without a header under
// optional). After the header, Read goes straight to the socket once the
// few bytes read ahead are handed out: nothing is allocated per request.
type proxyConn struct {
	net.Conn
	br       *bufio.Reader // read-ahead of the header phase; nil once drained
	remote   atomic.Pointer[net.TCPAddr]
	deadline atomic.Int64 // the server's read deadline (UnixNano, 0 = none)
	state    atomic.Uint32
	required bool
	timeout  time.Duration
	errs     *proxyErrors
}

// Read reads the header on the first call, then the connection's bytes.
func (c *proxyConn) Read(b []byte) (int, error) {
	if c.state.Load() != ppReady {
		if err := c.readHeader(); err != nil {
			return 0, err
		}
	}
	if c.br != nil {
		if c.br.Buffered() > 0 {
			n, err := c.br.Read(b)
			if c.br.Buffered() == 0 {
				c.br = nil
			}
			return n, err
		}
		c.br = nil
	}
	return c.Conn.Read(b)
}

// Write refuses to answer on a connection whose header failed.
func (c *proxyConn) Write(b []byte) (int, error) {
	if c.state.Load() == ppFailed {
		return 0, errProxyHeader
	}
	return c.Conn.Write(b)
}

// CloseWrite half-closes the socket (for a lingering close), when the
// connection underneath supports it.
func (c *proxyConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// RemoteAddr returns the client address: the header's source when one was
// believed, else the TCP peer.
func (c *proxyConn) RemoteAddr() net.Addr {
	if a := c.remote.Load(); a != nil {
		return a
	}
	return c.Conn.RemoteAddr()
}

// SetReadDeadline records the server's deadline so the header phase can put
// it back after using its own.
func (c *proxyConn) SetReadDeadline(t time.Time) error {
	c.deadline.Store(unixNano(t))
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline is SetReadDeadline plus the write deadline.
func (c *proxyConn) SetDeadline(t time.Time) error {
	c.deadline.Store(unixNano(t))
	return c.Conn.SetDeadline(t)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// readHeader consumes the PROXY header within the read timeout (or the
// server's own earlier deadline). On failure it counts the reason, closes
// the socket and returns io.EOF so the server closes the connection without
// an answer.
func (c *proxyConn) readHeader() error {
	if c.state.Load() == ppFailed {
		return io.EOF
	}
	dl := time.Now().Add(c.timeout)
	if d := c.deadline.Load(); d != 0 && d < dl.UnixNano() {
		dl = time.Unix(0, d)
	}
	if err := c.Conn.SetReadDeadline(dl); err != nil {
		return c.fail(nil, dl)
	}
	c.br = bufio.NewReaderSize(c.Conn, 256)
	h, err := c.parse()
	if err != nil {
		return c.fail(err, dl)
	}
	if h != nil && !h.Command.IsLocal() {
		if a := headerSource(h); a != nil {
			c.remote.Store(a)
		}
	}
	var restore time.Time
	if d := c.deadline.Load(); d != 0 {
		restore = time.Unix(0, d)
	}
	if err := c.Conn.SetReadDeadline(restore); err != nil {
		return c.fail(nil, dl)
	}
	c.state.Store(ppReady)
	return nil
}

// errPeerClosed marks a peer that sent no byte before it closed or the
// deadline passed (a TCP health check, an unused pre-opened connection):
// closed like an idle connection, not counted as a header error.
var errPeerClosed = errors.New("peer closed before the header")

// errOversized marks a v2 header longer than the library accepts.
var errOversized = errors.New("proxy protocol header too long")

// parse returns the header, nil without one (optional), or the error.
func (c *proxyConn) parse() (*proxyproto.Header, error) {
	first, err := c.br.Peek(1)
	if err != nil {
		return nil, errPeerClosed
	}
	if first[0] == proxyproto.SIGV2[0] {
		// Refuse an oversized v2 header before the library reads it.
		if p, err := c.br.Peek(16); err == nil && string(p[:12]) == string(proxyproto.SIGV2) &&
			binary.BigEndian.Uint16(p[14:16]) > proxyproto.MaxV2HeaderSize {
			return nil, errOversized
		}
	}
	h, err := proxyproto.Read(c.br)
	if errors.Is(err, proxyproto.ErrNoProxyProtocol) {
		if c.required {
			return nil, err
		}
		return nil, nil
	}
	return h, err
}

// fail counts why the header failed and closes the connection. A peer that
// sent nothing is not counted. Any failure at or after the
// header deadline is a timeout (the library reports a cut v1 line as
// unreadable).
func (c *proxyConn) fail(err error, deadline time.Time) error {
	c.state.Store(ppFailed)
	var ne net.Error
	switch {
	case err == nil, errors.Is(err, net.ErrClosed): // the server closed it (shutdown)
	case errors.Is(err, errPeerClosed):
	case errors.As(err, &ne) && ne.Timeout(), !time.Now().Before(deadline):
		c.errs.timeout.Inc()
	case errors.Is(err, proxyproto.ErrNoProxyProtocol):
		c.errs.missing.Inc()
	case errors.Is(err, errOversized), errors.Is(err, proxyproto.ErrVersion1HeaderTooLong):
		c.errs.oversized.Inc()
	default:
		c.errs.malformed.Inc()
	}
	_ = c.Conn.Close()
	return io.EOF
}

// headerSource converts the header's source to a *net.TCPAddr (the server's
// notion of a client address); nil when it carries none usable.
func headerSource(h *proxyproto.Header) *net.TCPAddr {
	switch a := h.SourceAddr.(type) {
	case *net.TCPAddr:
		return a
	case *net.UDPAddr:
		return &net.TCPAddr{IP: a.IP, Port: a.Port, Zone: a.Zone}
	}
	return nil
}
