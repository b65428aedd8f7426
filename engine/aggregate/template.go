package aggregate

import (
	"fmt"
	"strings"

	"github.com/sluice-gw/sluice/engine/pipeline"
)

// template is a compiled backend path such as
// "/users/{claim.sub}/feed?lang={query.lang}&page={page}": literal pieces
// and placeholders, filled in per request without allocating.
type template struct {
	parts []part
}

type partKind uint8

const (
	partLiteral partKind = iota
	partParam            // {name}: a route path parameter
	partClaim            // {claim.X}: a claim of the caller's verified token
	partQuery            // {query.X}: a query parameter of the client request
)

type part struct {
	kind    partKind
	literal []byte
	name    string
	// inQuery is true after the template's '?': the value is escaped for a
	// query string instead of a path.
	inQuery bool
	// missing is the client-facing message when the value is absent.
	missing string
}

// parseTemplate compiles a backend path. params are the route's path
// parameter names.
func parseTemplate(s string, params []string) (*template, error) {
	if !strings.HasPrefix(s, "/") {
		return nil, fmt.Errorf("must start with '/'")
	}
	t := &template{}
	inQuery := false
	addLiteral := func(lit string) error {
		for i := 0; i < len(lit); i++ {
			c := lit[i]
			if c == '?' {
				if inQuery {
					return fmt.Errorf("more than one '?' in %q", s)
				}
				inQuery = true
				continue
			}
			if !literalSafe[c] {
				return fmt.Errorf("character %q must be percent-encoded in %q", c, s)
			}
		}
		t.parts = append(t.parts, part{kind: partLiteral, literal: []byte(lit)})
		return nil
	}
	for len(s) > 0 {
		i := strings.IndexAny(s, "{}")
		if i < 0 {
			if err := addLiteral(s); err != nil {
				return nil, err
			}
			break
		}
		if s[i] == '}' {
			return nil, fmt.Errorf("unmatched '}' in %q", s)
		}
		if i > 0 {
			if err := addLiteral(s[:i]); err != nil {
				return nil, err
			}
		}
		j := strings.IndexAny(s[i+1:], "{}")
		if j < 0 || s[i+1+j] != '}' {
			return nil, fmt.Errorf("unclosed '{' in %q", s)
		}
		p, err := parsePlaceholder(s[i+1:i+1+j], params)
		if err != nil {
			return nil, err
		}
		p.inQuery = inQuery
		t.parts = append(t.parts, p)
		s = s[i+j+2:]
	}
	return t, nil
}

func parsePlaceholder(name string, params []string) (part, error) {
	if name == "" {
		return part{}, fmt.Errorf("empty placeholder {}")
	}
	if c, ok := strings.CutPrefix(name, "claim."); ok {
		if c == "" {
			return part{}, fmt.Errorf("empty claim name in {%s}", name)
		}
		return part{kind: partClaim, name: c, missing: fmt.Sprintf("the token has no claim %q", c)}, nil
	}
	if q, ok := strings.CutPrefix(name, "query."); ok {
		if q == "" {
			return part{}, fmt.Errorf("empty query parameter name in {%s}", name)
		}
		return part{kind: partQuery, name: q, missing: fmt.Sprintf("missing query parameter %q", q)}, nil
	}
	for _, p := range params {
		if p == name {
			return part{kind: partParam, name: name}, nil
		}
	}
	return part{}, fmt.Errorf("unknown path parameter {%s} (the route path has %s)", name, describeParams(params))
}

func describeParams(params []string) string {
	if len(params) == 0 {
		return "none; use {claim.X} or {query.X} for other values"
	}
	return "{" + strings.Join(params, "}, {") + "}"
}

// usesClaims reports whether the template reads token claims.
func (t *template) usesClaims() bool {
	for _, p := range t.parts {
		if p.kind == partClaim {
			return true
		}
	}
	return false
}

// appendTo fills the template for x, appending the request URI to dst. When
// a claim or query parameter is absent it returns the part that is missing.
func (t *template) appendTo(dst []byte, x *pipeline.Exchange) ([]byte, *part) {
	for i := range t.parts {
		p := &t.parts[i]
		var v []byte
		switch p.kind {
		case partLiteral:
			dst = append(dst, p.literal...)
			continue
		case partParam:
			v, _ = x.Params.Get(p.name)
		case partClaim:
			var ok bool
			if x.Claims != nil {
				v, ok = x.Claims.Claim(p.name)
			}
			if !ok {
				return dst, p
			}
		case partQuery:
			args := x.Ctx.QueryArgs()
			if !args.Has(p.name) {
				return dst, p
			}
			v = args.Peek(p.name)
		}
		dst = p.escape(dst, v)
	}
	return dst, nil
}

// escape appends v percent-encoded for where the part lands. In a path, a
// route parameter keeps its '/' (only a {name...} rest parameter can hold
// one); claims and query values are data, so their '/' is encoded. In a
// query string only unreserved characters stay as they are.
func (p *part) escape(dst, v []byte) []byte {
	table := &querySafe
	if !p.inQuery {
		table = &segmentSafe
		if p.kind == partParam {
			table = &pathSafe
		}
	}
	const hex = "0123456789ABCDEF"
	for _, c := range v {
		if table[c] {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		}
	}
	return dst
}

// Character classes of RFC 3986.
var (
	// querySafe: unreserved characters.
	querySafe = charTable("-._~")
	// segmentSafe: pchar (unreserved, sub-delims, ':' and '@').
	segmentSafe = charTable("-._~!$&'()*+,;=:@")
	// pathSafe: pchar and '/'.
	pathSafe = charTable("-._~!$&'()*+,;=:@/")
	// literalSafe: what a template's literal text may hold as is ('%' for
	// pre-encoded text, '?' handled by the parser).
	literalSafe = charTable("-._~!$&'()*+,;=:@/%")
)

func charTable(extra string) [256]bool {
	var t [256]bool
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for i := 0; i < len(extra); i++ {
		t[extra[i]] = true
	}
	return t
}
