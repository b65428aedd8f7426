// Package schema validates request bodies against a route's JSON Schema file.
//
// Schemas are compiled once at start-up with
// github.com/santhosh-tekuri/jsonschema/v6: draft 2020-12 when the file has
// no "$schema", and drafts 4, 6, 7 and 2019-09 when it names them. Relative
// "$ref"s load sibling files; nothing is fetched over the network. "format"
// is asserted (a gateway that lets "not-an-email" through an email field
// surprises more than it helps).
package schema

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	json "github.com/goccy/go-json"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/sluice-gw/sluice/engine/fielderr"
)

// Validator is a compiled JSON Schema. It is safe for concurrent use.
type Validator struct {
	file   string
	schema *jsonschema.Schema
}

// New loads and compiles the schema in file. Every problem (missing or
// unreadable file, invalid JSON, invalid schema) is one error naming file,
// in a fielderr.List at the empty path: the caller merges it under the
// json_schema_file key.
func New(file string) (*Validator, error) {
	sch, err := compile(file)
	if err != nil {
		return nil, fielderr.List{fielderr.Errorf("", "schema %q: %v", file, err)}
	}
	return &Validator{file: file, schema: sch}, nil
}

func compile(file string) (*jsonschema.Schema, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errors.New("file not found")
		}
		return nil, fmt.Errorf("cannot read: %w", unwrapPath(err))
	}
	// Our own decode (rather than the library's loader) so a syntax error
	// reads as such, not as a failed URL load.
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(abs, doc); err != nil {
		return nil, err
	}
	sch, err := c.Compile(abs)
	if err != nil {
		return nil, describeCompileError(err)
	}
	return sch, nil
}

// describeCompileError shortens the library's multi-line metaschema report
// to its first concrete problem.
func describeCompileError(err error) error {
	var sv *jsonschema.SchemaValidationError
	if errors.As(err, &sv) {
		var ve *jsonschema.ValidationError
		if errors.As(sv.Err, &ve) {
			return fmt.Errorf("not a valid JSON Schema: %s", describeDeep(ve))
		}
		return fmt.Errorf("not a valid JSON Schema: %v", sv.Err)
	}
	return err
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Validate checks body, returning a short description of the first problem
// (it becomes the 400 message) or nil. Numbers are decoded as json.Number so
// that large integers keep their precision.
func (v *Validator) Validate(body []byte) error {
	doc, err := decode(body)
	if err != nil {
		return errors.New("body is not valid JSON")
	}
	err = v.schema.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		return errors.New(describe(ve))
	}
	return err
}

func decode(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the JSON value")
	}
	return doc, nil
}
