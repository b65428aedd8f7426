package engine

import (
	"bytes"
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// clientListener wraps the plain-TCP client listener so that each
// connection can (1) refuse a header block with bare LF or bare CR line
// endings as soon as its bytes show it, instead of waiting for a CRLFCRLF
// that never comes until read_timeout, and (2) close like nginx's lingering
// close after an early answer (a 413 to an upload still being sent): shut
// down the write side, then read and discard for a bounded time and size,
// so that the client reads the answer instead of a reset.
type clientListener struct{ net.Listener }

// wrapClientListener is the hook the server applies to its plain listener.
func wrapClientListener(ln net.Listener) net.Listener { return clientListener{ln} }

func (l clientListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &clientConn{Conn: c, state: scanHeader}, nil
}

// errBareLineEnding fails the header read of a request whose line endings
// are not CRLF; fasthttp answers it with a 400 and closes.
var errBareLineEnding = errors.New("request header line not terminated by CRLF")

// Header scanner states.
const (
	scanHeader = iota // reading a header block: scan line endings
	scanOff           // in a body or a handler: bytes are not ours to judge
)

// Lingering close bounds.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 1 << 20
)

// clientConn is a client connection with the header scanner and the
// lingering close.
type clientConn struct {
	net.Conn
	state int
	// started: a request line began (leading CRLFs are tolerated);
	// lineBytes: the current line has content; prevCR: the last byte read
	// was a CR (its LF may come in the next read).
	started, lineBytes, prevCR bool
	// ahead counts the bytes read since the end of the last header block
	// scanned: the request's body, plus whatever a pipelining client sent
	// after it. Scanning resumes only when exactly the body was read, so a
	// body can never be taken for a header block.
	ahead  int
	linger atomic.Bool
}

func (c *clientConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		if c.state == scanHeader {
			if !c.scan(p[:n]) {
				return 0, errBareLineEnding
			}
		} else {
			c.ahead += n
		}
	}
	return n, err
}

// scan checks the line endings of header bytes b up to the end of the
// header block; it returns false on a bare LF or a bare CR.
func (c *clientConn) scan(b []byte) bool {
	for len(b) > 0 {
		if c.prevCR {
			if b[0] != '\n' {
				return false // CR not followed by LF
			}
			c.prevCR = false
			b = b[1:]
			if !c.lineBytes && c.started {
				c.state = scanOff // CRLFCRLF: the header block is complete
				c.ahead = len(b)
				return true
			}
			c.lineBytes = false
			continue
		}
		i := bytes.IndexByte(b, '\n')
		line := b
		if i >= 0 {
			line = b[:i]
		}
		// The line's content may hold no CR; a CR may only end it.
		if j := bytes.IndexByte(line, '\r'); j >= 0 && j != len(line)-1 {
			return false
		}
		content := line
		endsCR := len(line) > 0 && line[len(line)-1] == '\r'
		if endsCR {
			content = line[:len(line)-1]
		}
		if len(content) > 0 {
			c.lineBytes, c.started = true, true
		}
		if i < 0 {
			c.prevCR = endsCR
			return true
		}
		if !endsCR {
			return false // LF without CR
		}
		b = b[i+1:]
		if !c.lineBytes && c.started {
			c.state = scanOff
			c.ahead = len(b)
			return true
		}
		c.lineBytes = false
	}
	return true
}

// requestDone is called when the handler is done with a request whose body
// of bodyLen bytes it read whole: when nothing else was read, the next bytes
// start another header block. Otherwise (a pipelining client, a chunked
// body) the connection is not scanned any more.
func (c *clientConn) requestDone(bodyLen int) {
	if c.state != scanOff || c.ahead != bodyLen {
		c.ahead = -1 << 30 // never equal again
		return
	}
	c.state = scanHeader
	c.started, c.lineBytes, c.prevCR = false, false, false
}

// lingerOnClose asks for a lingering close: the client may still be
// sending a body the gateway answered early.
func (c *clientConn) lingerOnClose() { c.linger.Store(true) }

func (c *clientConn) Close() error {
	tc, ok := tcpOf(c.Conn)
	if !c.linger.Load() || !ok {
		return c.Conn.Close()
	}
	// The answer is written: send FIN, keep reading so that the client's
	// pending bytes do not make our kernel answer them with a reset (which
	// can destroy the answer in the client's receive buffer).
	if err := tc.CloseWrite(); err != nil {
		return tc.Close()
	}
	go func() {
		defer tc.Close()
		deadline := time.Now().Add(lingerTime)
		_ = tc.SetReadDeadline(deadline)
		buf := make([]byte, 16<<10)
		for total := 0; total < lingerBytes; {
			n, err := tc.Read(buf)
			total += n
			if err != nil {
				return
			}
		}
	}()
	return nil
}

// afterRequest tells the client connection how the request ended: a body
// read whole means the next bytes are a header block to scan; a body left
// unread on a closing connection asks for a lingering close; a hijacked
// connection (WebSocket) is never scanned again.
func afterRequest(ctx *fasthttp.RequestCtx) {
	c, ok := ctx.Conn().(*clientConn)
	if !ok {
		return
	}
	if ctx.Hijacked() || ctx.Response.StatusCode() == fasthttp.StatusSwitchingProtocols {
		// Another protocol (WebSocket) takes the connection over.
		c.state = scanOff
		return
	}
	if !ctx.Request.IsBodyStream() {
		// A buffered body's length; 0 without one.
		c.requestDone(len(ctx.Request.Body()))
	} else if ctx.Response.ConnectionClose() {
		c.lingerOnClose()
	}
}

// tcpOf finds the TCP connection under c (a PROXY protocol connection's
// header is read by then: what follows is the client's bytes).
func tcpOf(c net.Conn) (*net.TCPConn, bool) {
	switch v := c.(type) {
	case *net.TCPConn:
		return v, true
	case *proxyConn:
		return tcpOf(v.Conn)
	}
	return nil, false
}
