package cache

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/fielderr"
	"github.com/sluice-gw/sluice/engine/pipeline"
)

func TestMissThenHit(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(time.Minute, 0), false)
	hits := g.store.res.hit.counter.Get()

	first := g.expect(t, "MISS", "GET", "/items/1", "X-Test-Id: m1")
	g.settle()
	second := g.expect(t, "HIT", "GET", "/items/1", "X-Test-Id: h1")
	if first.body != "call=1 lang=" || second.body != first.body {
		t.Fatalf("bodies %q then %q", first.body, second.body)
	}
	if second.age != "0" || second.header.Get("X-Upstream") != "yes" || second.header.Get("Content-Type") != "text/plain" {
		t.Fatalf("hit headers: %v", second.header)
	}
	if m := second.header.Values("X-Multi"); len(m) != 2 || m[0] != "one" || m[1] != "two" {
		t.Fatalf("repeated header on a hit: %q", m)
	}
	if first.age != "" {
		t.Fatalf("a miss has Age %q", first.age)
	}
	if n := u.Hits.Load(); n != 1 {
		t.Fatalf("upstream calls %d, want 1", n)
	}
	if v, _ := g.results.Load("m1"); v != "miss" {
		t.Fatalf("CacheResult of the miss %v", v)
	}
	if v, _ := g.results.Load("h1"); v != "hit" {
		t.Fatalf("CacheResult of the hit %v", v)
	}
	if d := g.store.res.hit.counter.Get() - hits; d != 1 {
		t.Fatalf("hit counter moved by %d", d)
	}
	// Host joins the key, case-folded.
	g.expect(t, "MISS", "GET", "/items/1", "Host: Shop.EXAMPLE")
	g.settle()
	g.expect(t, "HIT", "GET", "/items/1", "Host: shop.example")
}

func TestAgeGrows(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(time.Minute, 0), false)
	g.expect(t, "MISS", "GET", "/age?age=7")
	g.settle()
	time.Sleep(1100 * time.Millisecond)
	if r := g.expect(t, "HIT", "GET", "/age?age=7"); r.age != "8" && r.age != "9" {
		t.Fatalf("Age %q, want 8 (7 upstream + 1 here)", r.age)
	}
}

func TestBypass(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(time.Minute, 0), false)

	// A bypass does not write: the next GET is still a miss.
	g.expect(t, "BYPASS", "GET", "/b", "Cache-Control: no-cache")
	g.settle()
	g.expect(t, "MISS", "GET", "/b")
	g.settle()
	g.expect(t, "HIT", "GET", "/b")
	// A bypass does not read: it goes upstream although /b is cached.
	r := g.expect(t, "BYPASS", "GET", "/b", "Cache-Control: max-age=0, No-Cache")
	if r.body != "call=3 lang=" {
		t.Fatalf("bypass body %q", r.body)
	}
	g.expect(t, "BYPASS", "GET", "/b", "Pragma: no-cache")
	g.expect(t, "BYPASS", "GET", "/b", "Cache-Control: no-store")
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		g.expect(t, "BYPASS", m, "/b")
	}
	// Unrelated client directives do not bypass.
	g.expect(t, "HIT", "GET", "/b", "Cache-Control: max-stale=5")
	if n := u.Hits.Load(); n != 10 {
		t.Fatalf("upstream calls %d, want 10", n)
	}
}

func TestTTLExpiry(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(500*time.Millisecond, 0), false)
	g.expect(t, "MISS", "GET", "/ttl")
	g.settle()
	g.expect(t, "HIT", "GET", "/ttl")
	time.Sleep(600 * time.Millisecond)
	if r := g.expect(t, "MISS", "GET", "/ttl"); r.body != "call=2 lang=" {
		t.Fatalf("after expiry body %q", r.body)
	}
}

func TestUpstreamMaxAgeShorterWins(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(time.Minute, 0), false)
	for _, target := range []string{"/ma?cc=max-age=1", "/sma?cc=public,+s-maxage=1,+max-age=600"} {
		g.expect(t, "MISS", "GET", target)
		g.settle()
		g.expect(t, "HIT", "GET", target)
	}
	time.Sleep(1100 * time.Millisecond)
	g.expect(t, "MISS", "GET", "/ma?cc=max-age=1")
	g.expect(t, "MISS", "GET", "/sma?cc=public,+s-maxage=1,+max-age=600")

	// max-age=0, or an Age that used it up, stores nothing.
	g.expect(t, "MISS", "GET", "/ma0?cc=max-age=0")
	g.settle()
	g.expect(t, "MISS", "GET", "/ma0?cc=max-age=0")
	g.expect(t, "MISS", "GET", "/old?cc=max-age=5&age=5")
	g.settle()
	g.expect(t, "MISS", "GET", "/old?cc=max-age=5&age=5")
}

