package cache

import (
	"bytes"
	"slices"
	"testing"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

// FuzzCacheControl feeds untrusted Cache-Control values (from clients and
// upstreams) to the parser: it must not panic and ages stay in range.
func FuzzCacheControl(f *testing.F) {
	for _, s := range []string{"", "no-cache", "max-age=60, private", `s-maxage="10"`, "max-age=99999999999999999999", ",,=,", "no-store ,  MAX-AGE = 5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d := directives{maxAge: -1, sMaxAge: -1}
		parseCacheControl(&d, []byte(v))
		if d.maxAge < -1 || d.maxAge > 1<<31 || d.sMaxAge < -1 || d.sMaxAge > 1<<31 {
			t.Fatalf("ages %d %d from %q", d.maxAge, d.sMaxAge, v)
		}
	})
}

// FuzzQueryKey checks that the key ignores parameter order across names and
// never panics on arbitrary query strings.
func FuzzQueryKey(f *testing.F) {
	for _, s := range []string{"", "a=1&b=2", "&&", "b=2&a=1&a=0", "=&=x&y", "%zz=1&a"} {
		f.Add(s)
	}
	s, err := New(1<<20, metrics.NewSet())
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	r := &Route{store: s, id: 1}
	key := func(q string) []byte {
		ctx := &fasthttp.RequestCtx{}
		ctx.Request.SetRequestURI("/p")
		ctx.Request.URI().SetQueryString(q)
		x := &pipeline.Exchange{Ctx: ctx, Path: []byte("/p")}
		kb := &keyBuf{}
		r.appendKey(kb, x)
		return kb.b
	}
	f.Fuzz(func(t *testing.T, q string) {
		k := key(q)
		// Reverse the parameters while keeping repeated names in order: the
		// key must not change.
		params := bytes.Split([]byte(q), []byte("&"))
		slices.SortStableFunc(params, func(a, b []byte) int {
			an, _, _ := bytes.Cut(a, []byte("="))
			bn, _, _ := bytes.Cut(b, []byte("="))
			return -bytes.Compare(an, bn)
		})
		if k2 := key(string(bytes.Join(params, []byte("&")))); !bytes.Equal(k, k2) {
			t.Fatalf("query %q: keys differ after reordering", q)
		}
	})
}
