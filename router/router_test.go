package router

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// hdr is a request header set; Peek is case-insensitive like fasthttp's.
type hdr map[string]string

func (h hdr) Peek(name string) []byte {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return []byte(v)
		}
	}
	return nil
}

// req is one request for the table tests.
type req struct {
	method, host, path string
	h                  hdr
}

// want is the expected outcome; params as "name=value" pairs in order.
type want struct {
	status Status
	id     int
	allow  string
	params []string
}

func mustBuild(t testing.TB, routes []Route) *Router {
	t.Helper()
	r, errs := Build(routes)
	if len(errs) > 0 {
		t.Fatalf("Build: %v", errs)
	}
	return r
}

func check(t *testing.T, r *Router, q req, w want) {
	t.Helper()
	var p Params
	var h Header
	if q.h != nil {
		h = q.h
	}
	method := q.method
	if method == "" {
		method = "GET"
	}
	got := r.Lookup([]byte(method), []byte(q.host), []byte(q.path), h, &p)
	if got.Status != w.status || (w.status == Found && got.ID != w.id) || got.Allow != w.allow {
		t.Errorf("%s %s host=%q h=%v: got %+v, want %+v", method, q.path, q.host, q.h, got, w)
		return
	}
	if w.status != Found {
		return
	}
	var ps []string
	for i := 0; i < p.Len(); i++ {
		ps = append(ps, p.Name(i)+"="+string(p.Value(i)))
	}
	if fmt.Sprint(ps) != fmt.Sprint(w.params) {
		t.Errorf("%s %s: params %q, want %q", method, q.path, ps, w.params)
	}
}

func found(id int, params ...string) want { return want{status: Found, id: id, params: params} }

var notFound = want{status: NotFound}

func notAllowed(allow string) want { return want{status: MethodNotAllowed, allow: allow} }

func TestPriorityRegardlessOfOrder(t *testing.T) {
	routes := []Route{
		{Path: "/users/{id}", ID: 1},
		{Path: "/users/me", ID: 2},
		{Path: "/users/*", ID: 3},
		{Path: "/users/{id}/posts", ID: 4},
		{Path: "/users/me/posts", ID: 5},
		{Path: "/users/{id}/{rest...}", ID: 6},
	}
	cases := []struct {
		q req
		w want
	}{
		{req{path: "/users/me"}, found(2)},
		{req{path: "/users/42"}, found(1, "id=42")},
		{req{path: "/users/"}, found(3, "*=")},
		{req{path: "/users/me/posts"}, found(5)},
		{req{path: "/users/7/posts"}, found(4, "id=7")},
		{req{path: "/users/7/likes"}, found(6, "id=7", "rest=likes")},
		{req{path: "/users/me/likes/x"}, found(6, "id=me", "rest=likes/x")},
		{req{path: "/users"}, notFound},
	}
	// Every rotation of the table gives the same answers.
	for rot := range routes {
		rs := append(append([]Route(nil), routes[rot:]...), routes[:rot]...)
		r := mustBuild(t, rs)
		for _, c := range cases {
			check(t, r, c.q, c.w)
		}
	}
}

func TestBacktracking(t *testing.T) {
	r := mustBuild(t, []Route{
		{Path: "/a/b/c", ID: 1},
		{Path: "/a/{x}/d", ID: 2},
		{Path: "/a/{x}/{y}/e", ID: 3},
		{Path: "/a/b/{y}/f", ID: 4},
		{Path: "/{all...}", ID: 5},
	})
	check(t, r, req{path: "/a/b/c"}, found(1))
	check(t, r, req{path: "/a/b/d"}, found(2, "x=b"))
	check(t, r, req{path: "/a/b/c/e"}, found(3, "x=b", "y=c"))
	check(t, r, req{path: "/a/b/c/f"}, found(4, "y=c"))
	check(t, r, req{path: "/a/b/c/g"}, found(5, "all=a/b/c/g"))
	check(t, r, req{path: "/"}, found(5, "all="))
}