func TestRouteTTLShorterThanMaxAge(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(500*time.Millisecond, 0), false)
	g.expect(t, "MISS", "GET", "/long?cc=max-age=600")
	g.settle()
	g.expect(t, "HIT", "GET", "/long?cc=max-age=600")
	time.Sleep(600 * time.Millisecond)
	g.expect(t, "MISS", "GET", "/long?cc=max-age=600")
}

func TestVarySeparates(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(time.Minute, 0, "Accept-Language"), false)
	en := g.expect(t, "MISS", "GET", "/v", "Accept-Language: en")
	g.settle()
	fr := g.expect(t, "MISS", "GET", "/v", "Accept-Language: fr")
	g.settle()
	none := g.expect(t, "MISS", "GET", "/v")
	g.settle()
	if r := g.expect(t, "HIT", "GET", "/v", "accept-language: en"); r.body != en.body {
		t.Fatalf("en hit body %q, want %q", r.body, en.body)
	}
	if r := g.expect(t, "HIT", "GET", "/v", "Accept-Language: fr"); r.body != fr.body || fr.body == en.body {
		t.Fatalf("fr hit body %q, want %q", r.body, fr.body)
	}
	if r := g.expect(t, "HIT", "GET", "/v"); r.body != none.body {
		t.Fatalf("no-language hit body %q", r.body)
	}
	// Headers outside vary do not split the key.
	g.expect(t, "HIT", "GET", "/v", "Accept-Language: en", "X-Other: 1")
}

func TestQueryOrderCanonical(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(time.Minute, 0), false)
	g.expect(t, "MISS", "GET", "/q?a=1&b=2&c=3")
	g.settle()
	g.expect(t, "HIT", "GET", "/q?c=3&a=1&b=2")
	g.expect(t, "HIT", "GET", "/q?b=2&&c=3&a=1")
	g.expect(t, "MISS", "GET", "/q?a=2&b=1&c=3")
	g.expect(t, "MISS", "GET", "/q?a=1&b=2")
	g.expect(t, "MISS", "GET", "/q")
	// Repeated names keep their order: it may matter upstream.
	g.expect(t, "MISS", "GET", "/r?x=1&x=2&y=0")
	g.settle()
	g.expect(t, "MISS", "GET", "/r?x=2&x=1&y=0")
	g.expect(t, "HIT", "GET", "/r?y=0&x=1&x=2")
	g.expect(t, "HIT", "GET", "/r?x=1&y=0&x=2")
	// A query is not part of the path, nor the path part of the query.
	g.expect(t, "MISS", "GET", "/q/a=1&b=2&c=3")
}

func TestStoreRules(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(time.Minute, 0), false)
	cases := []struct {
		query  string
		status int
		stored bool
	}{
		{"status=200", 200, true},
		{"status=203", 203, true},
		{"status=204", 204, true},
		{"status=301", 301, true},
		{"status=404", 404, true},
		{"status=201", 201, false},
		{"status=302", 302, false},
		{"status=400", 400, false},
		{"status=410", 410, false},
		{"status=500", 500, false},
		{"status=503", 503, false},
		{"cookie=1", 200, false},
		{"cc=private", 200, false},
		{"cc=Private,+max-age=60", 200, false},
		{"cc=no-store", 200, false},
		{"cc=no-cache", 200, false},
		{"cc=public,+max-age=60", 200, true},
		{"vary=*", 200, false},
	}
	noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range cases {
		target := "/rules?" + c.query
		get := func() (int, string) {
			resp, err := noRedirect.Get("http://" + g.addr + target)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body) //nolint:errcheck // drain
			resp.Body.Close()
			return resp.StatusCode, resp.Header.Get("X-Cache")
		}
		status, xc := get()
		if status != c.status || xc != "MISS" {
			t.Fatalf("%s: first %d %s", c.query, status, xc)
		}
		g.settle()
		want := "MISS"
		if c.stored {
			want = "HIT"
		}
		if status, xc = get(); status != c.status || xc != want {
			t.Fatalf("%s: second %d %s, want %d %s", c.query, status, xc, c.status, want)
		}
	}
}

