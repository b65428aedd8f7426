package upstream

import (
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

// testServer is a real HTTP upstream on 127.0.0.1 whose behaviour tests flip
// with atomics, and which can be killed (listener and every connection closed
// at once) and revived on the same port.
type testServer struct {
	t      testing.TB
	name   string
	addr   string
	hits   atomic.Int64 // proxied requests (not health checks)
	probes atomic.Int64 // health checks
	status atomic.Int64 // status of proxied requests; 0 = 200
	delay  atomic.Int64 // nanoseconds before answering
	sick   atomic.Bool  // health endpoint answers 500
	dead   atomic.Bool  // killed: connections still open drop requests
	gate   atomic.Pointer[chan struct{}]

	mu    sync.Mutex
	ln    net.Listener
	srv   *fasthttp.Server
	conns map[net.Conn]struct{}
}

func newTestServer(t testing.TB, name string) *testServer {
	t.Helper()
	s := &testServer{t: t, name: name}
	s.listen("127.0.0.1:0")
	t.Cleanup(s.kill)
	return s
}

func (s *testServer) listen(addr string) {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly after a kill
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("listen %s: %v", addr, err)
	}
	s.mu.Lock()
	s.addr = ln.Addr().String()
	s.conns = map[net.Conn]struct{}{}
	s.ln = &trackingListener{Listener: ln, s: s}
	s.srv = &fasthttp.Server{Handler: s.handle, Logger: quiet{}}
	s.dead.Store(false)
	ln2, srv := s.ln, s.srv
	s.mu.Unlock()
	go srv.Serve(ln2)
}

// kill closes the listener and every open connection, like a crashed process.
func (s *testServer) kill() {
	s.dead.Store(true) // connections not closed yet stop answering at once
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return
	}
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.ln = nil
}

// revive listens again on the same address.
func (s *testServer) revive() { s.listen(s.addr) }

func (s *testServer) handle(ctx *fasthttp.RequestCtx) {
	if s.dead.Load() {
		ctx.Conn().Close()
		return
	}
	if string(ctx.Path()) == "/health" {
		s.probes.Add(1)
		if s.sick.Load() {
			ctx.SetStatusCode(500)
		}
		return
	}
	s.hits.Add(1)
	if g := s.gate.Load(); g != nil {
		<-*g
	}
	if d := s.delay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	if st := s.status.Load(); st != 0 {
		ctx.SetStatusCode(int(st))
	}
	ctx.SetBodyString(s.name)
}

type trackingListener struct {
	net.Listener
	s *testServer
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.mu.Lock()
	if l.s.ln != l {
		l.s.mu.Unlock()
		c.Close()
		return c, nil
	}
	l.s.conns[c] = struct{}{}
	l.s.mu.Unlock()
	return &trackedConn{Conn: c, s: l.s}, nil
}

type trackedConn struct {
	net.Conn
	s *testServer
}

func (c *trackedConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.conns, c.Conn)
	c.s.mu.Unlock()
	return c.Conn.Close()
}

// compileOne builds the service "svc" from o.
func compileOne(t testing.TB, o ServiceOptions) *Service {
	t.Helper()
	s, err := New("svc", o, metrics.NewSet())
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return s
}

// addrs lists targets by address, each of weight 0 (1).
func addrs(list ...string) []TargetOptions {
	out := make([]TargetOptions, len(list))
	for i, a := range list {
		out[i] = TargetOptions{Addr: a}
	}
	return out
}

// ptr returns a pointer to v, for options where unset differs from zero.
func ptr[T any](v T) *T { return &v }

// startChecks runs the service's health checks until the test ends.
func startChecks(t testing.TB, services ...*Service) {
	stop := make(chan struct{})
	m := map[string]*Service{}
	for i, s := range services {
		m[strconv.Itoa(i)] = s
	}
	Start(m, stop)
	t.Cleanup(func() { close(stop) })
}

// targetList lists the servers as targets.
func targetList(servers ...*testServer) []TargetOptions {
	out := make([]TargetOptions, len(servers))
	for i, s := range servers {
		out[i] = TargetOptions{Addr: s.addr}
	}
	return out
}

// call sends one request through s and reports its outcome.
func call(s *Service, method string, timeout time.Duration) (status int, body string, err error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("/x")
	idem := method == "GET"
	_, err = s.Do(req, resp, time.Now().Add(timeout), idem)
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode(), string(resp.Body()), nil
}

// waitFor polls cond every 5ms up to limit and returns how long it took.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not after %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// quiet drops fasthttp's log lines about connections the tests cut.
type quiet struct{}

func (quiet) Printf(string, ...any) {}
