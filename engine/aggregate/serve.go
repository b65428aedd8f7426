package aggregate

import (
	"bytes"
	"sync/atomic"
	"time"

	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/sluice-gw/sluice/engine/tracing"
	"github.com/sluice-gw/sluice/engine/upstream"
	"github.com/valyala/fasthttp"
)

// HeaderPartial marks an answer that lacks an optional backend's key.
const HeaderPartial = "X-Partial-Response"

// maxDecodedBody bounds a compressed backend answer once decompressed.
const maxDecodedBody = 16 << 20

// outcome is what became of one backend call.
type outcome uint8

const (
	resPending     outcome = iota
	resOK                  // a 2xx JSON answer
	resMissing             // a {claim.X} or {query.X} was absent: not called
	resTimeout             // no answer within its timeout
	resConnect             // could not connect
	resUnavailable         // no healthy target, connections exhausted or circuit open
	resBadResponse         // reset or garbage
	resStatus              // a non-2xx status
	resNotJSON             // a 2xx answer that is not JSON
	resAbandoned           // still running when a required backend failed
)

var outcomeNames = [...]string{
	resPending: "pending", resOK: "", resMissing: "missing_input", resTimeout: "timeout",
	resConnect: "connect", resUnavailable: "unavailable", resBadResponse: "bad_response",
	resStatus: "status", resNotJSON: "not_json", resAbandoned: "abandoned",
}

// state is the pooled per-request state of a plan. It returns to the pool
// when both Serve and every call it started are done with it, so a backend
// still running after an early answer never touches a reused state.
type state struct {
	plan  *Plan
	calls []*call
	done  chan int // indexes of finished calls; capacity len(calls)
	timer *time.Timer
	refs  atomic.Int32
	hdr   fasthttp.RequestHeader // the request headers every backend gets
	uri   []byte
}

// call is one backend call. Fields below "written by the worker" belong to
// the worker until it sends the call's index on state.done.
type call struct {
	st       *state
	idx      int
	b        *backend
	req      *fasthttp.Request
	resp     *fasthttp.Response
	start    time.Time
	deadline time.Time
	span     tracing.ChildID // when the request is traced

	// written by the worker
	result   outcome
	status   int
	target   string
	dur      time.Duration
	body     []byte // the JSON to splice in: resp's body or filtered
	filtered []byte

	// owned by Serve
	final  outcome
	waited bool // Serve received the call back: the worker fields are readable
}

func newState(p *Plan) any {
	st := &state{plan: p, done: make(chan int, len(p.backends))}
	st.timer = time.NewTimer(time.Hour)
	st.timer.Stop()
	st.hdr.DisableNormalizing()
	for i := range p.backends {
		st.calls = append(st.calls, &call{
			st: st, idx: i, b: &p.backends[i],
			req: fasthttp.AcquireRequest(), resp: fasthttp.AcquireResponse(),
		})
	}
	return st
}

// release drops one reference; the last one resets st and pools it.
func (st *state) release() {
	if st.refs.Add(-1) != 0 {
		return
	}
	for len(st.done) > 0 {
		<-st.done
	}
	for _, c := range st.calls {
		c.req.Reset()
		c.resp.Reset()
		c.body = nil
		c.filtered = c.filtered[:0]
	}
	st.hdr.Reset()
	st.hdr.DisableNormalizing()
	st.plan.states.Put(st)
}

// Serve calls the backends for x and writes the merged answer to
// x.Ctx.Response, or fails x: 400 when a required backend's {claim.X} or
// {query.X} is absent, 504 when a required backend timed out, 502 when it
// failed otherwise. It answers as soon as the outcome is known.
func (p *Plan) Serve(x *pipeline.Exchange) {
	st := p.states.Get().(*state)
	st.refs.Store(1)
	now := time.Now()
	start := x.Start
	if start.IsZero() {
		start = now
	}
	deadline := start.Add(p.timeout)
	if !x.Deadline.IsZero() && x.Deadline.Before(deadline) {
		deadline = x.Deadline
	}

	// Build every request first: a missing required input fails the request
	// before any backend is called.
	copyHeaders(&st.hdr, &x.Ctx.Request.Header)
	for _, c := range st.calls {
		c.result, c.final, c.waited, c.status, c.target, c.dur = resPending, resPending, false, 0, "", 0
		uri, missing := c.b.path.appendTo(st.uri[:0], x)
		st.uri = uri
		if missing != nil {
			c.result, c.final = resMissing, resMissing
			if !c.b.optional {
				x.Fail(fault.BadRequest, missing.missing)
				st.log(x, now)
				st.release()
				return
			}
			continue
		}
		st.hdr.CopyTo(&c.req.Header)
		if x.Trace.Sampled() {
			c.span = x.Trace.StartChild(&c.req.Header)
		}
		c.req.SetRequestURIBytes(uri)
		c.start = now
		c.deadline = now.Add(c.b.timeout)
		if c.deadline.After(deadline) {
			c.deadline = deadline
		}
	}

	launched := 0
	for _, c := range st.calls {
		if c.result == resPending {
			st.refs.Add(1)
			pool.run(c)
			launched++
		}
	}
	st.wait(launched, deadline)

	if kind, msg, failed := st.verdict(); failed {
		x.Fail(kind, msg)
	} else {
		st.merge(x)
	}
	st.log(x, now)
	st.trace(x, now)
	st.release()
}

