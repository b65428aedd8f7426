package engine

import (
	"bytes"
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
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

// errBadFieldName fails the header read of a request with a header field
// name that is not an RFC 9110 token (or a line without a colon) as soon as
// its bytes arrive, rather than when the block completes: a client sending a
// broken block slowly gets its 400 at once, not after read_timeout.
var errBadFieldName = errors.New("malformed header field name")

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
	// inHeaders: the request line is complete, lines are header fields;
	// inValue: the current field's colon was seen (its name was checked).
	inHeaders, inValue bool
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
			if err := c.scan(p[:n]); err != nil {
				return 0, err
			}
		} else {
			c.ahead += n
		}
	}
	return n, err
}

// scan checks header bytes b up to the end of the header block: line
// endings (a bare LF or a bare CR is errBareLineEnding) and field names
// (errBadFieldName). It returns nil while the block is sound so far.
func (c *clientConn) scan(b []byte) error {
	for len(b) > 0 {
		if c.prevCR {
			if b[0] != '\n' {
				return errBareLineEnding // CR not followed by LF
			}
			c.prevCR = false
			b = b[1:]
			if err := c.endLine(len(b)); err != nil || c.state == scanOff {
				return err
			}
			continue
		}
		i := bytes.IndexByte(b, '\n')
		line := b
		if i >= 0 {
			line = b[:i]
		}
		// The line's content may hold no CR; a CR may only end it.
		if j := bytes.IndexByte(line, '\r'); j >= 0 && j != len(line)-1 {
			return errBareLineEnding
		}
		content := line
		endsCR := len(line) > 0 && line[len(line)-1] == '\r'
		if endsCR {
			content = line[:len(line)-1]
		}
		if len(content) > 0 {
			if c.inHeaders && !c.inValue {
				name := content
				if k := bytes.IndexByte(content, ':'); k >= 0 {
					name = content[:k]
					c.inValue = true
					if k == 0 && !c.lineBytes {
						return errBadFieldName // an empty name
					}
				}
				if !httpbytes.ValidTokenBytes(name) && len(name) > 0 {
					return errBadFieldName
				}
			}
			c.lineBytes, c.started = true, true
		}
		if i < 0 {
			c.prevCR = endsCR
			return nil
		}
		if !endsCR {
			return errBareLineEnding // LF without CR
		}
		b = b[i+1:]
		if err := c.endLine(len(b)); err != nil || c.state == scanOff {
			return err
		}
	}
	return nil
}

// endLine handles a CRLF; rest bytes of the read follow it. An empty line
// after the request line ends the block; a header line must have had its
// colon.
func (c *clientConn) endLine(rest int) error {
	switch {
	case !c.lineBytes && c.started:
		c.state = scanOff // CRLFCRLF: the header block is complete
		c.ahead = rest
		return nil
	case c.lineBytes && c.inHeaders && !c.inValue:
		return errBadFieldName // a header line without a colon
	case c.lineBytes:
		c.inHeaders = true // the request line, or a header line, is done
	}
	c.lineBytes, c.inValue = false, false
	return nil
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
	c.inHeaders, c.inValue = false, false
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
