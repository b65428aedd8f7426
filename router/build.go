package router

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Error is a problem with one route found by Build.
type Error struct {
	Index int    // position of the route in the slice given to Build
	Field string // "path", "methods[i]", "host" or "headers.NAME"
	Err   error
}

// Error formats as "route 3: ...", naming the field when it is not the path.
func (e *Error) Error() string {
	if e.Field == "path" {
		return fmt.Sprintf("route %d: %v", e.Index, e.Err)
	}
	return fmt.Sprintf("route %d: %s: %v", e.Index, e.Field, e.Err)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Router is a compiled, immutable route table; safe for concurrent Lookup.
type Router struct {
	root    *node
	methods []string // method universe; a method's bit is its index
	allow   *allowTable
}

// node is one segment position of the tree. Children are split by kind so
// Lookup tries them in priority order: static, then parameter, then catch-all.
type node struct {
	text    string  // the static segment leading here
	statics []*node // sorted by text
	param   *node
	catch   *node
	routes  []*entry // routes ending here, most specific first
}

// entry is one compiled route.
type entry struct {
	id      int
	index   int      // position in the config, for errors and ties
	params  []string // parameter names in path order
	host    string   // lower case, without port; "" matches any host
	headers [][2]string
	hdrKey  string // canonical header set, for conflict detection
	any     bool   // no methods listed: every method
	mask    uint64 // listed methods
	allow   uint64 // mask plus HEAD when GET is listed
}

// Build compiles routes into one tree. It returns every problem found, each
// an *Error naming the route's index. The returned Router holds the valid
// routes even when there are errors (useful to tests); a gateway should not
// serve a table that had errors.
func Build(routes []Route) (*Router, []error) {
	var errs []error
	fail := func(i int, field string, err error) {
		errs = append(errs, &Error{Index: i, Field: field, Err: err})
	}
	type parsed struct {
		segs []segment
		e    *entry
		r    *Route
	}
	var ok []parsed
	named := map[string]bool{}
	for i := range routes {
		r := &routes[i]
		segs, err := parsePattern(r.Path)
		if err != nil {
			fail(i, "path", err)
			continue
		}
		e, bad := compileEntry(i, r, segs)
		if bad != nil {
			errs = append(errs, bad)
			continue
		}
		for _, m := range r.Methods {
			named[strings.ToUpper(m)] = true
		}
		ok = append(ok, parsed{segs, e, r})
	}

	rt := &Router{root: &node{}, methods: methodUniverse(named)}
	var masks []uint64
	for _, p := range ok {
		if err := rt.setMethods(p.e, p.r); err != nil {
			fail(p.e.index, "methods", err)
			continue
		}
		masks = append(masks, p.e.allow)
		rt.insert(p.segs, p.e)
	}
	rt.allow = newAllowTable(rt.methods, masks)
	rt.root.walkNodes(func(n *node) { errs = append(errs, n.finish()...) })
	sort.SliceStable(errs, func(i, j int) bool {
		var a, b *Error
		errors.As(errs[i], &a)
		errors.As(errs[j], &b)
		return a.Index < b.Index
	})
	return rt, errs
}

// compileEntry checks the host, headers and methods of one route.
func compileEntry(i int, r *Route, segs []segment) (*entry, error) {
	e := &entry{id: r.ID, index: i, any: len(r.Methods) == 0}
	for _, s := range segs {
		if s.kind != segStatic {
			e.params = append(e.params, s.text)
		}
	}
	for j, m := range r.Methods {
		if !validMethod(m) {
			return nil, &Error{i, fmt.Sprintf("methods[%d]", j), fmt.Errorf("invalid method %q", m)}
		}
	}
	if r.Host != "" {
		h := strings.ToLower(string(hostOnly([]byte(r.Host))))
		if h == "" || strings.ContainsAny(h, " /\t") {
			return nil, &Error{i, "host", fmt.Errorf("invalid host %q", r.Host)}
		}
		e.host = h
	}
	keys := make([]string, 0, len(r.Headers))
	for _, hv := range r.Headers {
		name := strings.ToLower(hv[0])
		if !validMethod(name) { // header names are tokens too
			return nil, &Error{i, "headers." + hv[0], fmt.Errorf("invalid header name %q", hv[0])}
		}
		for _, k := range keys {
			if strings.HasPrefix(k, name+"\x00") {
				return nil, &Error{i, "headers." + hv[0], errors.New("header listed twice")}
			}
		}
		keys = append(keys, name+"\x00"+hv[1])
		e.headers = append(e.headers, hv)
	}
	sort.Strings(keys)
	e.hdrKey = strings.Join(keys, "\x01")
	return e, nil
}

// setMethods fills the route's method masks from the universe.
func (rt *Router) setMethods(e *entry, r *Route) error {
	for _, m := range r.Methods {
		idx := methodIndex(rt.methods, strings.ToUpper(m))
		if idx >= maxMethods {
			return fmt.Errorf("more than %d distinct methods in the route table", maxMethods)
		}
		e.mask |= 1 << idx
	}
	e.allow = e.mask
	if e.mask&bitGET != 0 {
		e.allow |= bitHEAD
	}
	return nil
}

// insert adds a route along its segments.
func (rt *Router) insert(segs []segment, e *entry) {
	n := rt.root
	for _, s := range segs {
		switch s.kind {
		case segStatic:
			n = n.staticChild(s.text)
		case segParam:
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
		case segCatch:
			if n.catch == nil {
				n.catch = &node{}
			}
			n = n.catch
		}
	}
	n.routes = append(n.routes, e)
}

// staticChild returns the static child for text, creating it in sorted place.
func (n *node) staticChild(text string) *node {
	i := sort.Search(len(n.statics), func(i int) bool { return n.statics[i].text >= text })
	if i < len(n.statics) && n.statics[i].text == text {
		return n.statics[i]
	}
	c := &node{text: text}
	n.statics = append(n.statics, nil)
	copy(n.statics[i+1:], n.statics[i:])
	n.statics[i] = c
	return c
}

// walkNodes calls f on n and every node below it.
func (n *node) walkNodes(f func(*node)) {
	f(n)
	for _, c := range n.statics {
		c.walkNodes(f)
	}
	if n.param != nil {
		n.param.walkNodes(f)
	}
	if n.catch != nil {
		n.catch.walkNodes(f)
	}
}

// finish reports routes on this node that could never be told apart from an
// earlier one, drops them, and orders the rest most specific first.
func (n *node) finish() []error {
	var errs []error
	kept := n.routes[:0]
	for _, e := range n.routes {
		var clash *entry
		for _, k := range kept {
			if k.host == e.host && k.hdrKey == e.hdrKey && (k.any || e.any || k.mask&e.mask != 0) {
				clash = k
				break
			}
		}
		if clash != nil {
			errs = append(errs, &Error{Index: e.index, Field: "path", Err: fmt.Errorf(
				"conflicts with route %d: same path shape, host, headers and overlapping methods", clash.index)})
			continue
		}
		kept = append(kept, e)
	}
	n.routes = kept
	sort.SliceStable(n.routes, func(i, j int) bool {
		a, b := n.routes[i], n.routes[j]
		if ca, cb := a.conditions(), b.conditions(); ca != cb {
			return ca > cb
		}
		if (a.host != "") != (b.host != "") {
			return a.host != ""
		}
		return a.index < b.index
	})
	return errs
}

// conditions counts what narrows a route beyond its path: host and headers.
func (e *entry) conditions() int {
	c := len(e.headers)
	if e.host != "" {
		c++
	}
	return c
}
