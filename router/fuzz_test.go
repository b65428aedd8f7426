package router

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// bytesReader turns fuzz input into small choices; exhausted input reads as 0.
type bytesReader struct {
	data []byte
	pos  int
}

func (r *bytesReader) pick(n int) int {
	if r.pos >= len(r.data) {
		return 0
	}
	v := int(r.data[r.pos]) % n
	r.pos++
	return v
}

var (
	fuzzSegs    = []string{"a", "b", "", "{p%d}", "{q%d}", "*", "{r...}", "{s%d...}"}
	fuzzMethods = []string{"GET", "HEAD", "POST", "DELETE", "PURGE"}
	fuzzHosts   = []string{"", "h.com", "H.com"}
	fuzzHeaders = [][2]string{{"V", "1"}, {"V", "2"}, {"W", "1"}}
)

// fuzzTable builds up to 8 routes from a small alphabet, so collisions,
// conflicts and backtracking are common.
func fuzzTable(r *bytesReader) []Route {
	n := 1 + r.pick(8)
	routes := make([]Route, n)
	for i := range routes {
		segs := make([]string, 1+r.pick(3))
		for k := range segs {
			s := fuzzSegs[r.pick(len(fuzzSegs))]
			if strings.Contains(s, "%d") {
				s = fmt.Sprintf(s, k)
			}
			segs[k] = s
		}
		rt := Route{Path: "/" + strings.Join(segs, "/"), ID: 100 + i, Host: fuzzHosts[r.pick(len(fuzzHosts))]}
		for bits, j := r.pick(32), 0; j < len(fuzzMethods); j++ {
			if bits&(1<<j) != 0 {
				rt.Methods = append(rt.Methods, fuzzMethods[j])
			}
		}
		for bits, j := r.pick(8), 0; j < len(fuzzHeaders); j++ {
			if bits&(1<<j) != 0 {
				rt.Headers = append(rt.Headers, fuzzHeaders[j])
			}
		}
		routes[i] = rt
	}
	return routes
}

// refRoute is a route as the naive reference sees it.
type refRoute struct {
	Route
	index int
	segs  []string
	kinds string // one digit per segment: 0 static, 1 parameter, 2 catch-all
}

func newRefRoute(i int, r Route) refRoute {
	rr := refRoute{Route: r, index: i, segs: strings.Split(r.Path[1:], "/")}
	for _, s := range rr.segs {
		switch {
		case s == "*" || strings.HasSuffix(s, "...}"):
			rr.kinds += "2"
		case strings.HasPrefix(s, "{"):
			rr.kinds += "1"
		default:
			rr.kinds += "0"
		}
	}
	return rr
}

// shape is the path shape with parameter names erased.
func (r refRoute) shape() string {
	var b strings.Builder
	for k, s := range r.segs {
		if r.kinds[k] == '0' {
			b.WriteString("s:" + s)
		} else {
			b.WriteString("k:" + string(r.kinds[k]))
		}
		b.WriteString("/")
	}
	return b.String()
}

func headerSet(h [][2]string) string {
	var keys []string
	for _, kv := range h {
		keys = append(keys, strings.ToLower(kv[0])+"="+kv[1])
	}
	sort.Strings(keys)
	return strings.Join(keys, ";")
}

