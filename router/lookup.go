package router

// lookupState is what one Lookup carries down the tree; it lives on the stack.
type lookupState struct {
	method  int // index in the method universe, -1 when no route names it
	host    []byte
	h       Header
	p       *Params
	matched bool   // some route's path, host and headers matched, not its method
	allow   uint64 // methods allowed by those routes
}

// Lookup matches a normalised path (see Normalize), the request method, the
// request Host (any case, port allowed) and headers. p receives the winner's
// parameters (pass one: a nil p costs an allocation); what a trailing * matched
// is stored under the name "*".
//
// The tree is searched depth first, static before parameter before catch-all
// at every segment, backtracking when a branch ends without a match. At a
// node where patterns end, routes whose host or headers do not match are
// skipped; of the others the first (most specific) allowing the method wins.
// When none allows it the search goes on (a less specific pattern may allow
// the method, as with Go's ServeMux); if nothing matches in the end, the
// answer is MethodNotAllowed listing every method of the routes whose path,
// host and headers matched, else NotFound. It allocates nothing.
func (r *Router) Lookup(method, host, path []byte, h Header, p *Params) Result {
	if p == nil {
		p = new(Params) // only callers that pass nil pay for this
	}
	p.Reset()
	if r == nil || r.root == nil || len(path) == 0 || path[0] != '/' {
		return Result{Status: NotFound}
	}
	st := lookupState{method: methodIndex(r.methods, method), host: hostOnly(host), h: h, p: p}
	if e := st.walk(r.root, path, 1); e != nil {
		for i, name := range e.params {
			p.names[i] = name
		}
		return Result{Status: Found, ID: e.id}
	}
	if st.matched {
		return Result{Status: MethodNotAllowed, Allow: r.allow.lookup(st.allow)}
	}
	return Result{Status: NotFound}
}

// walk matches the segments of path from i (just past a '/') below n.
func (st *lookupState) walk(n *node, path []byte, i int) *entry {
	end := i
	for end < len(path) && path[end] != '/' {
		end++
	}
	seg, last := path[i:end], end == len(path)
	if c := n.findStatic(seg); c != nil {
		if e := st.descend(c, path, end, last); e != nil {
			return e
		}
	}
	if n.param != nil && len(seg) > 0 && st.p.n < MaxParams {
		k := st.p.n
		st.p.values[k] = seg
		st.p.n++
		if e := st.descend(n.param, path, end, last); e != nil {
			return e
		}
		st.p.n = k
	}
	if n.catch != nil && st.p.n < MaxParams {
		k := st.p.n
		st.p.values[k] = path[i:]
		st.p.n++
		if e := st.terminal(n.catch); e != nil {
			return e
		}
		st.p.n = k
	}
	return nil
}

// descend continues below c once its segment (ending at end) matched.
func (st *lookupState) descend(c *node, path []byte, end int, last bool) *entry {
	if last {
		return st.terminal(c)
	}
	return st.walk(c, path, end+1)
}

// terminal picks among the routes ending at n.
func (st *lookupState) terminal(n *node) *entry {
	var (
		passed bool
		allow  uint64
		head   *entry // a GET route answering HEAD, when no route lists HEAD
	)
	for _, e := range n.routes {
		if !st.passes(e) {
			continue
		}
		if e.any || (st.method >= 0 && e.mask&(1<<st.method) != 0) {
			return e
		}
		if head == nil && st.method == idxHEAD && e.mask&bitGET != 0 {
			head = e
		}
		passed = true
		allow |= e.allow
	}
	if head != nil {
		return head
	}
	if passed {
		st.matched = true
		st.allow |= allow
	}
	return nil
}

// passes reports whether the request's host and headers satisfy e.
func (st *lookupState) passes(e *entry) bool {
	if e.host != "" && !equalFold(st.host, e.host) {
		return false
	}
	for _, hv := range e.headers {
		if st.h == nil || string(st.h.Peek(hv[0])) != hv[1] {
			return false
		}
	}
	return true
}

// findStatic finds the static child labelled seg: a scan for few children,
// a binary search for many.
func (n *node) findStatic(seg []byte) *node {
	s := n.statics
	if len(s) <= 8 {
		for _, c := range s {
			if string(seg) == c.text {
				return c
			}
		}
		return nil
	}
	lo, hi := 0, len(s)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		switch cmp := compare(seg, s[mid].text); {
		case cmp == 0:
			return s[mid]
		case cmp > 0:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return nil
}

// compare orders a []byte against a string like strings.Compare, without converting.
func compare(a []byte, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// hostOnly strips the port, IPv6 brackets and a trailing dot from a Host value.
func hostOnly(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' {
		for i := 1; i < len(h); i++ {
			if h[i] == ']' {
				return h[1:i]
			}
		}
		return h
	}
	colon := -1
	for i, c := range h {
		if c == ':' {
			if colon >= 0 {
				return h // a bare IPv6 address: no port to strip
			}
			colon = i
		}
	}
	if colon >= 0 {
		h = h[:colon]
	}
	if n := len(h); n > 0 && h[n-1] == '.' {
		h = h[:n-1]
	}
	return h
}

// equalFold compares ASCII case-insensitively; want is already lower case.
func equalFold(got []byte, want string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := 0; i < len(got); i++ {
		c := got[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}
