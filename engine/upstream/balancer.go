package upstream

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
)

// balancer chooses a target among the available ones, never one in exclude.
// It is one concrete type dispatching on its algorithm rather than an
// interface, so that the caller's stack-allocated exclude list does not
// escape to the heap through an interface call.
type balancer struct {
	rr  *roundRobin
	lc  *leastConn
	p2c *powerOfTwo
}

// pick returns an available target not in exclude, or nil. ignoreEjection is
// panic mode: passively ejected targets count as available.
func (b *balancer) pick(now int64, exclude []*Target, ignoreEjection bool) *Target {
	switch {
	case b.lc != nil:
		return b.lc.pick(now, exclude, ignoreEjection)
	case b.p2c != nil:
		return b.p2c.pick(now, exclude, ignoreEjection)
	default:
		return b.rr.pick(now, exclude, ignoreEjection)
	}
}

func newBalancer(name string, targets []*Target) (balancer, error) {
	switch name {
	case "", "round_robin":
		return balancer{rr: &roundRobin{targets: targets}}, nil
	case "weighted":
		return balancer{rr: &roundRobin{targets: weightedSchedule(targets)}}, nil
	case "least_conn":
		return balancer{lc: &leastConn{targets: targets}}, nil
	case "p2c":
		return balancer{p2c: &powerOfTwo{targets: targets}}, nil
	}
	return balancer{rr: &roundRobin{targets: targets}}, fmt.Errorf("unknown balancer %q (want round_robin, least_conn, weighted or p2c)", name)
}

func excluded(t *Target, exclude []*Target) bool {
	for _, e := range exclude {
		if e == t {
			return true
		}
	}
	return false
}

// roundRobin walks a fixed schedule; weighted uses the same walk over an
// interleaved schedule in which each target appears weight times.
type roundRobin struct {
	targets []*Target
	next    atomic.Uint64
}

func (b *roundRobin) pick(now int64, exclude []*Target, ignoreEjection bool) *Target {
	n := uint64(len(b.targets))
	if n == 0 {
		return nil
	}
	start := b.next.Add(1) - 1
	for i := uint64(0); i < n; i++ {
		t := b.targets[(start+i)%n]
		if !excluded(t, exclude) && t.available(now, ignoreEjection) {
			return t
		}
	}
	return nil
}

// weightedSchedule spreads each target over the cycle in proportion to its
// weight (smooth weighted round robin, computed once).
func weightedSchedule(targets []*Target) []*Target {
	total := 0
	for _, t := range targets {
		total += t.Weight
	}
	current := make([]int, len(targets))
	out := make([]*Target, 0, total)
	for len(out) < total {
		best := 0
		for i, t := range targets {
			current[i] += t.Weight
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= total
		out = append(out, targets[best])
	}
	return out
}

// leastConn picks the available target with the fewest requests in flight,
// starting the scan at a rotating offset so ties spread evenly.
type leastConn struct {
	targets []*Target
	next    atomic.Uint64
}

func (b *leastConn) pick(now int64, exclude []*Target, ignoreEjection bool) *Target {
	n := uint64(len(b.targets))
	start := b.next.Add(1)
	var best *Target
	for i := uint64(0); i < n; i++ {
		t := b.targets[(start+i)%n]
		if excluded(t, exclude) || !t.available(now, ignoreEjection) {
			continue
		}
		if best == nil || t.inflight.Load() < best.inflight.Load() {
			best = t
		}
	}
	return best
}

// powerOfTwo samples two random available targets and takes the less busy one.
type powerOfTwo struct {
	targets []*Target
}

func (b *powerOfTwo) pick(now int64, exclude []*Target, ignoreEjection bool) *Target {
	n := len(b.targets)
	if n == 0 {
		return nil
	}
	var a, c *Target
	for tries := 0; tries < 2*n && c == nil; tries++ {
		t := b.targets[rand.IntN(n)]
		if excluded(t, exclude) || !t.available(now, ignoreEjection) {
			continue
		}
		if a == nil {
			a = t
			if n == 1 {
				break
			}
		} else if t != a {
			c = t
		}
	}
	if a == nil {
		// Random probing missed; fall back to a full scan.
		for _, t := range b.targets {
			if !excluded(t, exclude) && t.available(now, ignoreEjection) {
				return t
			}
		}
		return nil
	}
	if c != nil && c.inflight.Load() < a.inflight.Load() {
		return c
	}
	return a
}
