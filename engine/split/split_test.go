package split

import (
	"fmt"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/internal/enginetest"
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

func compile(t testing.TB, o Options, r Route) *Split {
	t.Helper()
	s, _, err := New(o, r)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewErrors(t *testing.T) {
	for _, c := range []struct {
		o    Options
		r    Route
		want string
	}{
		{Options{Services: []Side{{Service: "nope", Percent: pct(5)}}}, rt, `services[0].service: unknown service "nope"`},
		{Options{Services: []Side{{Service: "v2", Percent: pct(60)}, {Service: "v3", Percent: pct(50)}}}, rt, `services: percents sum to 110, over 100`},
		{Options{Services: []Side{{Service: "v2", Percent: pct(-1)}}}, rt, `services[0].percent: must be within 0 and 100, got -1`},
		{Options{Services: []Side{{Service: "v2"}}}, rt, `services[0].percent: required`},
		{Options{Services: []Side{{Service: "v2", Percent: pct(101)}}}, rt, `services[0].percent:`},
		{Options{By: "cookie", Services: []Side{{Service: "v2", Percent: pct(5)}}}, rt, `by: want random, ip, consumer or header:NAME, got "cookie"`},
		{Options{By: "header:", Services: []Side{{Service: "v2", Percent: pct(5)}}}, rt, `by: invalid header name ""`},
		{Options{By: "consumer", Services: []Side{{Service: "v2", Percent: pct(5)}}}, rt, `by: "consumer" needs the route to have auth`},
		{Options{}, rt, `services: at least one service is required`},
		{Options{Services: []Side{{Service: "main", Percent: pct(5)}}}, rt, `services[0].service: "main" is the route's own service`},
		{Options{Services: []Side{{Service: "v2", Percent: pct(5)}, {Service: "v2", Percent: pct(5)}}}, rt, `services[1].service: service "v2" listed twice`},
		{Options{Services: []Side{{Percent: pct(5)}}}, rt, `services[0].service: required`},
	} {
		_, _, err := New(c.o, c.r)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.o, err, c.want)
		}
	}
	// Exactly 100 is fine (the route's own service then gets nothing).
	compile(t, Options{Services: []Side{{Service: "v2", Percent: pct(33.3333)}, {Service: "v3", Percent: pct(66.6667)}}}, rt)
}

func TestShares(t *testing.T) {
	s := compile(t, Options{Services: []Side{{Service: "v2", Percent: pct(10)}, {Service: "v3", Percent: pct(25)}}}, rt)
	x := enginetest.Exchange("GET", "/")
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
	s := compile(t, Options{Services: []Side{{Service: "v2", Percent: pct(0)}, {Service: "v3", Percent: pct(50)}}}, rt)
	x := enginetest.Exchange("GET", "/")
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
	s := compile(t, Options{By: "header:X-User", Services: []Side{{Service: "v2", Percent: pct(20)}}}, rt)
	side := map[string]int{}
	canary := 0
	for i := 0; i < 20000; i++ {
		k := fmt.Sprintf("user-%d", i%5000)
		got := s.Pick(enginetest.Exchange("GET", "/", "X-User: "+k))
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
		if s.Pick(enginetest.Exchange("GET", "/")) != -1 {
			t.Fatal("a request without the key left the route's service")
		}
	}
	ip := compile(t, Options{By: "ip", Services: []Side{{Service: "v2", Percent: pct(50)}}}, rt)
	x := enginetest.Exchange("GET", "/")
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
		s := compile(t, Options{By: by, Services: []Side{{Service: "v2", Percent: pct(5)}}}, rt)
		x := enginetest.Exchange("GET", "/", "X-User: "+"u1")
		x.ClientIP = []byte("10.0.0.1")
		if n := testing.AllocsPerRun(500, func() { x.LogExtra = x.LogExtra[:0]; s.Pick(x) }); n != 0 {
			t.Errorf("%s: Pick allocates %v", by, n)
		}
	}
}

func BenchmarkPick(b *testing.B) {
	for _, by := range []string{"random", "header:X-User", "ip"} {
		s := compile(b, Options{By: by, Services: []Side{{Service: "v2", Percent: pct(5)}, {Service: "v3", Percent: pct(5)}}}, rt)
		x := enginetest.Exchange("GET", "/", "X-User: "+"user-1234")
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
