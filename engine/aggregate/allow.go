package aggregate

import (
	"bytes"
	"strings"

	json "github.com/goccy/go-json"
	"github.com/sluice-gw/sluice/engine/fielderr"
)

// allowNode is one field of a backend's allow list. The list compiles into
// a tree: "profile.address.city" keeps profile → address → city, and a node
// that is itself listed ("profile") keeps its whole value.
type allowNode struct {
	name     string
	all      bool
	children []*allowNode
}

// compileAllow builds the allow tree; nil when the list is empty (no
// filtering). Its problems go to errs under path.
func compileAllow(list []string, path string, errs *fielderr.List) []*allowNode {
	var root []*allowNode
	for j, entry := range list {
		segs := strings.Split(entry, ".")
		bad := false
		for _, s := range segs {
			bad = bad || s == ""
		}
		if bad {
			errs.Add(fielderr.Index(path, j), "invalid field path %q (want names joined by '.', e.g. \"address.city\")", entry)
			continue
		}
		level := &root
		for k, s := range segs {
			n := findNode(*level, s)
			if n == nil {
				n = &allowNode{name: s}
				*level = append(*level, n)
			}
			if k == len(segs)-1 {
				n.all = true
			}
			level = &n.children
		}
	}
	return root
}

func findNode(nodes []*allowNode, name string) *allowNode {
	for _, n := range nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// matchKey finds the node for a raw (still escaped) object key.
func matchKey(nodes []*allowNode, raw []byte) *allowNode {
	if bytes.IndexByte(raw, '\\') >= 0 {
		// Rare: an escaped key. Decode it properly (this allocates).
		var s string
		q := make([]byte, 0, len(raw)+2)
		q = append(append(append(q, '"'), raw...), '"')
		if json.Unmarshal(q, &s) != nil {
			return nil
		}
		return findNode(nodes, s)
	}
	for _, n := range nodes {
		if n.name == string(raw) {
			return n
		}
	}
	return nil
}

// filterJSON appends the valid JSON value b to dst keeping, in objects, only
// the fields in the allow tree. Arrays are filtered element by element;
// other values pass unchanged. Member order is the backend's.
func filterJSON(dst, b []byte, fields []*allowNode) []byte {
	dst, _ = filterValue(dst, b, skipWS(b, 0), fields)
	return dst
}

// filterValue filters the value at b[i] (known to be valid JSON) and returns
// the index after it.
func filterValue(dst, b []byte, i int, fields []*allowNode) ([]byte, int) {
	switch b[i] {
	case '{':
		return filterObject(dst, b, i, fields)
	case '[':
		dst = append(dst, '[')
		i = skipWS(b, i+1)
		if b[i] == ']' {
			return append(dst, ']'), i + 1
		}
		for {
			dst, i = filterValue(dst, b, i, fields)
			i = skipWS(b, i)
			if b[i] == ']' {
				return append(dst, ']'), i + 1
			}
			dst = append(dst, ',')
			i = skipWS(b, i+1)
		}
	default:
		e, _ := skipValue(b, i, 0)
		return append(dst, b[i:e]...), e
	}
}

func filterObject(dst, b []byte, i int, fields []*allowNode) ([]byte, int) {
	dst = append(dst, '{')
	i = skipWS(b, i+1)
	if b[i] == '}' {
		return append(dst, '}'), i + 1
	}
	first := true
	for {
		ks := i
		ke, _ := skipString(b, i)
		i = skipWS(b, ke)
		i = skipWS(b, i+1) // past ':'
		if n := matchKey(fields, b[ks+1:ke-1]); n != nil {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, b[ks:ke]...)
			dst = append(dst, ':')
			if n.all {
				e, _ := skipValue(b, i, 0)
				dst = append(dst, b[i:e]...)
				i = e
			} else {
				dst, i = filterValue(dst, b, i, n.children)
			}
		} else {
			i, _ = skipValue(b, i, 0)
		}
		i = skipWS(b, i)
		if b[i] == '}' {
			return append(dst, '}'), i + 1
		}
		i = skipWS(b, i+1) // past ','
	}
}
