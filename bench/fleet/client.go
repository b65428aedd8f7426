package fleet

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// client is an HTTP/1.1 keep-alive client that never retries: one request on
// one connection, and an error is the caller's failure. (Go's http.Transport
// and fasthttp's client re-send idempotent requests on a closed keep-alive
// connection, which hides exactly the failures a drain must avoid.) It
// honours Connection: close by dialling anew for the next request.
type client struct {
	addr    string
	local   *net.TCPAddr // source address; nil for the default
	timeout time.Duration
	// proxyV1 starts each connection with a PROXY v1 header naming the
	// connection's own addresses, as a balancer would, to reach an instance
	// with proxy_protocol: required directly.
	proxyV1 bool

	conn net.Conn
	br   *bufio.Reader
	req  []byte
	resp fasthttp.Response
}

func newClient(addr string, local *net.TCPAddr) *client {
	return &client{addr: addr, local: local, timeout: 5 * time.Second}
}

// result is one answer: status, whether the server asked to close the
// connection, and the body when asked for.
type result struct {
	status int
	closed bool
	body   []byte
}

var errNoAnswer = errors.New("connection closed without an answer")

// get sends GET path and reads the answer. Any failure closes the connection;
// the next call dials again.
func (c *client) get(path string, wantBody bool) (result, error) {
	if c.conn == nil {
		d := net.Dialer{Timeout: c.timeout}
		if c.local != nil {
			d.LocalAddr = c.local
		}
		conn, err := d.Dial("tcp", c.addr)
		if err != nil {
			return result{}, fmt.Errorf("dial: %w", err)
		}
		c.conn = conn
		if c.proxyV1 {
			src, dst := conn.LocalAddr().(*net.TCPAddr), conn.RemoteAddr().(*net.TCPAddr)
			hdr := fmt.Sprintf("PROXY TCP4 %s %s %d %d\r\n", src.IP, dst.IP, src.Port, dst.Port)
			if _, err := conn.Write([]byte(hdr)); err != nil {
				c.close()
				return result{}, fmt.Errorf("write PROXY header: %w", err)
			}
		}
		if c.br == nil {
			c.br = bufio.NewReaderSize(conn, 4096)
		} else {
			c.br.Reset(conn)
		}
	}
	_ = c.conn.SetDeadline(time.Now().Add(c.timeout))
	c.req = append(c.req[:0], "GET "...)
	c.req = append(c.req, path...)
	c.req = append(c.req, " HTTP/1.1\r\nHost: fleet.test\r\nUser-Agent: sluice-fleet\r\n\r\n"...)
	if _, err := c.conn.Write(c.req); err != nil {
		c.close()
		return result{}, fmt.Errorf("write: %w", err)
	}
	c.resp.Reset()
	if err := c.resp.Read(c.br); err != nil {
		c.close()
		if errors.Is(err, io.EOF) {
			return result{}, errNoAnswer
		}
		return result{}, fmt.Errorf("read: %w", err)
	}
	r := result{status: c.resp.StatusCode(), closed: c.resp.ConnectionClose()}
	if wantBody {
		r.body = append([]byte(nil), c.resp.Body()...)
	}
	if r.closed {
		c.close()
	}
	return r, nil
}

func (c *client) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}
