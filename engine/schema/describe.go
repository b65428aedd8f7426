package schema

import (
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// printer renders the library's messages in English.
var printer = message.NewPrinter(language.English)

// maxMessage bounds a description: it goes into an error response, and an
// enum or pattern in the schema can be arbitrarily long.
const maxMessage = 200

// describe renders the first leaf of a validation error tree as
// "/instance/location: problem" (the whole tree can be hundreds of lines for
// a oneOf over large schemas; the client needs one concrete lead).
func describe(ve *jsonschema.ValidationError) string {
	return describeLeaf(firstLeaf(ve, false))
}

// describeDeep is describe going down through anyOf/oneOf too: for a
// schema failing its metaschema, "'anyOf' failed" says too little.
func describeDeep(ve *jsonschema.ValidationError) string {
	return describeLeaf(firstLeaf(ve, true))
}

func describeLeaf(leaf *jsonschema.ValidationError) string {
	var sb strings.Builder
	if len(leaf.InstanceLocation) == 0 {
		sb.WriteByte('/')
	}
	for _, tok := range leaf.InstanceLocation {
		sb.WriteByte('/')
		// RFC 6901 escaping of the pointer tokens.
		tok = strings.ReplaceAll(tok, "~", "~0")
		sb.WriteString(strings.ReplaceAll(tok, "/", "~1"))
	}
	sb.WriteString(": ")
	sb.WriteString(leaf.ErrorKind.LocalizedString(printer))
	s := sb.String()
	if len(s) > maxMessage {
		s = truncate(s, maxMessage) + "…"
	}
	return s
}

// firstLeaf follows the first cause down to a concrete keyword failure,
// skipping the wrapper kinds (schema, group, reference).
func firstLeaf(ve *jsonschema.ValidationError, deep bool) *jsonschema.ValidationError {
	for len(ve.Causes) > 0 {
		switch ve.ErrorKind.(type) {
		case *kind.Schema, *kind.Group, *kind.Reference, *kind.AllOf:
		default:
			// anyOf/oneOf/not: the keyword itself is the best summary, but
			// a single cause is more precise.
			if len(ve.Causes) > 1 && !deep {
				return ve
			}
		}
		ve = ve.Causes[0]
	}
	return ve
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