func TestParamsAndCatchAll(t *testing.T) {
	r := mustBuild(t, []Route{
		{Path: "/", ID: 1},
		{Path: "/files/{p...}", ID: 2},
		{Path: "/static/*", ID: 3},
		{Path: "/u/{a}/{b}/{c}", ID: 4},
		{Path: "/dir/", ID: 5},
		{Path: "/dir", ID: 6},
		{Path: "/sp%20ace/{x}", ID: 7},
	})
	check(t, r, req{path: "/"}, found(1))
	check(t, r, req{path: "/files/a/b"}, found(2, "p=a/b"))
	check(t, r, req{path: "/files/"}, found(2, "p="))
	check(t, r, req{path: "/files"}, notFound)
	check(t, r, req{path: "/static/css/x.css"}, found(3, "*=css/x.css"))
	check(t, r, req{path: "/u/1/2/3"}, found(4, "a=1", "b=2", "c=3"))
	check(t, r, req{path: "/u/1/2/"}, notFound) // {c} needs a non-empty segment
	check(t, r, req{path: "/u/1/2"}, notFound)
	check(t, r, req{path: "/dir/"}, found(5))
	check(t, r, req{path: "/dir"}, found(6))
	check(t, r, req{path: "/sp ace/y"}, found(7, "x=y"))
	check(t, r, req{path: "/nope"}, notFound)
	check(t, r, req{path: ""}, notFound)
}

func TestHostAndHeaders(t *testing.T) {
	r := mustBuild(t, []Route{
		{Path: "/api/items", ID: 1},
		{Path: "/api/items", Headers: [][2]string{{"API-Version", "2"}}, ID: 2},
		{Path: "/api/items", Host: "Mobile.Example.com", ID: 3},
		{Path: "/api/items", Host: "mobile.example.com", Headers: [][2]string{{"API-Version", "2"}}, ID: 4},
		{Path: "/only/{x}", Host: "a.example", ID: 5},
		{Path: "/only/{x}", Host: "b.example", ID: 6},
		{Path: "/v/x", Headers: [][2]string{{"V", "1"}}, ID: 7},
		{Path: "/v/{y}", ID: 8},
		{Path: "/ip", Host: "[::1]", ID: 9},
	})
	check(t, r, req{path: "/api/items"}, found(1))
	check(t, r, req{path: "/api/items", h: hdr{"api-version": "2"}}, found(2))
	check(t, r, req{path: "/api/items", h: hdr{"api-version": "3"}}, found(1))
	check(t, r, req{path: "/api/items", host: "MOBILE.example.com:8443"}, found(3))
	check(t, r, req{path: "/api/items", host: "mobile.example.com.", h: hdr{"API-Version": "2"}}, found(4))
	check(t, r, req{path: "/only/1", host: "a.example"}, found(5, "x=1"))
	check(t, r, req{path: "/only/1", host: "B.EXAMPLE:80"}, found(6, "x=1"))
	check(t, r, req{path: "/only/1", host: "c.example"}, notFound) // path matches, host does not: 404
	check(t, r, req{path: "/only/1"}, notFound)
	// A static route whose headers fail falls back to the parameter route.
	check(t, r, req{path: "/v/x", h: hdr{"V": "1"}}, found(7))
	check(t, r, req{path: "/v/x", h: hdr{"V": "2"}}, found(8, "y=x"))
	check(t, r, req{path: "/v/x"}, found(8, "y=x"))
	check(t, r, req{path: "/ip", host: "[::1]:8080"}, found(9))
}

func TestMethodsAllowAndHead(t *testing.T) {
	r := mustBuild(t, []Route{
		{Path: "/items", Methods: []string{"GET"}, ID: 1},
		{Path: "/items", Methods: []string{"post", "PURGE"}, ID: 2},
		{Path: "/items", Methods: []string{"DELETE"}, Host: "admin.example", ID: 3},
		{Path: "/only-head", Methods: []string{"HEAD"}, ID: 4},
		{Path: "/get-and-head", Methods: []string{"GET"}, ID: 5},
		{Path: "/get-and-head", Methods: []string{"HEAD"}, ID: 6},
		{Path: "/users/me", Methods: []string{"GET"}, ID: 7},
		{Path: "/users/{id}", Methods: []string{"DELETE"}, ID: 8},
		{Path: "/any", ID: 9},
		{Path: "/opts", Methods: []string{"OPTIONS", "PATCH", "PUT", "LINK", "COPY"}, ID: 10},
	})
	check(t, r, req{method: "GET", path: "/items"}, found(1))
	check(t, r, req{method: "HEAD", path: "/items"}, found(1)) // GET answers HEAD
	check(t, r, req{method: "POST", path: "/items"}, found(2))
	check(t, r, req{method: "PURGE", path: "/items"}, found(2))
	check(t, r, req{method: "PUT", path: "/items"}, notAllowed("GET, HEAD, POST, PURGE"))
	check(t, r, req{method: "BREW", path: "/items"}, notAllowed("GET, HEAD, POST, PURGE"))
	check(t, r, req{method: "PUT", path: "/items", host: "admin.example"}, notAllowed("GET, HEAD, POST, DELETE, PURGE"))
	check(t, r, req{method: "DELETE", path: "/items", host: "admin.example"}, found(3))
	check(t, r, req{method: "GET", path: "/only-head"}, notAllowed("HEAD"))
	check(t, r, req{method: "HEAD", path: "/get-and-head"}, found(6)) // an explicit HEAD route wins
	check(t, r, req{method: "GET", path: "/get-and-head"}, found(5))
	// A less specific pattern that allows the method wins over a 405.
	check(t, r, req{method: "DELETE", path: "/users/me"}, found(8, "id=me"))
	check(t, r, req{method: "POST", path: "/users/me"}, notAllowed("GET, HEAD, DELETE"))
	check(t, r, req{method: "POST", path: "/users/7"}, notAllowed("DELETE"))
	check(t, r, req{method: "WHATEVER", path: "/any"}, found(9))
	check(t, r, req{method: "GET", path: "/opts"}, notAllowed("PUT, PATCH, OPTIONS, COPY, LINK"))
}