func methodsOverlap(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// conflicts is the naive rule: same shape, host (any case), header set, and overlapping methods.
func conflicts(a, b refRoute) bool {
	return a.shape() == b.shape() && strings.EqualFold(a.Host, b.Host) &&
		headerSet(a.Headers) == headerSet(b.Headers) && methodsOverlap(a.Methods, b.Methods)
}

// match reports whether the pattern matches path and returns its parameters.
func (r refRoute) match(path string) ([]string, bool) {
	parts := strings.Split(path[1:], "/")
	var params []string
	for k, s := range r.segs {
		switch r.kinds[k] {
		case '2':
			if k >= len(parts) {
				return nil, false
			}
			name := strings.TrimSuffix(strings.Trim(s, "{}"), "...")
			return append(params, name+"="+strings.Join(parts[k:], "/")), true
		case '1':
			if k >= len(parts) || parts[k] == "" {
				return nil, false
			}
			params = append(params, strings.Trim(s, "{}")+"="+parts[k])
		default:
			if k >= len(parts) || parts[k] != s {
				return nil, false
			}
		}
	}
	return params, len(parts) == len(r.segs)
}

func (r refRoute) passes(host string, h hdr) bool {
	if r.Host != "" {
		name, _, _ := strings.Cut(host, ":")
		if !strings.EqualFold(name, r.Host) {
			return false
		}
	}
	for _, kv := range r.Headers {
		if string(h.Peek(kv[0])) != kv[1] {
			return false
		}
	}
	return true
}

func hasMethod(ms []string, m string) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

// refLookup is the reference matcher: the matching pattern shapes in priority
// order (static < parameter < catch-all, segment by segment), most specific
// route first within a shape.
func refLookup(routes []refRoute, method, host, path string, h hdr) (want, bool) {
	type cand struct {
		r      refRoute
		params []string
	}
	groups := map[string][]cand{}
	for _, r := range routes {
		if ps, ok := r.match(path); ok {
			groups[r.kinds] = append(groups[r.kinds], cand{r, ps})
		}
	}
	var order []string
	for k := range groups {
		order = append(order, k)
	}
	sort.Strings(order)
	allowed := map[string]bool{}
	matched := false
	for _, k := range order {
		cs := groups[k]
		sort.SliceStable(cs, func(i, j int) bool {
			ci := len(cs[i].r.Headers) + len(cs[i].r.Host)/max(1, len(cs[i].r.Host))
			cj := len(cs[j].r.Headers) + len(cs[j].r.Host)/max(1, len(cs[j].r.Host))
			if ci != cj {
				return ci > cj
			}
			if (cs[i].r.Host != "") != (cs[j].r.Host != "") {
				return cs[i].r.Host != ""
			}
			return cs[i].r.index < cs[j].r.index
		})
		var passing []cand
		for _, c := range cs {
			if c.r.passes(host, h) {
				passing = append(passing, c)
			}
		}
		for _, c := range passing {
			if len(c.r.Methods) == 0 || hasMethod(c.r.Methods, method) {
				return want{status: Found, id: c.r.ID, params: c.params}, true
			}
		}
		for _, c := range passing {
			if method == "HEAD" && hasMethod(c.r.Methods, "GET") {
				return want{status: Found, id: c.r.ID, params: c.params}, true
			}
		}
		for _, c := range passing {
			matched = true
			for _, m := range c.r.Methods {
				allowed[m] = true
				if m == "GET" {
					allowed["HEAD"] = true
				}
			}
		}
	}
	if !matched {
		return notFound, true
	}
	var list []string
	for _, m := range canonicalMethods {
		if allowed[m] {
			list = append(list, m)
			delete(allowed, m)
		}
	}
	var rest []string
	for m := range allowed {
		rest = append(rest, m)
	}
	sort.Strings(rest)
	return notAllowed(strings.Join(append(list, rest...), ", ")), true
}

func FuzzLookup(f *testing.F) {
	f.Add([]byte{3, 0, 0, 0, 1, 3, 0, 9, 1, 1, 2, 0, 0, 2, 1, 3, 3, 7, 5, 1})
	f.Add([]byte("backtracking and conflicts"))
	f.Add([]byte{7, 2, 0, 1, 2, 1, 1, 2, 3, 0, 0, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &bytesReader{data: data}
		routes := fuzzTable(in)
		rt, errs := Build(routes)

		// Routes rejected for their own fields are trusted (TestBadRoutes covers
		// them); conflicts must be exactly what the naive rule says.
		own := map[int]bool{}
		conflict := map[int]bool{}
		for _, err := range errs {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("not an *Error: %v", err)
			}
			if strings.Contains(e.Error(), "conflicts with") {
				conflict[e.Index] = true
			} else {
				own[e.Index] = true
			}
		}
		var kept []refRoute
		for i, r := range routes {
			if own[i] {
				continue
			}
			rr := newRefRoute(i, r)
			clash := false
			for _, k := range kept {
				clash = clash || conflicts(k, rr)
			}
			if clash != conflict[i] {
				t.Fatalf("route %d %+v: conflict %v, reference says %v (errs %v)", i, r, conflict[i], clash, errs)
			}
			if !clash {
				kept = append(kept, rr)
			}
		}

		for q := 0; q < 8; q++ {
			parts := make([]string, 1+in.pick(4))
			for k := range parts {
				parts[k] = []string{"a", "b", "c", ""}[in.pick(4)]
			}
			norm, err := Normalize(nil, []byte("/"+strings.Join(parts, "/")))
			if err != nil {
				t.Fatal(err)
			}
			path := string(norm)
			method := fuzzMethods[in.pick(len(fuzzMethods))]
			host := []string{"", "h.com", "H.COM:8080", "x.com"}[in.pick(4)]
			h := hdr{}
			if v := in.pick(3); v > 0 {
				h["v"] = fmt.Sprint(v)
			}
			if in.pick(2) == 1 {
				h["W"] = "1"
			}
			w, _ := refLookup(kept, method, host, path, h)
			var p Params
			got := rt.Lookup([]byte(method), []byte(host), norm, h, &p)
			var ps []string
			for i := 0; i < p.Len(); i++ {
				ps = append(ps, p.Name(i)+"="+string(p.Value(i)))
			}
			if got.Status != w.status || got.ID != w.id || got.Allow != w.allow ||
				(got.Status == Found && fmt.Sprint(ps) != fmt.Sprint(w.params)) {
				t.Fatalf("%s %s host=%q h=%v\nroutes %+v\ngot  %+v %q\nwant %+v", method, path, host, h, routes, got, ps, w)
			}
		}
	})
}
