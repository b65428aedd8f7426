package engine_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMalformedFramingAnsweredPromptly sends requests whose bytes already
// show they cannot be served and expects an answer (a 400 or a close) long
// before read_timeout, with the connection left open by the client.
func TestMalformedFramingAnsweredPromptly(t *testing.T) {
	echo := startUpstream(t, "echo")
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off", "read_timeout": "30s", "idle_timeout": "30s"},
  "services": {"echo": {"targets": [%q]}},
  "routes": [{"name": "r", "path": "/*", "service": "echo"}]
}`, echo.addr))
	cases := map[string]string{
		"bare LF":                 "GET / HTTP/1.1\nHost: a\n\n",
		"bare LF after CRLF line": "GET / HTTP/1.1\r\nHost: a\n\n",
		"bare CR":                 "GET / HTTP/1.1\rHost: a\r\r",
		"space before colon":      "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
		"bad chunk size":          "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
		"CL and TE":               "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"two different CL":        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
		"negative CL":             "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
		"bad request line":        "GET /\r\nHost: a\r\n\r\n",
		"unknown TE":              "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nxx",
		"NUL in header":           "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n",
		"control char in target":  "GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n",
		"HTTP/1.1 without Host":   "GET / HTTP/1.1\r\n\r\n",
		"space in header name":    "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
		"quote in header name":    "GET / HTTP/1.1\r\nHost: a\r\nX\"A: x\r\n\r\n",
		"slash in header name":    "GET / HTTP/1.1\r\nHost: a\r\nX/A: x\r\n\r\n",
		// Incomplete blocks: the bad name is already visible, the block
		// never ends; the answer must not wait for read_timeout.
		"bad name, block unfinished":    "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n",
		"no colon, block unfinished":    "GET / HTTP/1.1\r\nHost: a\r\nNoColonHere\r\n",
		"empty name, block unfinished":  "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n",
		"folded line, block unfinished": "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n",
		"bad name, line unfinished":     "GET / HTTP/1.1\r\nHost: a\r\nX(A",
	}
	for name, raw := range cases {
		c, err := net.Dial("tcp", hostOf(g.url))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte(raw))
		buf := make([]byte, 4096)
		n, err := io.ReadAtLeast(c, buf, 12)
		c.Close()
		got := string(buf[:n])
		switch {
		case err != nil && n == 0 && !isTimeout(err):
			// closed without an answer: prompt, acceptable for garbage
		case err != nil && isTimeout(err):
			t.Errorf("%s: no answer within 5s (read_timeout is 30s)", name)
		case !strings.HasPrefix(got, "HTTP/1.1 400"):
			t.Errorf("%s: answered %q, want a 400", name, firstLine(got))
		}
	}
}

// TestHTTPVersions: a request line naming a major version other than 1 is
// a 505 that closes the connection; HTTP/1.0, 1.1 and other 1.x are served.
func TestHTTPVersions(t *testing.T) {
	echo := startUpstream(t, "echo")
	g := startGateway(t, cfgf(`{"server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"echo": {"targets": [%q]}}, "routes": [{"name": "r", "path": "/r", "service": "echo"}]}`, echo.addr))
	for proto, want := range map[string]string{
		"HTTP/1.1": "HTTP/1.1 200", "HTTP/1.0": "HTTP/1.1 200", "HTTP/1.2": "HTTP/1.1 200",
		"HTTP/2.0": "HTTP/1.1 505", "HTTP/9.9": "HTTP/1.1 505", "HTTP/0.9": "HTTP/1.1 505",
	} {
		got := rawRequest(t, hostOf(g.url), "GET /r "+proto+"\r\nHost: a\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s: answered %q, want %q", proto, firstLine(got), want)
		}
		if strings.HasSuffix(want, "505") && !strings.Contains(got, `"code":"bad_request"`) {
			t.Errorf("%s: 505 without the JSON error body: %q", proto, got)
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// TestFramingScannerKeepsValidTraffic checks that the line-ending checks never
// refuse valid traffic: bodies full of bare LFs and CRs, requests sent one
// byte at a time, pipelined and keep-alive requests.
func TestFramingScannerKeepsValidTraffic(t *testing.T) {
	echo := startUpstream(t, "echo")
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off", "read_timeout": "10s"},
  "services": {"echo": {"targets": [%q]}},
  "routes": [{"name": "r", "path": "/*", "service": "echo"}]
}`, echo.addr))
	body := "a\n\nb\r\rc\n\r\n\r\n"
	post := "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: " + itoa(len(body)) + "\r\n\r\n" + body
	get := "\r\nGET /g HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-!#$%&'*+.^_`|~: every tchar\r\n\r\n"
	c, err := net.Dial("tcp", hostOf(g.url))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufioReader(c)
	for round := 0; round < 4; round++ {
		switch round {
		case 0: // one request per write
			c.Write([]byte(post))
			expect200(t, br, "post")
			c.Write([]byte(get))
			expect200(t, br, "get")
		case 1: // byte by byte
			for _, raw := range []string{post, get} {
				for i := 0; i < len(raw); i++ {
					c.Write([]byte{raw[i]})
				}
				expect200(t, br, "bytewise")
			}
		case 2: // pipelined
			c.Write([]byte(post + get + post))
			expect200(t, br, "pipelined 1")
			expect200(t, br, "pipelined 2")
			expect200(t, br, "pipelined 3")
		case 3: // pipelined, the second body arriving later on its own
			head := post[:len(post)-len(body)]
			c.Write([]byte(get + head))
			time.Sleep(100 * time.Millisecond)
			c.Write([]byte(body))
			expect200(t, br, "pipelined get")
			expect200(t, br, "late body")
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

func expect200(t *testing.T, br *bufio.Reader, what string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s: status %d", what, resp.StatusCode)
	}
}

// TestBareLFAfterKeepAlive checks that a malformed request later on a
// kept-alive connection is refused as promptly as a first one.
func TestBareLFAfterKeepAlive(t *testing.T) {
	echo := startUpstream(t, "echo")
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off", "read_timeout": "30s", "idle_timeout": "30s"},
  "services": {"echo": {"targets": [%q]}},
  "routes": [{"name": "r", "path": "/*", "service": "echo"}]
}`, echo.addr))
	for _, first := range []string{
		"GET /a HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\na\n\nb",
	} {
		c, err := net.Dial("tcp", hostOf(g.url))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufioReader(c)
		c.Write([]byte(first))
		expect200(t, br, "first request")
		c.Write([]byte("GET / HTTP/1.1\nHost: a\n\n"))
		line, err := br.ReadString('\n')
		c.Close()
		if err != nil && isTimeout(err) {
			t.Errorf("after %q: no answer to a bare-LF request within 5s", firstLine(first))
		} else if err == nil && !strings.HasPrefix(line, "HTTP/1.1 400") {
			t.Errorf("after %q: answered %q", firstLine(first), line)
		}
	}
}