func TestConflicts(t *testing.T) {
	cases := []struct {
		name   string
		routes []Route
		bad    []int // indexes reported
	}{
		{"same path", []Route{{Path: "/a"}, {Path: "/a"}}, []int{1}},
		{"params named differently", []Route{{Path: "/a/{x}"}, {Path: "/a/{y}"}}, []int{1}},
		{"catch-alls named differently", []Route{{Path: "/a/{x...}"}, {Path: "/a/*"}}, []int{1}},
		{"host case", []Route{{Path: "/a", Host: "X.com"}, {Path: "/a", Host: "x.COM"}}, []int{1}},
		{"same headers", []Route{
			{Path: "/a", Headers: [][2]string{{"A", "1"}, {"B", "2"}}},
			{Path: "/a", Headers: [][2]string{{"b", "2"}, {"a", "1"}}}}, []int{1}},
		{"overlapping methods", []Route{{Path: "/a", Methods: []string{"GET", "POST"}}, {Path: "/a", Methods: []string{"post"}}}, []int{1}},
		{"all methods overlap", []Route{{Path: "/a", Methods: []string{"GET"}}, {Path: "/a"}}, []int{1}},
		{"three of a kind", []Route{{Path: "/a"}, {Path: "/b"}, {Path: "/a"}, {Path: "/a"}}, []int{2, 3}},
		{"disjoint methods", []Route{{Path: "/a", Methods: []string{"GET"}}, {Path: "/a", Methods: []string{"POST"}}}, nil},
		{"GET and HEAD", []Route{{Path: "/a", Methods: []string{"GET"}}, {Path: "/a", Methods: []string{"HEAD"}}}, nil},
		{"different hosts", []Route{{Path: "/a", Host: "x"}, {Path: "/a", Host: "y"}, {Path: "/a"}}, nil},
		{"different headers", []Route{{Path: "/a", Headers: [][2]string{{"V", "1"}}}, {Path: "/a", Headers: [][2]string{{"V", "2"}}}, {Path: "/a"}}, nil},
		{"different shapes", []Route{{Path: "/a/{x}"}, {Path: "/a/*"}, {Path: "/a/b"}, {Path: "/a/"}, {Path: "/a"}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errs := Build(c.routes)
			var got []int
			for _, err := range errs {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("not an *Error: %v", err)
				}
				if !strings.HasPrefix(err.Error(), fmt.Sprintf("route %d: conflicts with route", e.Index)) {
					t.Errorf("message %q", err)
				}
				got = append(got, e.Index)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.bad) {
				t.Errorf("reported %v, want %v (%v)", got, c.bad, errs)
			}
		})
	}
}