// wait collects finished calls until all are in, a required one failed, or
// the deadline passed, and settles every call's final outcome.
func (st *state) wait(launched int, deadline time.Time) {
	timedOut := false
	if launched > 0 {
		st.timer.Reset(time.Until(deadline))
	loop:
		for n := 0; n < launched; n++ {
			select {
			case i := <-st.done:
				c := st.calls[i]
				c.final, c.waited = c.result, true
				if c.final != resOK && !c.b.optional {
					break loop
				}
			case <-st.timer.C:
				timedOut = true
				break loop
			}
		}
		st.timer.Stop()
	}
	for _, c := range st.calls {
		if c.final == resPending {
			if timedOut {
				c.final = resTimeout
			} else {
				c.final = resAbandoned
			}
		}
	}
}

// verdict reports how the request fails, if it does: by the first required
// backend, in config order, that did not answer well.
func (st *state) verdict() (kind fault.Kind, msg string, failed bool) {
	for _, c := range st.calls {
		if c.b.optional {
			continue
		}
		switch c.final {
		case resOK, resAbandoned:
			continue
		case resTimeout:
			return fault.UpstreamTimeout, c.b.messages[resTimeout], true
		default:
			return fault.BadGateway, c.b.messages[c.final], true
		}
	}
	return 0, "", false
}

// merge writes the 200 answer: each good backend's JSON under its key, in
// config order. A missing optional key marks the answer partial (and not
// cacheable, by the gateway or anyone else).
func (st *state) merge(x *pipeline.Exchange) {
	resp := &x.Ctx.Response
	resp.ResetBody()
	resp.SetStatusCode(fasthttp.StatusOK)
	resp.Header.SetContentType("application/json")
	resp.AppendBodyString("{")
	first, partial := true, false
	for _, c := range st.calls {
		if c.final != resOK {
			partial = true
			continue
		}
		if !first {
			resp.AppendBodyString(",")
		}
		first = false
		resp.AppendBody(c.b.keyJSON)
		resp.AppendBody(c.body)
	}
	resp.AppendBodyString("}")
	if partial {
		x.AddResponseHeaderString(HeaderPartial, "true")
		resp.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	}
}

// run performs the call on a worker and hands it back to Serve.
func (c *call) run() {
	t, err := c.b.svc.Do(c.req, c.resp, c.deadline, true)
	if t != nil {
		c.target = t.Addr
	}
	c.dur = time.Since(c.start)
	c.result = c.judge(err)
	st := c.st
	st.done <- c.idx
	st.release()
}

// judge classifies the call and, for a good answer, sets body.
func (c *call) judge(err error) outcome {
	switch err {
	case nil:
	case upstream.ErrTimeout:
		return resTimeout
	case upstream.ErrConnect:
		return resConnect
	case upstream.ErrNoTarget, upstream.ErrBusy, upstream.ErrCircuitOpen:
		return resUnavailable
	default:
		return resBadResponse
	}
	c.status = c.resp.StatusCode()
	if c.status < 200 || c.status > 299 {
		return resStatus
	}
	if c.status == fasthttp.StatusNoContent {
		c.body = jsonNull
		return resOK
	}
	body := c.resp.Body()
	if ce := c.resp.Header.ContentEncoding(); len(ce) > 0 && !bytes.EqualFold(ce, identity) {
		if body, err = c.resp.BodyUncompressedWithLimit(maxDecodedBody); err != nil {
			return resNotJSON
		}
	}
	if !validJSON(body) {
		return resNotJSON
	}
	if c.b.allow != nil {
		c.filtered = filterJSON(c.filtered[:0], body, c.b.allow)
		c.body = c.filtered
	} else {
		c.body = bytes.TrimSpace(body)
	}
	return resOK
}

var (
	jsonNull = []byte("null")
	identity = []byte("identity")
)

// dropped request headers: the backends get a bodiless GET, in identity
// encoding (to splice it), unconditional (a 304 is no JSON), with their own
// Host (set per target) and pooled connections (no Connection: close).
var dropped = [...]string{
	"host", "connection", "content-length", "content-type", "transfer-encoding", "expect",
	"accept-encoding", "range", "if-range", "if-match", "if-none-match",
	"if-modified-since", "if-unmodified-since",
}

// copyHeaders sets dst to the client's (already forwarded-prepared) request
// headers minus the dropped ones, as a GET.
func copyHeaders(dst, src *fasthttp.RequestHeader) {
	for k, v := range src.All() {
		if !isDropped(k) {
			dst.AddBytesKV(k, v)
		}
	}
	dst.SetMethod(fasthttp.MethodGet)
}

func isDropped(k []byte) bool {
	for _, d := range dropped {
		if httpbytes.EqualFold(k, d) {
			return true
		}
	}
	return false
}
