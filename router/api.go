// Package router matches normalised request paths, methods, hosts and header
// values against a route table compiled once into a radix tree.
//
// It is a leaf package (standard library only) and its lookup allocates nothing.
//
// Patterns are split on '/' into segments: static text (percent-decoded at
// Build, so it compares with the decoded request path), {name} (exactly one
// non-empty segment), and, last only, {name...} or * (the rest of the path).
// A catch-all needs the slash before it but may match nothing:
// "/files/{p...}" matches "/files/" (p="") and "/files/a/b" (p="a/b"), not
// "/files". A trailing slash is significant: "/a/" and "/a" are different
// patterns, as they are different paths.
//
// Lookup prefers static over parameter over catch-all at every segment and
// backtracks, so "/a/{x}/d" still answers "/a/b/d" next to "/a/b/c". Routes
// on one pattern are narrowed by host and headers (most specific first: more
// conditions, then host, then config order) and then by method. A pattern
// whose routes all fail host/headers, or none of which allows the method,
// does not stop the search: a less specific pattern may still match (the
// most specific matching route wins, as in Kong and Go's ServeMux). Only when
// nothing matches is the answer 405 (if some route matched all but the
// method) or 404.
//
// Normalize turns the raw request path into the form Lookup expects; Escape
// turns it back into a wire path for the upstream.
package router

// MaxParams is the most path parameters one route may capture.
const MaxParams = 16

// Params holds the parameters captured by a lookup. Values are sub-slices of
// the path given to Lookup and are valid as long as that path is.
type Params struct {
	n      int
	names  [MaxParams]string
	values [MaxParams][]byte
}

// Reset empties p.
func (p *Params) Reset() { p.n = 0 }

// Len returns the number of captured parameters.
func (p *Params) Len() int { return p.n }

// Name returns the name of parameter i.
func (p *Params) Name(i int) string { return p.names[i] }

// Value returns the value of parameter i.
func (p *Params) Value(i int) []byte { return p.values[i] }

// Get returns the value of the parameter called name, and whether it exists.
func (p *Params) Get(name string) ([]byte, bool) {
	for i := 0; i < p.n; i++ {
		if p.names[i] == name {
			return p.values[i], true
		}
	}
	return nil, false
}

// Set appends a parameter (used by the matcher).
func (p *Params) Set(name string, value []byte) {
	if p.n < MaxParams {
		p.names[p.n] = name
		p.values[p.n] = value
		p.n++
	}
}

// Route is one entry to compile.
type Route struct {
	// Path is the pattern: static segments, {name} (one segment), {name...}
	// (the rest, last only) or a trailing * (anonymous rest).
	Path string
	// Methods allowed; empty means every method. GET implies HEAD (a route
	// listing HEAD on the same pattern takes HEAD first). Names are upper-cased
	// at Build; request methods match exactly.
	Methods []string
	// Host, when set, must equal the request host (case-insensitive, port ignored).
	Host string
	// Headers must all be present with exactly these values (names are
	// case-insensitive; an empty value also matches an absent header).
	Headers [][2]string
	// ID is returned by Lookup when this route matches.
	ID int
}

// Header reads a request header by name (fasthttp's *RequestHeader fits).
type Header interface {
	Peek(name string) []byte
}

// Status is the outcome of a lookup.
type Status int

// Lookup outcomes.
const (
	NotFound         Status = iota // no route for the path, or host/headers matched none
	Found                          // ID and params are set
	MethodNotAllowed               // path (and host/headers) matched but not the method; Allow is set
)

// Result is what Lookup answers.
type Result struct {
	Status Status
	ID     int
	// Allow lists the allowed methods for a 405, e.g. "GET, HEAD, POST".
	Allow string
}