func TestBadRoutes(t *testing.T) {
	cases := []struct {
		route Route
		field string
		msg   string
	}{
		{Route{Path: ""}, "path", "must start with '/'"},
		{Route{Path: "a/b"}, "path", "must start with '/'"},
		{Route{Path: "/a/{}"}, "path", "empty parameter name"},
		{Route{Path: "/a/{...}"}, "path", "empty parameter name"},
		{Route{Path: "/a/{x"}, "path", "unclosed '{'"},
		{Route{Path: "/a/x{"}, "path", "unclosed '{'"},
		{Route{Path: "/a/{x}y"}, "path", "whole segment"},
		{Route{Path: "/a/y{x}"}, "path", "whole segment"},
		{Route{Path: "/a/}"}, "path", "whole segment"},
		{Route{Path: "/a/{{x}}"}, "path", "braces"},
		{Route{Path: "/a/{x...}/b"}, "path", "must be the last segment"},
		{Route{Path: "/a/*/b"}, "path", "must be the last segment"},
		{Route{Path: "/a*"}, "path", "'*' must be a whole last segment"},
		{Route{Path: "/a/{1x}"}, "path", "invalid parameter name"},
		{Route{Path: "/a/{x-y}"}, "path", "invalid parameter name"},
		{Route{Path: "/a/{claim.sub}"}, "path", "invalid parameter name"},
		{Route{Path: "/a/{x}/{x}"}, "path", "duplicate parameter name"},
		{Route{Path: "/a/{x}/{x...}"}, "path", "duplicate parameter name"},
		{Route{Path: "/a//b"}, "path", "empty segment"},
		{Route{Path: "/a/./b"}, "path", "dot segments"},
		{Route{Path: "/a/.."}, "path", "dot segments"},
		{Route{Path: "/a/%2e%2E"}, "path", "dot segments"},
		{Route{Path: "/a%2Fb"}, "path", "encoded '/'"},
		{Route{Path: "/a%zz"}, "path", "invalid percent escape"},
		{Route{Path: "/a%2"}, "path", "invalid percent escape"},
		{Route{Path: "/a%00"}, "path", "NUL"},
		{Route{Path: "/a b"}, "path", "invalid character"},
		{Route{Path: "/a?b=1"}, "path", "invalid character"},
		{Route{Path: "/a#x"}, "path", "invalid character"},
		{Route{Path: "/" + strings.Repeat("{p}/", 0) + manyParams(MaxParams+1)}, "path", "more than 16 parameters"},
		{Route{Path: "/a", Methods: []string{"GET", "G T"}}, "methods[1]", "invalid method"},
		{Route{Path: "/a", Methods: []string{""}}, "methods[0]", "invalid method"},
		{Route{Path: "/a", Host: ":80"}, "host", "invalid host"},
		{Route{Path: "/a", Host: "a b"}, "host", "invalid host"},
		{Route{Path: "/a", Headers: [][2]string{{"", "1"}}}, "headers.", "invalid header name"},
		{Route{Path: "/a", Headers: [][2]string{{"X", "1"}, {"x", "2"}}}, "headers.x", "listed twice"},
	}
	for _, c := range cases {
		// The bad route sits at index 1 behind a good one.
		_, errs := Build([]Route{{Path: "/ok"}, c.route})
		if len(errs) != 1 {
			t.Errorf("%+v: got %d errors %v, want 1", c.route, len(errs), errs)
			continue
		}
		var e *Error
		if !errors.As(errs[0], &e) || e.Index != 1 || e.Field != c.field {
			t.Errorf("%+v: got %#v", c.route, errs[0])
			continue
		}
		if !strings.HasPrefix(errs[0].Error(), "route 1: ") || !strings.Contains(errs[0].Error(), c.msg) {
			t.Errorf("%+v: message %q, want it to mention %q", c.route, errs[0], c.msg)
		}
	}
	// The good routes still work in the returned router.
	r, errs := Build([]Route{{Path: "/a{", ID: 1}, {Path: "/b", ID: 2}})
	if len(errs) != 1 {
		t.Fatalf("errs %v", errs)
	}
	check(t, r, req{path: "/b"}, found(2))
}

func manyParams(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte('/')
		}
		fmt.Fprintf(&b, "{p%d}", i)
	}
	return b.String()
}

func TestMaxParamsRoute(t *testing.T) {
	r := mustBuild(t, []Route{{Path: "/" + manyParams(MaxParams), ID: 1}})
	path := "/" + strings.TrimSuffix(strings.Repeat("v/", MaxParams), "/")
	var p Params
	res := r.Lookup([]byte("GET"), nil, []byte(path), nil, &p)
	if res.Status != Found || p.Len() != MaxParams {
		t.Fatalf("got %+v with %d params", res, p.Len())
	}
	if v, ok := p.Get("p15"); !ok || string(v) != "v" {
		t.Fatalf("p15 = %q %v", v, ok)
	}
}

func TestNilRouterAndParams(t *testing.T) {
	var r *Router
	if got := r.Lookup([]byte("GET"), nil, []byte("/"), nil, nil); got.Status != NotFound {
		t.Fatalf("nil router: %+v", got)
	}
	r = mustBuild(t, []Route{{Path: "/{x}", ID: 3}})
	if got := r.Lookup([]byte("GET"), nil, []byte("/y"), nil, nil); got.Status != Found || got.ID != 3 {
		t.Fatalf("nil params: %+v", got)
	}
}
