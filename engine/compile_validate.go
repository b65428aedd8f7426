package engine

import (
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
	"github.com/sluice-gw/sluice/engine/schema"
)

// compileValidation compiles a route's validate block at JSON path path.
func compileValidation(c *config.Validate, path string) (*validation, config.Errors) {
	var errs config.Errors
	v := &validation{jsonBody: c.JSONBody}
	for i, h := range c.RequiredHeaders {
		if !httpbytes.ValidToken(h) {
			errs.Add(config.Index(config.Join(path, "required_headers"), i), "invalid header name %q", h)
			continue
		}
		v.required = append(v.required, h)
		v.messages = append(v.messages, "missing required header "+h)
	}
	if c.JSONSchemaFile != "" {
		sv, err := schema.New(c.JSONSchemaFile)
		errs.Merge(config.Join(path, "json_schema_file"), err)
		v.schema = sv
		v.jsonBody = true
	}
	return v, errs
}
