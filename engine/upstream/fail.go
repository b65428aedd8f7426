package upstream

import "github.com/sluice-gw/sluice/engine/pipeline"

// FailExchange fails x with the contract's status for an upstream failure
// class returned by Do or Dial: 504 on timeout, 503 when no target can take
// the request (or the service's fallback when every circuit is open), 502
// when the upstream refused, reset or answered garbage.
func FailExchange(x *pipeline.Exchange, svc *Service, err error) {
	switch err {
	case ErrTimeout:
		x.Fail(504, pipeline.CodeUpstreamTimeout, "upstream did not answer in time")
	case ErrNoTarget:
		x.Fail(503, pipeline.CodeUnavailable, "no healthy upstream target")
	case ErrBusy:
		x.Fail(503, pipeline.CodeUnavailable, "upstream connections exhausted")
	case ErrCircuitOpen:
		if fb := svc.Fallback; fb != nil {
			x.FailWithBody(fb.Status, pipeline.CodeUnavailable, "circuit open", fb.Body)
			return
		}
		x.Fail(503, pipeline.CodeUnavailable, "upstream circuit open")
	case ErrClientBody:
		x.Ctx.SetConnectionClose()
		x.Fail(400, pipeline.CodeBadRequest, "request body ended before its Content-Length")
	case ErrConnect:
		x.Fail(502, pipeline.CodeBadGateway, "upstream refused the connection")
	default:
		x.Fail(502, pipeline.CodeBadGateway, "upstream answered badly or reset the connection")
	}
}
