package engine

import (
	json "github.com/goccy/go-json"
	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/sluice-gw/sluice/engine/schema"
)

// validation is the compiled validate stage of a route.
type validation struct {
	required []string
	messages []string
	jsonBody bool
	schema   *schema.Validator
}

// Name is the stage's name in GET /routes.
func (v *validation) Name() string { return "validate" }

// Handle is check as a pipeline stage.
func (v *validation) Handle(x *pipeline.Exchange) pipeline.Verdict {
	if v.check(x) {
		return pipeline.Next
	}
	return pipeline.Replied
}

// check fails x with 400 when a required header is missing or the body is
// not well-formed JSON. A body is checked when present or when the method
// carries one (POST, PUT, PATCH).
func (v *validation) check(x *pipeline.Exchange) bool {
	h := &x.Ctx.Request.Header
	for i, name := range v.required {
		if len(h.Peek(name)) == 0 {
			return x.Fail(fault.BadRequest, v.messages[i])
		}
	}
	if v.jsonBody {
		body := x.Ctx.Request.Body()
		if len(body) == 0 && !x.Ctx.IsPost() && !x.Ctx.IsPut() && !x.Ctx.IsPatch() {
			return true
		}
		if !json.Valid(body) {
			return x.Fail(fault.BadRequest, "request body is not valid JSON")
		}
		if v.schema != nil {
			if err := v.schema.Validate(body); err != nil {
				return x.Fail(fault.BadRequest, "request body does not match the schema: "+err.Error())
			}
		}
	}
	return true
}