func TestHeadServedFromGetEntry(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(time.Minute, 0), false)
	// (Go's client asks for gzip on GET by itself, not on HEAD.)
	get := g.expect(t, "MISS", "GET", "/h")
	g.settle()
	head := g.expect(t, "HIT", "HEAD", "/h", "Accept-Encoding: gzip")
	if head.body != "" || head.header.Get("Content-Length") != strconv.Itoa(len(get.body)) {
		t.Fatalf("HEAD hit: body %q, Content-Length %q, GET body %q", head.body, head.header.Get("Content-Length"), get.body)
	}
	// A HEAD miss goes upstream as HEAD and stores nothing.
	g.expect(t, "MISS", "HEAD", "/h2")
	g.settle()
	g.expect(t, "MISS", "HEAD", "/h2")
	if r := g.expect(t, "MISS", "GET", "/h2"); r.body == "" {
		t.Fatal("GET after HEAD misses answered an empty body")
	}
	if n := u.Hits.Load(); n != 4 {
		t.Fatalf("upstream calls %d, want 4", n)
	}
}

func TestConcurrentMissesCoalesce(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(time.Minute, 0), false)
	const n = 50
	var wg sync.WaitGroup
	replies := make([]reply, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			replies[i] = g.do(t, "GET", "/slow?sleep=300ms")
		}()
	}
	close(start)
	wg.Wait()
	if c := u.Hits.Load(); c != 1 {
		t.Fatalf("upstream calls %d, want 1", c)
	}
	count := map[string]int{}
	for _, r := range replies {
		if r.status != 200 || r.body != "call=1 lang=" {
			t.Fatalf("reply %d %q", r.status, r.body)
		}
		count[r.cache]++
	}
	if count["MISS"] != 1 || count["HIT"] != n-1 {
		t.Fatalf("X-Cache counts %v", count)
	}
}

func TestCoalescingWithoutStore(t *testing.T) {
	// Followers answer from the leader's copy even when ristretto keeps
	// nothing: here the store is closed, so every Set is dropped.
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(time.Minute, 0), false)
	g.store.mu.Lock()
	g.store.closed = true
	g.store.mu.Unlock()
	defer func() { g.store.mu.Lock(); g.store.closed = false; g.store.mu.Unlock() }()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := g.do(t, "GET", "/nostore?sleep=300ms"); r.body != "call=1 lang=" {
				t.Errorf("body %q", r.body)
			}
		}()
	}
	wg.Wait()
	if c := u.Hits.Load(); c != 1 {
		t.Fatalf("upstream calls %d, want 1", c)
	}
}

func TestUnshareableLeaderFollowersFetch(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(time.Minute, 0), false)
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := g.do(t, "GET", "/private?sleep=200ms&cc=private"); r.cache != "MISS" {
				t.Errorf("X-Cache %q", r.cache)
			}
		}()
	}
	wg.Wait()
	if c := u.Hits.Load(); c != 5 {
		t.Fatalf("upstream calls %d, want 5 (a private answer is never shared)", c)
	}
}

func TestFollowerDeadline(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(time.Minute, 0), false)
	leader := make(chan reply)
	go func() { leader <- g.do(t, "GET", "/dl?sleep=1s", "X-Deadline-Ms: 3000") }()
	time.Sleep(200 * time.Millisecond)
	began := time.Now()
	r := g.do(t, "GET", "/dl?sleep=1s", "X-Deadline-Ms: 100")
	if r.status != 504 || !strings.Contains(r.body, "upstream_timeout") || r.cache != "MISS" {
		t.Fatalf("follower: %d %q %q", r.status, r.cache, r.body)
	}
	if d := time.Since(began); d > 700*time.Millisecond {
		t.Fatalf("follower waited %v", d)
	}
	if l := <-leader; l.status != 200 || l.cache != "MISS" {
		t.Fatalf("leader: %d %q", l.status, l.cache)
	}
	if c := u.Hits.Load(); c != 1 {
		t.Fatalf("upstream calls %d", c)
	}
}

func TestStaleOnUpstream5xx(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(200*time.Millisecond, 5*time.Second), false)
	fresh := g.expect(t, "MISS", "GET", "/s")
	g.settle()
	time.Sleep(300 * time.Millisecond)
	u.fail.Store(true)
	r := g.expect(t, "STALE", "GET", "/s", "X-Test-Id: st")
	if r.status != 200 || r.body != fresh.body || r.age == "" {
		t.Fatalf("stale: %d %q age %q", r.status, r.body, r.age)
	}
	if v, _ := g.results.Load("st"); v != "stale" {
		t.Fatalf("CacheResult %v", v)
	}
	// Concurrent failures share the stale answer.
	u.fail.Store(false)
	g.expect(t, "MISS", "GET", "/s")
	g.settle()
	g.expect(t, "HIT", "GET", "/s")
}

