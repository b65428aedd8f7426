// Package split is the traffic split of a route (canary, blue/green): it
// sends a share of the route's requests to other services, the rest to the
// route's own service.
//
// Shares are kept in millionths of the requests. With by "random" each
// request draws its side; with "ip", "consumer" or "header:NAME" the side is
// the xxhash of that key, so one client stays on one side for as long as the
// split is unchanged (and, as the hash does not depend on the route, on the
// same side of every route split the same way). A request without its key
// (no header, no consumer) goes to the route's own service.
package split

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/VictoriaMetrics/metrics"
	"github.com/cespare/xxhash/v2"
	"github.com/sluice-gw/sluice/engine/fielderr"
	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
	"github.com/sluice-gw/sluice/engine/pipeline"
)

// scale is the resolution of a share: a percent may have four decimals.
const scale = 1_000_000

// Key kinds.
const (
	byRandom = iota
	byIP
	byConsumer
	byHeader
)

// Split is a route's compiled split.
type Split struct {
	by     int
	header string
	// upTo[i] is the cumulative share, in millionths, of sides 0..i; a draw
	// below upTo[i] (and not below upTo[i-1]) goes to side i.
	upTo []uint32
	// counts[0] is the route's own service, counts[i+1] side i.
	counts []*metrics.Counter
	// logs[0] and logs[i+1] are the access log members naming the side.
	logs [][]byte
}

// Options are a route's split block.
type Options struct {
	// By is how a request's side is drawn: "random" (or ""), "ip",
	// "consumer" or "header:NAME".
	By string
	// Services are the sides, in order; at least one is required.
	Services []Side
}

// Side is one side of a split.
type Side struct {
	// Service names the side's service; it must be known and not the
	// route's own.
	Service string
	// Percent is the side's share, from 0 to 100; it is required (nil is
	// an error) and 0 is allowed (a parked side).
	Percent *float64
}

// Route is what New needs to know about the route.
type Route struct {
	Name    string // for the metric label
	Service string // the route's own service
	Auth    bool   // the route has auth (needed by "consumer")
	// Known reports whether a service of this name exists.
	Known func(name string) bool
	// Metrics is the engine's set, for sluice_split_requests_total.
	Metrics *metrics.Set
}

// New compiles o for route rt. The sides are returned in order, to be
// resolved by the caller. Its problems are a fielderr.List with paths
// relative to o ("services[1].percent").
func New(o Options, rt Route) (*Split, []string, error) {
	var errs fielderr.List
	s := &Split{}
	switch by := o.By; {
	case by == "" || by == "random":
		s.by = byRandom
	case by == "ip":
		s.by = byIP
	case by == "consumer":
		s.by = byConsumer
		if !rt.Auth {
			errs.Add("by", `"consumer" needs the route to have auth`)
		}
	case strings.HasPrefix(by, "header:"):
		s.by = byHeader
		s.header = by[len("header:"):]
		if !httpbytes.ValidToken(s.header) {
			errs.Add("by", "invalid header name %q", s.header)
		}
	default:
		errs.Add("by", `want random, ip, consumer or header:NAME, got %q`, by)
	}
	const sp = "services"
	if len(o.Services) == 0 {
		errs.Add(sp, "at least one service is required")
	}
	var names []string
	total := 0.0
	seen := map[string]int{}
	for j, side := range o.Services {
		at := fielderr.Index(sp, j)
		switch {
		case side.Service == "":
			errs.Add(fielderr.Join(at, "service"), "required")
		case !rt.Known(side.Service):
			errs.Add(fielderr.Join(at, "service"), "unknown service %q", side.Service)
		case side.Service == rt.Service:
			errs.Add(fielderr.Join(at, "service"), "%q is the route's own service: it gets what the split leaves", side.Service)
		default:
			if k, dup := seen[side.Service]; dup {
				errs.Add(fielderr.Join(at, "service"), "service %q listed twice (also services[%d])", side.Service, k)
			}
			seen[side.Service] = j
		}
		// 0 is allowed: a parked side keeps its place in the list (and so the
		// sides of keyed clients) while it gets no requests.
		var pct float64
		switch {
		case side.Percent == nil:
			errs.Add(fielderr.Join(at, "percent"), "required")
		case !(*side.Percent >= 0 && *side.Percent <= 100):
			errs.Add(fielderr.Join(at, "percent"), "must be within 0 and 100, got %v", *side.Percent)
		default:
			pct = *side.Percent
		}
		total += pct
		names = append(names, side.Service)
		s.upTo = append(s.upTo, uint32(math.Round(math.Min(math.Max(total, 0), 100)*scale/100)))
	}
	if total > 100+1e-9 {
		errs.Add(sp, "percents sum to %v, over 100", trim(total))
	}
	if len(errs) > 0 {
		return nil, nil, errs
	}
	label := func(svc string) *metrics.Counter {
		return rt.Metrics.GetOrCreateCounter(fmt.Sprintf(`sluice_split_requests_total{route=%q,service=%q}`, rt.Name, svc))
	}
	logMember := func(svc string) []byte {
		return pipeline.AppendJSONString([]byte(`,"service":`), svc)
	}
	s.counts = append(s.counts, label(rt.Service))
	s.logs = append(s.logs, logMember(rt.Service))
	for _, n := range names {
		s.counts = append(s.counts, label(n))
		s.logs = append(s.logs, logMember(n))
	}
	return s, names, nil
}

func trim(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.4f", f), "0"), ".")
}

// Pick returns the side of the split x goes to: -1 for the route's own
// service, i for the i-th listed service. It counts the request in
// sluice_split_requests_total{route,service} and names the service in the
// access log line ("service").
func (s *Split) Pick(x *pipeline.Exchange) int {
	i := s.pick(x)
	s.counts[i+1].Inc()
	x.LogExtra = append(x.LogExtra, s.logs[i+1]...)
	return i
}

func (s *Split) pick(x *pipeline.Exchange) int {
	var draw uint64
	switch s.by {
	case byRandom:
		draw = rand.Uint64N(scale)
	default:
		var key []byte
		switch s.by {
		case byIP:
			key = x.ClientIP
		case byConsumer:
			key = x.Consumer
		case byHeader:
			key = x.Ctx.Request.Header.Peek(s.header)
		}
		if len(key) == 0 {
			return -1
		}
		draw = xxhash.Sum64(key) % scale
	}
	for i, up := range s.upTo {
		if draw < uint64(up) {
			return i
		}
	}
	return -1
}
