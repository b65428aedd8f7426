package split

import (
	"fmt"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/valyala/fasthttp"
)

func known(names ...string) func(string) bool {
	return func(n string) bool {
		for _, k := range names {
			if k == n {
				return true
			}
		}
		return false
	}
}

var rt = Route{Name: "t", Service: "main", Known: known("main", "v2", "v3"), Metrics: metrics.NewSet()}

func compile(t testing.TB, c config.Split, r Route) *Split {
	t.Helper()
	s, _, errs := Compile(&c, r, "routes[0].split")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return s
}

func TestCompileErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  config.Split
		r    Route
		want string
	}{
		{config.Split{Services: []config.SplitService{{Service: "nope", Percent: pct(5)}}}, rt, `routes[0].split.services[0].service: unknown service "nope"`},
		{config.Split{Services: []config.SplitService{{Service: "v2", Percent: pct(60)}, {Service: "v3", Percent: pct(50)}}}, rt, `routes[0].split.services: percents sum to 110, over 100`},
		{config.Split{Services: []config.SplitService{{Service: "v2", Percent: pct(-1)}}}, rt, `routes[0].split.services[0].percent: must be within 0 and 100, got -1`},
		{config.Split{Services: []config.SplitService{{Service: "v2"}}}, rt, `routes[0].split.services[0].percent: required`},
		{config.Split{Services: []config.SplitService{{Service: "v2", Percent: pct(101)}}}, rt, `routes[0].split.services[0].percent:`},
		{config.Split{By: "cookie", Services: []config.SplitService{{Service: "v2", Percent: pct(5)}}}, rt, `routes[0].split.by: want random, ip, consumer or header:NAME, got "cookie"`},
		{config.Split{By: "header:", Services: []config.SplitService{{Service: "v2", Percent: pct(5)}}}, rt, `routes[0].split.by: invalid header name ""`},
		{config.Split{By: "consumer", Services: []config.SplitService{{Service: "v2", Percent: pct(5)}}}, rt, `routes[0].split.by: "consumer" needs the route to have auth`},
		{config.Split{}, rt, `routes[0].split.services: at least one service is required`},
		{config.Split{Services: []config.SplitService{{Service: "main", Percent: pct(5)}}}, rt, `routes[0].split.services[0].service: "main" is the route's own service`},
		{config.Split{Services: []config.SplitService{{Service: "v2", Percent: pct(5)}, {Service: "v2", Percent: pct(5)}}}, rt, `routes[0].split.services[1].service: service "v2" listed twice`},
		{config.Split{Services: []config.SplitService{{Percent: pct(5)}}}, rt, `routes[0].split.services[0].service: required`},
	} {
		_, _, errs := Compile(&c.cfg, c.r, "routes[0].split")
		if !strings.Contains(errs.Error(), c.want) {
			t.Errorf("%+v: got %q, want %q", c.cfg, errs.Error(), c.want)
		}
	}
	// Exactly 100 is fine (the route's own service then gets nothing).
	compile(t, config.Split{Services: []config.SplitService{{Service: "v2", Percent: pct(33.3333)}, {Service: "v3", Percent: pct(66.6667)}}}, rt)
}

func exchange(hdr, val string) *pipeline.Exchange {
	ctx := new(fasthttp.RequestCtx)
	if hdr != "" {
		ctx.Request.Header.Set(hdr, val)
	}
	return &pipeline.Exchange{Ctx: ctx}
}

func TestShares(t *testing.T) {
	s := compile(t, config.Split{Services: []config.SplitService{{Service: "v2", Percent: pct(10)}, {Service: "v3", Percent: pct(25)}}}, rt)
	x := exchange("", "")
	var n [3]int
	const total = 200000
	for i := 0; i < total; i++ {
		x.LogExtra = x.LogExtra[:0]
		n[s.Pick(x)+1]++
	}
	for i, want := range []float64{0.65, 0.10, 0.25} {
		if got := float64(n[i]) / total; got < want-0.01 || got > want+0.01 {
			t.Errorf("side %d got %.3f of the requests, want %.2f", i-1, got, want)
		}
	}
}

// TestParkedSide: a side at 0 percent gets no request, and the sides after
// it keep their shares.
func TestParkedSide(t *testing.T) {
	s := compile(t, config.Split{Services: []config.SplitService{{Service: "v2", Percent: pct(0)}, {Service: "v3", Percent: pct(50)}}}, rt)
	x := exchange("", "")
	var n [3]int
	const total = 20000
	for i := 0; i < total; i++ {
		x.LogExtra = x.LogExtra[:0]
		n[s.Pick(x)+1]++
	}
	if n[1] != 0 {
		t.Errorf("the 0 percent side got %d of %d requests", n[1], total)
	}
	if got := float64(n[2]) / total; got < 0.47 || got > 0.53 {
		t.Errorf("the 50 percent side after a parked one got %.3f", got)
	}
}

func pct(f float64) *float64 { return &f }

func TestStickyByKey(t *testing.T) {
	s := compile(t, config.Split{By: "header:X-User", Services: []config.SplitService{{Service: "v2", Percent: pct(20)}}}, rt)
	side := map[string]int{}
	canary := 0
	for i := 0; i < 20000; i++ {
		k := fmt.Sprintf("user-%d", i%5000)
		got := s.Pick(exchange("X-User", k))
		if prev, ok := side[k]; ok && prev != got {
			t.Fatalf("%s moved from side %d to %d", k, prev, got)
		}
		side[k] = got
		if got == 0 {
			canary++
		}
	}
	if share := float64(canary) / 20000; share < 0.17 || share > 0.23 {
		t.Errorf("canary share %.3f, want about 0.20", share)
	}
	// No key: the route's own service.
	for i := 0; i < 100; i++ {
		if s.Pick(exchange("", "")) != -1 {
			t.Fatal("a request without the key left the route's service")
		}
	}
	ip := compile(t, config.Split{By: "ip", Services: []config.SplitService{{Service: "v2", Percent: pct(50)}}}, rt)
	x := exchange("", "")
	x.ClientIP = []byte("192.0.2.44")
	first := ip.Pick(x)
	if string(x.LogExtra) != `,"service":"main"` && string(x.LogExtra) != `,"service":"v2"` {
		t.Errorf("access log member %q", x.LogExtra)
	}
	for i := 0; i < 100; i++ {
		if ip.Pick(x) != first {
			t.Fatal("by ip: one address changed sides")
		}
	}
}

func TestPickAllocatesNothing(t *testing.T) {
	for _, by := range []string{"random", "header:X-User", "ip"} {
		s := compile(t, config.Split{By: by, Services: []config.SplitService{{Service: "v2", Percent: pct(5)}}}, rt)
		x := exchange("X-User", "u1")
		x.ClientIP = []byte("10.0.0.1")
		if n := testing.AllocsPerRun(500, func() { x.LogExtra = x.LogExtra[:0]; s.Pick(x) }); n != 0 {
			t.Errorf("%s: Pick allocates %v", by, n)
		}
	}
}

func BenchmarkPick(b *testing.B) {
	for _, by := range []string{"random", "header:X-User", "ip"} {
		s := compile(b, config.Split{By: by, Services: []config.SplitService{{Service: "v2", Percent: pct(5)}, {Service: "v3", Percent: pct(5)}}}, rt)
		x := exchange("X-User", "user-1234")
		x.ClientIP = []byte("10.0.0.1")
		b.Run(by, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				x.LogExtra = x.LogExtra[:0]
				s.Pick(x)
			}
		})
	}
}
