package engine

import (
	"fmt"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/aggregate"
	"github.com/sluice-gw/sluice/engine/auth"
	"github.com/sluice-gw/sluice/engine/cache"
	"github.com/sluice-gw/sluice/engine/grpcgw"
	"github.com/sluice-gw/sluice/engine/internal/promlabel"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/sluice-gw/sluice/engine/ratelimit"
	"github.com/sluice-gw/sluice/engine/upstream"
)

// route is one compiled route: its pipeline of stages, resolved service and
// precomputed header operations. The fields after pipeline are the compiled
// settings its stages were built from.
type route struct {
	name     string
	pipeline *pipeline.Pipeline
	service  *upstream.Service

	stripPrefix []byte
	rewrite     *template

	validate *validation
	auth     *auth.Route
	limits   *ratelimit.Route
	cache    *cache.Route

	aggregate *aggregate.Plan
	grpc      *grpcgw.Method
	grpcPass  *grpcPass // gRPC pass-through (grpcpass.go)
	// grpcPassSides are the pass-throughs of edge.sides (a split route).
	grpcPassSides []*grpcPass
	websocket     bool
	// wholeBody: a stage reads the whole request body (validation, an HMAC
	// body hash, gRPC, aggregation), so a streamed one is read first, checked.
	wholeBody bool

	requestHeaders  headerOps
	responseHeaders headerOps
	edge            edgePolicies

	requests *statusCounters
	duration *metrics.PrometheusHistogram
}

// statusCounters is sluice_requests_total{route,status} for one route, one
// counter per status code created on first use.
type statusCounters struct {
	set      *metrics.Set
	route    string
	byStatus [600]atomic.Pointer[metrics.Counter]
}

func newStatusCounters(set *metrics.Set, route string) *statusCounters {
	return &statusCounters{set: set, route: promlabel.Value(route)}
}

func (s *statusCounters) inc(status int) {
	if status < 0 || status >= len(s.byStatus) {
		status = 0
	}
	c := s.byStatus[status].Load()
	if c == nil {
		c = s.set.GetOrCreateCounter(fmt.Sprintf(`sluice_requests_total{route=%q,status="%d"}`, s.route, status))
		s.byStatus[status].Store(c)
	}
	c.Inc()
}