func TestStaleOnConnectRefused(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(200*time.Millisecond, 5*time.Second), false)
	fresh := g.expect(t, "MISS", "GET", "/c")
	g.settle()
	u.Kill()
	g.hc.CloseIdleConnections()
	time.Sleep(300 * time.Millisecond)
	r := g.expect(t, "STALE", "GET", "/c")
	if r.status != 200 || r.body != fresh.body {
		t.Fatalf("stale: %d %q", r.status, r.body)
	}
	// A key never cached has nothing to fall back on: the 502 stands.
	if r := g.expect(t, "MISS", "GET", "/never"); r.status != 502 || !strings.Contains(r.body, "bad_gateway") {
		t.Fatalf("uncached: %d %q", r.status, r.body)
	}
}

func TestStaleOnFailedFetch(t *testing.T) {
	// An open circuit or timeout reaches the cache as a failed x.
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(100*time.Millisecond, 5*time.Second), false)
	g.expect(t, "MISS", "GET", "/f")
	g.settle()
	time.Sleep(150 * time.Millisecond)
	for _, kind := range []fault.Kind{fault.Unavailable, fault.UpstreamTimeout} {
		g.fetch = func(x *pipeline.Exchange) { x.Fail(kind, "circuit open") }
		if r := g.expect(t, "STALE", "GET", "/f"); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
	}
	// A client-side failure (4xx from the stage) is not an upstream error.
	g.fetch = func(x *pipeline.Exchange) { x.Fail(fault.BadRequest, "no") }
	if r := g.expect(t, "MISS", "GET", "/f"); r.status != 400 {
		t.Fatalf("status %d", r.status)
	}
}

func TestStaleWindowEnds(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(200*time.Millisecond, time.Second), false)
	g.expect(t, "MISS", "GET", "/w")
	began := time.Now()
	g.settle()
	u.fail.Store(true)
	time.Sleep(300 * time.Millisecond)
	g.expect(t, "STALE", "GET", "/w")
	time.Sleep(1300*time.Millisecond - time.Since(began))
	if r := g.expect(t, "MISS", "GET", "/w"); r.status != 500 {
		t.Fatalf("after the window: %d", r.status)
	}
}

func TestNoStaleWithoutWindow(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(100*time.Millisecond, 0), false)
	g.expect(t, "MISS", "GET", "/nw")
	g.settle()
	u.fail.Store(true)
	time.Sleep(150 * time.Millisecond)
	if r := g.expect(t, "MISS", "GET", "/nw"); r.status != 500 {
		t.Fatalf("status %d", r.status)
	}
}

func TestPerConsumer(t *testing.T) {
	u := newUpstream(t)
	cfg := cacheCfg(time.Minute, 0)
	cfg.PerConsumer = true
	g := newGateway(t, u.addr, cfg, true)
	a := g.expect(t, "MISS", "GET", "/me", "X-Consumer: alice")
	g.settle()
	g.expect(t, "HIT", "GET", "/me", "X-Consumer: alice")
	b := g.expect(t, "MISS", "GET", "/me", "X-Consumer: bob")
	if a.body == b.body {
		t.Fatal("bob got alice's answer")
	}

	// Without per_consumer one answer serves every caller.
	shared := newGateway(t, u.addr, cacheCfg(time.Minute, 0), true)
	shared.expect(t, "MISS", "GET", "/all", "X-Consumer: alice")
	shared.settle()
	shared.expect(t, "HIT", "GET", "/all", "X-Consumer: bob")
}

func TestStreamedNotStored(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(time.Minute, 0), false)
	g.fetch = func(x *pipeline.Exchange) {
		x.Ctx.Response.SetBodyStream(strings.NewReader("streamed"), -1)
	}
	for range 2 {
		if r := g.expect(t, "MISS", "GET", "/stream"); r.body != "streamed" {
			t.Fatalf("body %q", r.body)
		}
		g.settle()
	}
}

func TestRoutesDoNotShare(t *testing.T) {
	// Two routes (e.g. told apart by API-Version) on one store never share.
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(time.Minute, 0), false)
	g.expect(t, "MISS", "GET", "/shared")
	g.settle()
	other, err := g.store.Route(Options{TTL: time.Minute}, false)
	if err != nil {
		t.Fatal(err)
	}
	g.route = other
	g.expect(t, "MISS", "GET", "/shared")
}

