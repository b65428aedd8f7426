package router

import (
	"fmt"
	"strings"
	"testing"
)

// fixedHdr is a header set whose Peek allocates nothing, like fasthttp's.
type fixedHdr []struct {
	name  string
	value []byte
}

func (h fixedHdr) Peek(name string) []byte {
	for _, kv := range h {
		if strings.EqualFold(kv.name, name) {
			return kv.value
		}
	}
	return nil
}

// bigTable is 500 routes: 250 static, 150 with parameters, 100 catch-alls,
// some narrowed by method, host or header.
func bigTable() []Route {
	var rs []Route
	add := func(r Route) { r.ID = len(rs); rs = append(rs, r) }
	for i := 0; i < 125; i++ {
		add(Route{Path: fmt.Sprintf("/api/v1/service%d/items", i), Methods: []string{"GET", "POST"}})
		add(Route{Path: fmt.Sprintf("/api/v1/service%d/status", i)})
	}
	for i := 0; i < 50; i++ {
		add(Route{Path: fmt.Sprintf("/api/v2/service%d/items/{id}", i), Methods: []string{"GET"}})
		add(Route{Path: fmt.Sprintf("/api/v2/service%d/items/{id}", i), Methods: []string{"GET"}, Headers: [][2]string{{"API-Version", "2"}}})
		add(Route{Path: fmt.Sprintf("/api/v2/service%d/users/{uid}/orders/{oid}", i), Host: "shop.example"})
	}
	for i := 0; i < 100; i++ {
		add(Route{Path: fmt.Sprintf("/static/site%d/{path...}", i), Methods: []string{"GET"}})
	}
	return rs
}

type lookupCase struct {
	name, method, host, path string
	h                        Header
	status                   Status
}

var lookupCases = []lookupCase{
	{"static", "GET", "gw.example", "/api/v1/service97/items", nil, Found},
	{"param", "GET", "shop.example:8080", "/api/v2/service42/users/u-1/orders/o-9", nil, Found},
	{"param_header", "GET", "gw.example", "/api/v2/service42/items/sku-1", fixedHdr{{"API-Version", []byte("2")}}, Found},
	{"catchall", "GET", "gw.example", "/static/site77/css/app/main.css", nil, Found},
	{"not_found", "GET", "gw.example", "/api/v1/service97/nothing/here", nil, NotFound},
	{"method_not_allowed", "DELETE", "gw.example", "/api/v1/service97/items", nil, MethodNotAllowed},
}

func BenchmarkLookup(b *testing.B) {
	r := mustBuild(b, bigTable())
	for _, c := range lookupCases {
		method, host, path := []byte(c.method), []byte(c.host), []byte(c.path)
		b.Run(c.name, func(b *testing.B) {
			var p Params
			b.ReportAllocs()
			for b.Loop() {
				if res := r.Lookup(method, host, path, c.h, &p); res.Status != c.status {
					b.Fatalf("%+v", res)
				}
			}
		})
	}
}

const messyPath = "/api/v1//service97/./items/%41%42/../x%20y/"

func BenchmarkNormalize(b *testing.B) {
	raw := []byte(messyPath)
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Normalize(dst[:0], raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEscape(b *testing.B) {
	path := []byte("/api/v1/service97/items/x y/café")
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		dst = Escape(dst[:0], path)
	}
}

// TestZeroAllocs guards the request path: Lookup (every outcome), Normalize
// and Escape allocate nothing.
func TestZeroAllocs(t *testing.T) {
	r := mustBuild(t, bigTable())
	var p Params
	for _, c := range lookupCases {
		method, host, path := []byte(c.method), []byte(c.host), []byte(c.path)
		if res := r.Lookup(method, host, path, c.h, &p); res.Status != c.status {
			t.Fatalf("%s: %+v", c.name, res)
		}
		if n := testing.AllocsPerRun(200, func() { r.Lookup(method, host, path, c.h, &p) }); n != 0 {
			t.Errorf("Lookup %s: %v allocs/op", c.name, n)
		}
	}
	raw := []byte(messyPath)
	dst := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(200, func() { _, _ = Normalize(dst[:0], raw) }); n != 0 {
		t.Errorf("Normalize: %v allocs/op", n)
	}
	if n := testing.AllocsPerRun(200, func() { _ = Escape(dst[:0], raw) }); n != 0 {
		t.Errorf("Escape: %v allocs/op", n)
	}
}

func TestBigTableAnswers(t *testing.T) {
	r := mustBuild(t, bigTable())
	check(t, r, req{method: "DELETE", path: "/api/v1/service3/items"}, notAllowed("GET, HEAD, POST"))
	check(t, r, req{method: "HEAD", path: "/static/site5/a/b"}, found(405, "path=a/b"))
	check(t, r, req{path: "/api/v2/service0/items/9", h: hdr{"Api-Version": "2"}}, found(251, "id=9"))
	check(t, r, req{path: "/api/v2/service0/items/9"}, found(250, "id=9"))
	check(t, r, req{path: "/api/v2/service0/users/1/orders/2"}, notFound)
}
