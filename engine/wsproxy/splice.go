package wsproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-gw/sluice/engine/upstream"
)

// orphanAfter bounds how long a switched upstream connection waits for
// fasthttp to hand over the client connection. fasthttp skips the hijack
// handler when the client's response fails or asks to close (a draining
// gateway); the guard then closes the upstream side instead of leaking it.
// (A variable so that tests can shorten it.)
var orphanAfter = 10 * time.Second

// bufSize is the copy buffer of one direction of a tunnel.
const bufSize = 32 << 10

var (
	bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}
	longAgo = time.Unix(1, 0)
)

// splice is one established tunnel between a client and a target.
type splice struct {
	svc     *upstream.Service
	client  net.Conn // set while registered in tunnels
	tun     *upstream.Tunnel
	upr     *bufio.Reader // the target's side, holding bytes read past its 101
	idle    time.Duration
	last    atomic.Int64 // unix nanoseconds of the last byte moved either way
	owned   atomic.Bool  // run or the orphan guard took the tunnel
	closing atomic.Bool
	guard   *time.Timer
}

func newSplice(svc *upstream.Service, tun *upstream.Tunnel, upr *bufio.Reader, idle time.Duration) *splice {
	s := &splice{svc: svc, tun: tun, upr: upr, idle: idle}
	s.guard = time.AfterFunc(orphanAfter, s.orphan)
	return s
}

func (s *splice) orphan() {
	if s.owned.CompareAndSwap(false, true) {
		s.tun.Close()
	}
}

// run is the hijack handler: it copies both ways until either side closes,
// fails or the tunnel idles out, then closes both (fasthttp closes client
// when run returns).
func (s *splice) run(client net.Conn) {
	if !s.owned.CompareAndSwap(false, true) {
		return
	}
	s.guard.Stop()
	tunnels.add(s, client)
	defer tunnels.remove(s)
	s.touch()
	up := s.tun.Conn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.pipe(up, client, client)
		s.stop(client)
	}()
	s.pipe(client, s.upr, up)
	s.stop(client)
	wg.Wait()
}

// stop ends both directions: closing the target's connection unblocks the
// copy reading it, a past deadline the one reading the client (the hijacked
// connection itself is fasthttp's to close).
func (s *splice) stop(client net.Conn) {
	s.closing.Store(true)
	client.SetDeadline(longAgo)
	s.tun.Close()
}

// pipe copies src to dst until either fails, stop is called or the tunnel
// has been idle in both directions for s.idle.
func (s *splice) pipe(dst net.Conn, src io.Reader, srcConn net.Conn) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		if s.idle > 0 {
			srcConn.SetReadDeadline(time.Now().Add(s.idle))
		}
		// Checked after the deadline is set, so stop's past deadline
		// cannot be overwritten unnoticed.
		if s.closing.Load() {
			return
		}
		n, err := src.Read(buf)
		if n > 0 {
			s.touch()
			if s.idle > 0 {
				dst.SetWriteDeadline(time.Now().Add(s.idle))
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if isTimeout(err) && !s.closing.Load() && s.active() {
				continue // the other direction is busy
			}
			return
		}
	}
}

func (s *splice) touch() { s.last.Store(time.Now().UnixNano()) }

// active reports whether a byte moved either way within the idle timeout.
func (s *splice) active() bool {
	return time.Now().UnixNano()-s.last.Load() < int64(s.idle)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// tunnels registers the open tunnels so that shutdown can end them (a
// hijacked connection is outside the server's drain) and the engine's
// sluice_websocket_tunnels gauge can count them.
var tunnels = registry{m: map[*splice]struct{}{}}

type registry struct {
	mu sync.Mutex
	m  map[*splice]struct{}
}

func (r *registry) add(s *splice, client net.Conn) {
	r.mu.Lock()
	s.client = client
	r.m[s] = struct{}{}
	r.mu.Unlock()
}

// remove unregisters s before fasthttp reclaims its client connection, so
// that CloseTunnels never touches a released one.
func (r *registry) remove(s *splice) {
	r.mu.Lock()
	delete(r.m, s)
	s.client = nil
	r.mu.Unlock()
}

// Open returns how many WebSocket tunnels to svc are open.
func Open(svc *upstream.Service) int {
	tunnels.mu.Lock()
	defer tunnels.mu.Unlock()
	n := 0
	for s := range tunnels.m {
		if s.svc == svc {
			n++
		}
	}
	return n
}

// CloseTunnels ends every open WebSocket tunnel to svc (both connections
// close at once) and returns how many there were. The engine calls it for
// each of its services when it shuts down: a hijacked connection is outside
// the server's drain and would otherwise outlive it.
func CloseTunnels(svc *upstream.Service) int {
	tunnels.mu.Lock()
	defer tunnels.mu.Unlock()
	n := 0
	for s := range tunnels.m {
		if s.svc == svc {
			s.stop(s.client)
			n++
		}
	}
	return n
}
