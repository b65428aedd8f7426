package router

import (
	"errors"
	"fmt"
	"strings"
)

// segKind says how one pattern segment matches.
type segKind uint8

// Segment kinds, in matching priority order: static beats parameter beats catch-all.
const (
	segStatic segKind = iota // a literal segment
	segParam                 // {name}: exactly one non-empty segment
	segCatch                 // {name...} or *: the rest of the path, possibly empty
)

// segment is one parsed piece of a pattern.
type segment struct {
	kind segKind
	// text is the decoded literal for a static segment, the parameter name
	// otherwise ("*" for the anonymous catch-all).
	text string
}

// CatchAllName is the parameter name under which a trailing * stores what it matched.
const CatchAllName = "*"

// parsePattern splits a route pattern into segments. The pattern "/" is one
// empty static segment; a trailing slash adds an empty last segment, so "/a/"
// and "/a" are different patterns, as they are different paths.
func parsePattern(p string) ([]segment, error) {
	if p == "" || p[0] != '/' {
		return nil, fmt.Errorf("pattern %q must start with '/'", p)
	}
	var segs []segment
	params := 0
	rest := p[1:]
	for {
		raw, tail, more := strings.Cut(rest, "/")
		s, err := parseSegment(raw, !more)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", p, err)
		}
		if s.kind != segStatic {
			for _, prev := range segs {
				if prev.kind != segStatic && prev.text == s.text && s.text != CatchAllName {
					return nil, fmt.Errorf("pattern %q: duplicate parameter name %q", p, s.text)
				}
			}
			if params++; params > MaxParams {
				return nil, fmt.Errorf("pattern %q: more than %d parameters", p, MaxParams)
			}
		}
		segs = append(segs, s)
		if !more {
			return segs, nil
		}
		rest = tail
	}
}

// parseSegment parses the text between two slashes; last is true for the final one.
func parseSegment(raw string, last bool) (segment, error) {
	switch {
	case raw == "" && !last:
		return segment{}, errors.New(`empty segment ("//")`)
	case raw == "*":
		if !last {
			return segment{}, errors.New("'*' must be the last segment")
		}
		return segment{kind: segCatch, text: CatchAllName}, nil
	case strings.HasPrefix(raw, "{"):
		return parseParam(raw, last)
	}
	if i := strings.IndexAny(raw, "{}"); i >= 0 {
		if raw[i] == '{' && !strings.Contains(raw[i:], "}") {
			return segment{}, fmt.Errorf("unclosed '{' in segment %q", raw)
		}
		return segment{}, fmt.Errorf("segment %q: a parameter must be a whole segment", raw)
	}
	if strings.Contains(raw, "*") {
		return segment{}, fmt.Errorf("segment %q: '*' must be a whole last segment", raw)
	}
	text, err := decodeStatic(raw)
	if err != nil {
		return segment{}, fmt.Errorf("segment %q: %w", raw, err)
	}
	return segment{kind: segStatic, text: text}, nil
}

// parseParam parses "{name}" or "{name...}".
func parseParam(raw string, last bool) (segment, error) {
	if !strings.HasSuffix(raw, "}") {
		if strings.Contains(raw, "}") {
			return segment{}, fmt.Errorf("segment %q: a parameter must be a whole segment", raw)
		}
		return segment{}, fmt.Errorf("unclosed '{' in segment %q", raw)
	}
	name := raw[1 : len(raw)-1]
	if strings.ContainsAny(name, "{}") {
		return segment{}, fmt.Errorf("segment %q: nested or repeated braces", raw)
	}
	kind := segParam
	if n, ok := strings.CutSuffix(name, "..."); ok {
		if !last {
			return segment{}, fmt.Errorf("%q must be the last segment", raw)
		}
		kind, name = segCatch, n
	}
	if name == "" {
		return segment{}, fmt.Errorf("empty parameter name in %q", raw)
	}
	if !validParamName(name) {
		return segment{}, fmt.Errorf("invalid parameter name %q (want letters, digits and '_', not starting with a digit)", name)
	}
	return segment{kind: kind, text: name}, nil
}

// validParamName accepts Go-identifier-like ASCII names, so templates such as
// {claim.sub} elsewhere in the config can never be confused with a parameter.
func validParamName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

// decodeStatic percent-decodes a literal segment, so that it compares equal to
// the decoded request path Lookup receives. It refuses what one segment of a
// normalised path can never be.
func decodeStatic(raw string) (string, error) {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c < 0x20 || c == 0x7f || c == ' ' || c == '?' || c == '#':
			return "", fmt.Errorf("invalid character %q (percent-encode it)", c)
		case c == '%':
			if i+2 >= len(raw) {
				return "", ErrInvalidEscape
			}
			hi, ok1 := unhex(raw[i+1])
			lo, ok2 := unhex(raw[i+2])
			if !ok1 || !ok2 {
				return "", ErrInvalidEscape
			}
			c = hi<<4 | lo
			i += 2
		}
		switch c {
		case 0:
			return "", ErrNullByte
		case '/':
			return "", errors.New("an encoded '/' may not appear in a segment")
		}
		out = append(out, c)
	}
	if s := string(out); s == "." || s == ".." {
		return "", errors.New("dot segments are not allowed")
	}
	return string(out), nil
}
