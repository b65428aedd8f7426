package upstream

import (
	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/pipeline"
)

// FailExchange fails x with the contract's status for an upstream failure
// class returned by Do or Dial: 504 on timeout, 503 when no target can take
// the request (or the service's fallback when every circuit is open), 502
// when the upstream refused, reset or answered garbage.
func FailExchange(x *pipeline.Exchange, svc *Service, err error) {
	switch err {
	case ErrTimeout:
		x.Fail(fault.UpstreamTimeout, "upstream did not answer in time")
	case ErrNoTarget:
		x.Fail(fault.Unavailable, "no healthy upstream target")
	case ErrBusy:
		x.Fail(fault.Unavailable, "upstream connections exhausted")
	case ErrCircuitOpen:
		if fb := svc.Fallback; fb != nil {
			x.FailWithBody(fault.Unavailable, fb.Status, "circuit open", fb.Body)
			return
		}
		x.Fail(fault.Unavailable, "upstream circuit open")
	case ErrClientBody:
		x.Ctx.SetConnectionClose()
		x.Fail(fault.BadRequest, "request body ended before its Content-Length")
	case ErrConnect:
		x.Fail(fault.BadGateway, "upstream refused the connection")
	default:
		x.Fail(fault.BadGateway, "upstream answered badly or reset the connection")
	}
}
