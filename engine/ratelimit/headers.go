package ratelimit

import (
	"math"
	"strconv"
	"time"

	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/sluice-gw/sluice/limiter"
)

// limitResult is a limiter answer.
type limitResult = limiter.Result

// Header names of the contract (IETF RateLimit draft fields).
const (
	hLimit      = "RateLimit-Limit"
	hRemaining  = "RateLimit-Remaining"
	hReset      = "RateLimit-Reset"
	hRetryAfter = "Retry-After"
)

// writeHeaders queues the RateLimit-* headers (and Retry-After on a
// rejection) on x without allocating.
func writeHeaders(x *pipeline.Exchange, r limitResult, rejected bool) {
	var buf [20]byte
	x.AddResponseHeader(hLimit, strconv.AppendInt(buf[:0], r.Limit, 10))
	x.AddResponseHeader(hRemaining, strconv.AppendInt(buf[:0], max(r.Remaining, 0), 10))
	x.AddResponseHeader(hReset, strconv.AppendInt(buf[:0], ceilSeconds(r.ResetAfter), 10))
	if rejected {
		x.AddResponseHeader(hRetryAfter, strconv.AppendInt(buf[:0], max(ceilSeconds(r.RetryAfter), 1), 10))
	}
}

// ceilSeconds rounds d up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(math.Ceil(d.Seconds()))
}
