package engine_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// streamUpstream serves /events as a text/event-stream written 100ms apart,
// and /upload, which reports through got when the first bytes arrive.
func streamUpstream(t *testing.T, got chan<- int) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{StreamRequestBody: true, Handler: func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/events":
			ctx.SetContentType("text/event-stream")
			ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
				for i := 0; i < 5; i++ {
					fmt.Fprintf(w, "data: %d %d\n\n", i, time.Now().UnixNano())
					w.Flush()
					time.Sleep(100 * time.Millisecond)
				}
			})
		case "/upload":
			r := ctx.RequestBodyStream()
			buf := make([]byte, 32<<10)
			total, signalled := 0, false
			for {
				n, err := r.Read(buf)
				total += n
				if total > 0 && !signalled {
					got <- total
					signalled = true
				}
				if err != nil {
					break
				}
			}
			fmt.Fprintf(ctx, "%d", total)
		}
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

func streamGateway(t *testing.T, up string) *gateway {
	return startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off", "max_body_bytes": 4194304},
  "services": {"s": {"targets": [%q], "timeout": "5s"}},
  "routes": [{"name": "s", "path": "/*", "service": "s"}]
}`, up))
}

// TestEventStreamReachesClientAsWritten: each event arrives about when the
// upstream writes it, not all together at the end.
func TestEventStreamReachesClientAsWritten(t *testing.T) {
	g := streamGateway(t, streamUpstream(t, nil))
	resp, err := http.Get(g.url + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	rd := bufio.NewReader(resp.Body)
	start := time.Now()
	var firstAt time.Duration
	events := 0
	for {
		line, err := rd.ReadString('\n')
		if strings.HasPrefix(line, "data: ") {
			if events == 0 {
				firstAt = time.Since(start)
			}
			events++
		}
		if err != nil {
			break
		}
	}
	total := time.Since(start)
	if events != 5 {
		t.Fatalf("got %d events, want 5", events)
	}
	if firstAt > total/2 || total < 350*time.Millisecond {
		t.Errorf("first event after %v of %v: the stream was buffered", firstAt, total)
	}
}

// TestUploadStreamsToUpstream: the upstream receives the first bytes of a
// large upload while the client is still holding back the rest.
func TestUploadStreamsToUpstream(t *testing.T) {
	got := make(chan int, 1)
	g := streamGateway(t, streamUpstream(t, got))
	const size = 1 << 20
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", g.url+"/upload", pr)
	req.ContentLength = size
	done := make(chan string, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	pw.Write(make([]byte, 256<<10))
	select {
	case <-got:
	case <-time.After(3 * time.Second):
		t.Fatal("upstream saw nothing while the client was still sending: the upload was buffered")
	}
	pw.Write(make([]byte, size-256<<10))
	pw.Close()
	if body := <-done; body != fmt.Sprint(size) {
		t.Errorf("upstream received %s bytes, want %d", body, size)
	}
}

// TestChunkedUploadOverLimit: a chunked body is counted as it arrives.
func TestChunkedUploadOverLimit(t *testing.T) {
	up := startUpstream(t, "echo")
	g := startGateway(t, basicConfig(up.addr)) // max_body_bytes 1024
	chunk := strings.Repeat("x", 600)
	raw := rawRequest(t, hostOf(g.url), "POST /api/items/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+
		fmt.Sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", len(chunk), chunk, len(chunk), chunk))
	if !strings.HasPrefix(raw, "HTTP/1.1 413") || !strings.Contains(raw, `"payload_too_large"`) {
		t.Errorf("chunked body over the limit: %q", raw)
	}
	raw = rawRequest(t, hostOf(g.url), "POST /api/items/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	if !strings.HasPrefix(raw, "HTTP/1.1 200") || !strings.Contains(raw, `"body":"hello"`) {
		t.Errorf("small chunked body: %q", raw)
	}
	raw = rawRequest(t, hostOf(g.url), "POST /api/items/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
	if !strings.HasPrefix(raw, "HTTP/1.1 400") {
		t.Errorf("malformed chunked body: %q", raw)
	}
	if up.Hits.Load() != 1 {
		t.Errorf("upstream hits %d, want 1", up.Hits.Load())
	}
}
