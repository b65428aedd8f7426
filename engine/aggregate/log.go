package aggregate

import (
	"strconv"
	"time"

	"github.com/sluice-gw/sluice/engine/pipeline"
)

// log appends the backends' access log member to x.LogExtra:
// ,"backends":[{"key":"profile","status":200,"ms":1.234,"target":"127.0.0.1:9001"},…]
// A call still running when the answer went out has only its key, error
// and the time waited for it.
func (st *state) log(x *pipeline.Exchange, start time.Time) {
	b := append(x.LogExtra, `,"backends":[`...)
	elapsed := time.Since(start)
	for i, c := range st.calls {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, c.b.logKey...)
		d := elapsed
		if c.waited {
			d = c.dur
			if c.status > 0 {
				b = append(b, `,"status":`...)
				b = strconv.AppendInt(b, int64(c.status), 10)
			}
			if c.target != "" {
				b = append(b, `,"target":`...)
				b = pipeline.AppendJSONString(b, c.target)
			}
		}
		if c.final != resMissing {
			b = append(b, `,"ms":`...)
			b = strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', 3, 64)
		}
		if c.final != resOK {
			b = append(b, `,"error":"`...)
			b = append(b, outcomeNames[c.final]...)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	x.LogExtra = append(b, ']')
}

// trace records each backend call that was made as a span of a traced
// request (a call still running when the answer went out ends now).
func (st *state) trace(x *pipeline.Exchange, start time.Time) {
	if !x.Trace.Sampled() {
		return
	}
	now := time.Now()
	for _, c := range st.calls {
		if c.final == resMissing {
			continue
		}
		end, status, target := now, 0, ""
		if c.waited {
			end, status, target = start.Add(c.dur), c.status, c.target
		}
		x.Trace.AddChild(c.span, c.b.svc.Name, target, status, outcomeNames[c.final], start, end)
	}
}
