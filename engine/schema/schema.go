// Package schema validates request bodies against a route's JSON Schema file.
package schema

import "github.com/sluice-gw/sluice/engine/config"

// Validator is a compiled JSON Schema.
type Validator struct{}

// Compile loads and compiles the schema in file; path is the JSON path of the
// json_schema_file key.
func Compile(file, path string) (*Validator, config.Errors) {
	var errs config.Errors
	errs.Add(path, "not supported yet")
	return nil, errs
}

// Validate checks body, returning a short description of the first problem
// (it becomes the 400 message) or nil.
func (v *Validator) Validate(body []byte) error { return nil }
