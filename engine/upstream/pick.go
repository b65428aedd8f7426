package upstream

import (
	"context"
	"crypto/tls"
	"net"
	"sync/atomic"
	"time"
)

// Tunnel is a raw connection to one target, for protocols the gateway does
// not speak through the pooled HTTP clients (WebSocket). Dial gives it the
// same target choice, retries and resilience bookkeeping as Do; the caller
// reports the handshake's outcome with Answered and ends it with Close.
type Tunnel struct {
	// Target is the target the connection goes to.
	Target *Target
	// Conn is the connection (TLS for https services, handshake done).
	Conn net.Conn

	trial    bool
	start    int64
	answered bool
	closed   atomic.Bool
}

// Dial picks a target as Do does and connects to it, within connect_timeout
// and deadline. A connect failure (TLS handshake included) counts against the
// target and is retried on another one while the service's retries and
// retry budget allow. Errors are the Err* classes: ErrNoTarget or
// ErrCircuitOpen when no target could be tried, else ErrConnect.
func (s *Service) Dial(deadline time.Time) (*Tunnel, error) {
	var buf [maxExclude]*Target
	tried := buf[:0]
	var lastErr error
	now := nanotime()
	for attempt := 0; attempt <= s.Retries; attempt++ {
		if attempt > 0 {
			now = nanotime()
			if !time.Now().Before(deadline) || !s.res.allowRetry(now) {
				break
			}
		} else {
			s.res.onRequest(now)
		}
		t, trial, err := s.pick(now, tried)
		if err != nil {
			if lastErr == nil {
				return nil, err
			}
			break
		}
		if len(tried) < cap(tried) {
			tried = append(tried, t)
		}
		t.inflight.Add(1)
		conn, err := t.dial(deadline)
		if err == nil {
			return &Tunnel{Target: t, Conn: conn, trial: trial, start: now}, nil
		}
		t.inflight.Add(-1)
		t.CountStatus(0)
		t.onResult(now, trial, ErrConnect, 0)
		lastErr = ErrConnect
	}
	return nil, lastErr
}

// dial connects to t with the same dialer and TLS settings as its HTTP client.
func (t *Target) dial(deadline time.Time) (net.Conn, error) {
	left := time.Until(deadline)
	if left <= 0 {
		return nil, ErrTimeout
	}
	conn, err := t.client.DialTimeout(t.Addr, left)
	if err != nil {
		return nil, err
	}
	if !t.client.IsTLS {
		return conn, nil
	}
	tc := tls.Client(conn, t.client.TLSConfig)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// Answered records the outcome of the request sent over the tunnel: err is
// nil or an Err* class, status the upstream's answer (0 without one). Only
// the first call counts.
func (u *Tunnel) Answered(err error, status int) {
	if u.answered {
		return
	}
	u.answered = true
	if err != nil {
		status = 0
	}
	u.Target.CountStatus(status)
	u.Target.onResult(u.start, u.trial, err, status)
}

// Close closes the connection and ends its in-flight count on the target
// (least_conn sees a long-lived tunnel as busy). It is safe to call twice.
func (u *Tunnel) Close() error {
	if !u.closed.CompareAndSwap(false, true) {
		return nil
	}
	if !u.answered {
		// Closed before an answer (the gateway gave up): neither a success
		// nor a failure of the target, but it frees a half-open trial slot.
		u.answered = true
		u.Target.onResult(u.start, u.trial, ErrBusy, 0)
	}
	u.Target.inflight.Add(-1)
	return u.Conn.Close()
}
