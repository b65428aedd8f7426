package tracing

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func compileRatio(t testing.TB, ratio float64) *Tracer {
	t.Helper()
	tr, err := New(&Options{OTLPEndpoint: "http://127.0.0.1:9/v1/traces", SampleRatio: &ratio}, metrics.NewSet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

// TestUnsampledAllocatesNothing: the whole per-request path of an unsampled
// request (new trace at ratio 0, or a client's unsampled traceparent) with
// tracing configured makes no allocation.
func TestUnsampledAllocatesNothing(t *testing.T) {
	tr := compileRatio(t, 0)
	var h fasthttp.RequestHeader
	var r Request
	start := time.Now()
	for _, incoming := range []string{"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"} {
		n := testing.AllocsPerRun(1000, func() {
			h.Del("traceparent")
			if incoming != "" {
				h.Set("traceparent", incoming)
			}
			tr.Begin(&r, &h)
			// What forwarding sends upstream for a new trace.
			h.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			r.StartUpstream(&h, "catalog")
			r.EndUpstream("127.0.0.1:1", 200, nil)
			tr.Finish(&r, "product", []byte("GET"), []byte("id"), "127.0.0.1:1", start, 200)
		})
		if n != 0 {
			t.Fatalf("incoming %q: %v allocs per unsampled request, want 0", incoming, n)
		}
	}
}

func TestSampleRatio(t *testing.T) {
	for _, c := range []struct {
		ratio    float64
		min, max int
	}{{0, 0, 0}, {1, 10000, 10000}, {0.25, 2200, 2800}} {
		tr := compileRatio(t, c.ratio)
		sampled := 0
		var h fasthttp.RequestHeader
		for i := 0; i < 10000; i++ {
			h.Reset()
			var r Request
			tr.Begin(&r, &h)
			if r.sampled {
				sampled++
				if tid, _, flags, ok := parseTraceparent(h.Peek("traceparent")); !ok || tid != r.traceID || flags != 1 {
					t.Fatalf("sampled new trace wrote traceparent %q", h.Peek("traceparent"))
				}
			}
		}
		if sampled < c.min || sampled > c.max {
			t.Errorf("ratio %v: %d of 10000 sampled, want %d..%d", c.ratio, sampled, c.min, c.max)
		}
	}
}

func TestParseTraceparent(t *testing.T) {
	good := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tid, span, flags, ok := parseTraceparent([]byte(good))
	if !ok || flags != 1 || tid.String() != "4bf92f3577b34da6a3ce929d0e0e4736" || span.String() != "00f067aa0ba902b7" {
		t.Fatalf("parse %q: %v %v %v %v", good, tid, span, flags, ok)
	}
	if got := string(appendTraceparent(nil, tid, span, flags)); got != good {
		t.Fatalf("round trip %q", got)
	}
	for _, bad := range []string{
		"", good[:54], good + "0",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
		"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
	} {
		if _, _, _, ok := parseTraceparent([]byte(bad)); ok {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestEndpointURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:4318":            "http://127.0.0.1:4318/v1/traces",
		"http://127.0.0.1:4318/":           "http://127.0.0.1:4318/v1/traces",
		"https://otel.example/custom/path": "https://otel.example/custom/path",
	} {
		if got, err := endpointURL(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:4318", "ftp://x/", "http://", "http://u:p@x/", "http://x/?a=1", "::"} {
		if _, err := endpointURL(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// stuck is a span processor that takes nothing until released.
type stuck struct {
	release chan struct{}
	mu      sync.Mutex
	got     int
}

func (s *stuck) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (s *stuck) OnEnd(sdktrace.ReadOnlySpan) {
	<-s.release
	s.mu.Lock()
	s.got++
	s.mu.Unlock()
}
func (s *stuck) Shutdown(context.Context) error   { return nil }
func (s *stuck) ForceFlush(context.Context) error { return nil }

// TestQueueDropsWhenFull: with the exporter side stuck, OnEnd never blocks;
// spans beyond the bound are dropped and counted; the rest are delivered.
func TestQueueDropsWhenFull(t *testing.T) {
	next := &stuck{release: make(chan struct{})}
	counter := metrics.NewSet().NewCounter(droppedName)
	q := newQueue(next, 8, counter)
	span := tracetest.SpanStub{Name: "s"}.Snapshot()
	before := counter.Get()
	done := make(chan struct{})
	go func() {
		for i := 0; i < 100; i++ {
			q.OnEnd(span)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("OnEnd blocked on a full queue")
	}
	// 8 queued plus at most 1 held by the stuck processor.
	dropped := counter.Get() - before
	if dropped < 91 || dropped > 92 {
		t.Fatalf("dropped %d of 100 with a queue of 8, want 91 or 92", dropped)
	}
	close(next.release)
	if err := q.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if int(dropped)+next.got != 100 {
		t.Fatalf("delivered %d + dropped %d != 100", next.got, dropped)
	}
	// After shutdown nothing is queued any more; it is counted as dropped.
	q.OnEnd(span)
	if counter.Get()-before != dropped+1 {
		t.Fatal("span after shutdown not counted as dropped")
	}
}
