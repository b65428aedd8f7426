package engine_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	gwupstream "github.com/sluice-gw/sluice/engine/upstream"
	"github.com/valyala/fasthttp"
)

// connRecorder is an upstream that answers each request with its path (after
// a delay that differs per request, so that answers finish out of order on
// the server's side) and records which connections each method used.
type connRecorder struct {
	mu    sync.Mutex
	conns map[string]map[uint64]bool // method -> connection ids
	addr  string
}

func startConnRecorder(t *testing.T) *connRecorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &connRecorder{conns: map[string]map[uint64]bool{}, addr: ln.Addr().String()}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		m := string(ctx.Method())
		r.mu.Lock()
		if r.conns[m] == nil {
			r.conns[m] = map[uint64]bool{}
		}
		r.conns[m][ctx.ConnID()] = true
		r.mu.Unlock()
		if string(ctx.Path()) == "/big" {
			ctx.SetBody(make([]byte, gwupstream.PipelinedBodyLimit+1))
			return
		}
		time.Sleep(time.Duration(len(ctx.Path())%3) * time.Millisecond)
		ctx.SetBodyString(string(ctx.Path()) + "|" + string(ctx.PostBody()))
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return r
}

func (r *connRecorder) used(method string) map[uint64]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[uint64]bool{}
	for id := range r.conns[method] {
		out[id] = true
	}
	return out
}

// TestUpstreamPipelining: with "pipelining": 2 every GET of a burst of 40
// concurrent ones shares two upstream connections and each client gets its
// own answer; a POST (not idempotent, with a body) takes a pooled
// connection of its own; an answer over the pipelined body limit is a 502.
// Without pipelining the same burst opens more connections, which shows
// that the connection count measures pipelining.
func TestUpstreamPipelining(t *testing.T) {
	for _, pipelining := range []int{2, 0} {
		t.Run(fmt.Sprintf("pipelining=%d", pipelining), func(t *testing.T) {
			up := startConnRecorder(t)
			g := startGateway(t, cfgf(`{"server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"s": {"targets": [%q], "pipelining": %d}},
  "routes": [{"name": "r", "path": "/p/{x}", "service": "s", "strip_prefix": "/p"}]}`, up.addr, pipelining))

			const n = 40
			var wg sync.WaitGroup
			errs := make(chan error, n)
			start := make(chan struct{})
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					<-start
					c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
					resp, err := c.Get(fmt.Sprintf("%s/p/item-%d", g.url, i))
					if err != nil {
						errs <- err
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if want := fmt.Sprintf("/item-%d|", i); resp.StatusCode != 200 || string(body) != want {
						errs <- fmt.Errorf("GET item-%d: %d %q, want 200 %q", i, resp.StatusCode, body, want)
					}
				}(i)
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			gets := up.used("GET")
			if pipelining > 0 && len(gets) > pipelining {
				t.Errorf("%d concurrent GETs used %d upstream connections, want at most %d", n, len(gets), pipelining)
			}
			if pipelining == 0 && len(gets) <= 2 {
				t.Errorf("without pipelining %d concurrent GETs used only %d connections; the test cannot tell pipelining apart", n, len(gets))
			}
			if pipelining == 0 {
				return
			}

			resp := do(t, "POST", g.url+"/p/order", map[string]string{"Content-Type": "text/plain"}, "hello")
			if resp.status != 200 || string(resp.body) != "/order|hello" {
				t.Fatalf("POST: %d %q", resp.status, resp.body)
			}
			for id := range up.used("POST") {
				if gets[id] {
					t.Errorf("POST shared pipelined connection %d", id)
				}
			}
			resp = get(t, g.url+"/p/big")
			resp.wantError(t, 502, "bad_gateway")
			if r := get(t, g.url+"/p/after"); r.status != 200 || !strings.HasPrefix(string(r.body), "/after|") {
				t.Fatalf("GET after a refused answer: %d %q", r.status, r.body)
			}
		})
	}
}
