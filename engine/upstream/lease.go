package upstream

// Lease is one target chosen for a call that the caller makes over its own
// connection (gRPC): the same balancer, health, passive ejection and circuit
// rules as Do, and the same bookkeeping once Done reports the outcome.
type Lease struct {
	// Target is the chosen target.
	Target *Target
	// Index is the target's position in the service's config targets list.
	Index int
	trial bool
	start int64
}

// Acquire picks a target not in tried. Errors are ErrNoTarget, or
// ErrCircuitOpen when every target the health checks allow has its circuit
// open (the caller answers the service's Fallback then).
func (s *Service) Acquire(tried []*Target) (Lease, error) {
	now := nanotime()
	t, trial, err := s.pick(now, tried)
	if err != nil {
		return Lease{}, err
	}
	t.inflight.Add(1)
	index := 0
	for i, st := range s.targets {
		if st == t {
			index = i
		}
	}
	return Lease{Target: t, Index: index, trial: trial, start: now}, nil
}

// Done records the call's outcome: err nil or one of the Err* classes,
// status the HTTP status the gateway answers for it (0 without an answer).
// Failures (errors and statuses >= 500) count towards ejection and the
// circuit breaker.
func (l Lease) Done(err error, status int) {
	l.Target.inflight.Add(-1)
	l.Target.onResult(l.start, l.trial, err, status)
}
