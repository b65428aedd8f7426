package cache

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/internal/enginetest"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// upstream is the shared fake upstream (enginetest) answering through an
// net/http handler. Query parameters steer its answer: cc= sets
// Cache-Control, status= the status, cookie=1 adds Set-Cookie, sleep= delays
// it, vary= sets Vary, age= sets Age, pad= adds that many bytes to the body.
// Its body names the call number, so a test can tell a cached answer from a
// fresh one.
type upstream struct {
	*enginetest.Upstream
	addr string
	fail atomic.Bool  // answer 500 to everything
	seq  atomic.Int64 // call number, unique per answer
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.Upstream = enginetest.StartUpstream(t, fasthttpadaptor.NewFastHTTPHandlerFunc(u.serve))
	u.addr = u.Addr()
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	n := u.seq.Add(1)
	q := r.URL.Query()
	if d, err := time.ParseDuration(q.Get("sleep")); err == nil {
		time.Sleep(d)
	}
	if u.fail.Load() {
		http.Error(w, "upstream broken", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain")
	h.Set("X-Upstream", "yes")
	h.Add("X-Multi", "one")
	h.Add("X-Multi", "two")
	if v := q.Get("cc"); v != "" {
		h.Set("Cache-Control", v)
	}
	if v := q.Get("age"); v != "" {
		h.Set("Age", v)
	}
	if v := q.Get("vary"); v != "" {
		h.Set("Vary", v)
	}
	if q.Get("cookie") == "1" {
		http.SetCookie(w, &http.Cookie{Name: "s", Value: "1"})
	}
	status := http.StatusOK
	if v := q.Get("status"); v != "" {
		status, _ = strconv.Atoi(v)
	}
	if status == http.StatusMovedPermanently {
		h.Set("Location", "/elsewhere")
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, "call=%d lang=%s", n, r.Header.Get("Accept-Language"))
	if pad, err := strconv.Atoi(q.Get("pad")); err == nil && pad > 0 {
		io.WriteString(w, strings.Repeat("x", pad)) //nolint:errcheck // test body
	}
}

// gateway is a real fasthttp server on 127.0.0.1 whose handler does what the
// engine does around the cache stage: build an Exchange (X-Consumer stands in
// for auth, X-Deadline-Ms for the route timeout), run the stage with a fetch that
// proxies to the upstream, then write a failure and apply queued headers.
type gateway struct {
	addr    string
	store   *Store
	metrics *metrics.Set // the store's series
	route   *Route
	hc      *fasthttp.HostClient
	fetch   func(*pipeline.Exchange) // defaults to proxying through hc
	results sync.Map                 // X-Test-Id -> x.CacheResult
}

func newGateway(t *testing.T, upstreamAddr string, o Options, hasAuth bool) *gateway {
	t.Helper()
	set := metrics.NewSet()
	store, err := New(1<<20, set)
	if err != nil {
		t.Fatal(err)
	}
	route, err := store.Route(o, hasAuth)
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{store: store, metrics: set, route: route, hc: &fasthttp.HostClient{Addr: upstreamAddr, MaxConns: 512}}
	g.fetch = g.proxy
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = ln.Addr().String()
	srv := &fasthttp.Server{Handler: g.handle, Concurrency: 1024}
	go srv.Serve(ln) //nolint:errcheck // ends at Shutdown
	t.Cleanup(func() {
		srv.Shutdown() //nolint:errcheck // test teardown
		store.Close()
	})
	return g
}

func (g *gateway) handle(ctx *fasthttp.RequestCtx) {
	x := &pipeline.Exchange{Ctx: ctx}
	x.Path = append(x.Path, ctx.Path()...)
	x.Consumer = append(x.Consumer, ctx.Request.Header.Peek("X-Consumer")...)
	deadline := time.Second
	if ms, err := strconv.Atoi(string(ctx.Request.Header.Peek("X-Deadline-Ms"))); err == nil {
		deadline = time.Duration(ms) * time.Millisecond
	}
	x.Deadline = time.Now().Add(deadline)
	var p Pending
	serve(g.route, x, &p, g.fetch)
	if id := ctx.Request.Header.Peek("X-Test-Id"); len(id) > 0 {
		g.results.Store(string(id), x.CacheResult)
	}
	if rej, failed := x.Rejected(); failed {
		ctx.Response.Reset()
		ctx.SetStatusCode(rej.Status)
		ctx.SetContentType("application/json")
		fmt.Fprintf(ctx, `{"error":{"status":%d,"code":%q}}`, rej.Status, rej.Code)
	}
	x.ApplyResponseHeaders(&ctx.Response.Header)
}

// serve runs the cache stage of r for x as the engine's pipeline does:
// Lookup, then fetch when the lookup did not answer, then Fill.
func serve(r *Route, x *pipeline.Exchange, p *Pending, fetch func(*pipeline.Exchange)) {
	if r.Lookup(x, p) == pipeline.Next {
		fetch(x)
	}
	r.Fill(x, p)
}

// proxy is the upstream stage: the client's request to the upstream, the
// answer into x.Ctx.Response, or x failed 504/502.
func (g *gateway) proxy(x *pipeline.Exchange) {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	x.Ctx.Request.CopyTo(req)
	req.SetHost(g.hc.Addr)
	err := g.hc.DoDeadline(req, &x.Ctx.Response, x.Deadline)
	switch {
	case errors.Is(err, fasthttp.ErrTimeout):
		x.Fail(fault.UpstreamTimeout, "upstream timeout")
	case err != nil:
		x.Fail(fault.BadGateway, err.Error())
	}
}

// reply is what a client saw.
type reply struct {
	status int
	cache  string
	age    string
	body   string
	header http.Header
}

var client = &http.Client{Timeout: 10 * time.Second}

// do sends one request to the gateway; headers are "Name: value" strings.
func (g *gateway) do(t *testing.T, method, target string, headers ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+g.addr+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		if name == "Host" {
			req.Host = value
			continue
		}
		req.Header.Set(name, value)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, cache: resp.Header.Get("X-Cache"), age: resp.Header.Get("Age"), body: string(body), header: resp.Header}
}

// expect sends a request and checks its X-Cache.
func (g *gateway) expect(t *testing.T, want, method, target string, headers ...string) reply {
	t.Helper()
	r := g.do(t, method, target, headers...)
	if r.cache != want {
		t.Fatalf("%s %s %v: X-Cache %q, want %q (status %d, body %q)", method, target, headers, r.cache, want, r.status, r.body)
	}
	return r
}

// settle makes earlier ristretto Sets visible, so a test's next request
// deterministically sees what the previous one stored.
func (g *gateway) settle() { g.store.settle() }

func cacheCfg(ttl, stale time.Duration, vary ...string) Options {
	return Options{TTL: ttl, StaleIfError: stale, Vary: vary}
}
