// Package promlabel escapes text for a Prometheus label value. Route, service
// and target names come from the user's config and must not break (or
// panic) the metrics registry.
package promlabel

import "strings"

var escaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// Value returns s escaped for use between the quotes of a label value.
// It is meant for compile time; it allocates only when s needs escaping.
func Value(s string) string {
	if !strings.ContainsAny(s, "\\\"\n") {
		return s
	}
	return escaper.Replace(s)
}