func TestConfigErrors(t *testing.T) {
	s, err := New(0, metrics.NewSet())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cases := []struct {
		o       Options
		auth    bool
		wantErr []string
	}{
		{Options{}, false, []string{"ttl: must be a duration greater than 0"}},
		{Options{TTL: -time.Second}, true, []string{"ttl: "}},
		{Options{TTL: time.Second, PerConsumer: true}, false,
			[]string{"per_consumer: needs the route to have auth"}},
		{Options{TTL: time.Second, StaleIfError: -1}, false,
			[]string{"stale_if_error: "}},
		{Options{TTL: time.Second, Vary: []string{"Accept", "", "Bad Name"}}, false,
			[]string{"vary[1]: ", "vary[2]: "}},
		{Options{PerConsumer: true}, false,
			[]string{"ttl: ", "per_consumer: "}},
	}
	for i, c := range cases {
		r, err := s.Route(c.o, c.auth)
		var errs fielderr.List
		if r != nil || !errors.As(err, &errs) || len(errs) != len(c.wantErr) {
			t.Fatalf("case %d: route %v, errors %v", i, r, err)
		}
		for j, want := range c.wantErr {
			if !strings.HasPrefix(errs[j].Error(), want) {
				t.Fatalf("case %d: error %q, want prefix %q", i, errs[j].Error(), want)
			}
		}
	}
	ok := Options{TTL: time.Second, Vary: []string{"Accept-Language"}, PerConsumer: true}
	if r, err := s.Route(ok, true); r == nil || err != nil {
		t.Fatalf("valid config: %v", err)
	}
}

func TestHashCollisionNeverShares(t *testing.T) {
	s, err := New(1<<20, metrics.NewSet())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e := &entry{key: []byte("key-a"), storedAt: 1, staleUntil: int64(time.Hour)}
	s.set(42, e)
	s.settle()
	if s.lookup(42, []byte("key-a")) != e {
		t.Fatal("own key not found")
	}
	if s.lookup(42, []byte("key-b")) != nil {
		t.Fatal("a different key with the same hash was answered")
	}
	f, leader := s.join(7, []byte("x"))
	if !leader {
		t.Fatal("first join must lead")
	}
	if g, _ := s.join(7, []byte("y")); g != nil {
		t.Fatal("a different key joined a flight with the same hash")
	}
	s.finish(7, f, nil, false)
}

func TestMetrics(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(time.Minute, 0), false)
	g.expect(t, "MISS", "GET", "/metric")
	g.settle()
	var buf bytes.Buffer
	g.metrics.WritePrometheus(&buf)
	out := buf.String()
	for _, want := range []string{
		`sluice_cache_requests_total{result="hit"}`, `sluice_cache_requests_total{result="miss"}`,
		`sluice_cache_requests_total{result="bypass"}`, `sluice_cache_requests_total{result="stale"}`,
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("metrics lack %s", want)
		}
	}
	_, gauge, _ := strings.Cut(out, "sluice_cache_bytes ")
	gauge, _, _ = strings.Cut(gauge, "\n")
	if used, v := g.store.used(), parseFloat(gauge); used <= 0 || v != float64(used) {
		t.Fatalf("bytes held: store %d, gauge %q", used, gauge)
	}
}

func TestEvictionBoundsBytes(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(time.Minute, 0), false)
	for i := range 300 {
		g.do(t, "GET", "/big/"+strconv.Itoa(i)+"?pad=4000")
	}
	g.settle()
	if used := g.store.used(); used > 1<<20 {
		t.Fatalf("store holds %d bytes over its 1 MiB bound", used)
	}
}

func TestAcceptEncodingClasses(t *testing.T) {
	u := newUpstream(t)
	g := newGateway(t, u.addr, cacheCfg(time.Minute, 0), false)
	g.expect(t, "MISS", "GET", "/enc", "Accept-Encoding: gzip, deflate")
	g.settle()
	g.expect(t, "HIT", "GET", "/enc", "Accept-Encoding: deflate;q=0.5, GZIP")
	g.expect(t, "MISS", "GET", "/enc", "Accept-Encoding: identity")
	g.expect(t, "MISS", "GET", "/enc", "Accept-Encoding: gzip, br")
}

func TestEncodingClass(t *testing.T) {
	cases := map[string]byte{
		"":                    0,
		"identity":            0,
		"gzip":                acceptGzip,
		" GZip ;q=1, br":      acceptGzip | acceptBr,
		"zstd,deflate,x-gzip": acceptZstd | acceptDeflate | acceptGzip,
		"*":                   acceptGzip | acceptBr | acceptZstd | acceptDeflate,
		",,;,":                0,
		"gzip;q=0, br":        acceptBr,
		"gzip; Q=0.000":       0,
		"gzip;q=0.001":        acceptGzip,
	}
	for in, want := range cases {
		if got := encodingClass([]byte(in)); got != want {
			t.Errorf("encodingClass(%q) = %b, want %b", in, got, want)
		}
	}
}

func parseFloat(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return -1
	}
	return v
}
