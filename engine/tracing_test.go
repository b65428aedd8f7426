package engine_test

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/engine/config"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is a real OTLP/HTTP traces endpoint on 127.0.0.1: it decodes
// each protobuf ExportTraceServiceRequest and keeps the spans.
type otlpReceiver struct {
	url string

	mu       sync.Mutex
	spans    []*tracepb.Span
	services []string // service.name of each span's resource
	posts    int
}

func startOTLPReceiver(t testing.TB) *otlpReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc := &otlpReceiver{url: "http://" + ln.Addr().String() + "/v1/traces"}
	srv := &http.Server{Handler: http.HandlerFunc(rc.handle)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return rc
}

func (rc *otlpReceiver) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != "POST" || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want POST /v1/traces application/x-protobuf", http.StatusBadRequest)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(data, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.posts++
	for _, rs := range req.ResourceSpans {
		svc := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				svc = kv.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				rc.spans = append(rc.spans, s)
				rc.services = append(rc.services, svc)
			}
		}
	}
	rc.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// snapshot returns the spans received so far.
func (rc *otlpReceiver) snapshot() ([]*tracepb.Span, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*tracepb.Span(nil), rc.spans...), append([]string(nil), rc.services...)
}

// waitSpans waits (generously) until at least n spans arrived.
func (rc *otlpReceiver) waitSpans(t testing.TB, n int) []*tracepb.Span {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		spans, _ := rc.snapshot()
		if len(spans) >= n {
			return spans
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d spans, want %d", len(spans), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func spanAttr(s *tracepb.Span, key string) (string, int64, bool) {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value.GetStringValue(), kv.Value.GetIntValue(), true
		}
	}
	return "", 0, false
}

func spansOfTrace(spans []*tracepb.Span, traceID string) []*tracepb.Span {
	var out []*tracepb.Span
	for _, s := range spans {
		if hex.EncodeToString(s.TraceId) == traceID {
			out = append(out, s)
		}
	}
	return out
}

// splitTraceparent returns the trace id, parent id and flags of a traceparent.
func splitTraceparent(t testing.TB, tp string) (string, string, string) {
	t.Helper()
	parts := strings.Split(tp, "-")
	if len(parts) != 4 || len(parts[1]) != 32 || len(parts[2]) != 16 {
		t.Fatalf("malformed traceparent %q", tp)
	}
	return parts[1], parts[2], parts[3]
}

func tracingConfig(rcURL, ratio, up, down string) string {
	return cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "tracing": {"otlp_endpoint": %q, "sample_ratio": %s, "service_name": "edge-gw"},
  "services": {"catalog": {"targets": [%q]}, "down": {"targets": [%q], "retries": 0}},
  "routes": [
    {"name": "product", "path": "/api/products/{sku}", "service": "catalog", "strip_prefix": "/api"},
    {"name": "broken", "path": "/broken", "service": "down"},
    {"name": "combo", "path": "/combo", "aggregate": {"timeout": "5s", "backends": [
      {"service": "catalog", "path": "/c", "key": "c"},
      {"service": "down", "path": "/d", "key": "d", "optional": true}]}}
  ]
}`, rcURL, ratio, up, down)
}

// checkUpstreamSpan checks a successful upstream call's span: its service,
// target and 200, and that it lies inside its request span.
func checkUpstreamSpan(t testing.TB, req, up *tracepb.Span, service, target string) {
	t.Helper()
	if s, _, _ := spanAttr(up, "sluice.service"); s != service {
		t.Fatalf("upstream span service %q, want %q", s, service)
	}
	if s, _, _ := spanAttr(up, "sluice.target"); s != target {
		t.Fatalf("upstream span target %q, want %q", s, target)
	}
	if _, n, _ := spanAttr(up, "http.response.status_code"); n != 200 {
		t.Fatalf("upstream span status %d, want 200", n)
	}
	if up.StartTimeUnixNano < req.StartTimeUnixNano || up.EndTimeUnixNano > req.EndTimeUnixNano {
		t.Fatalf("upstream span [%d,%d] not inside request span [%d,%d]", up.StartTimeUnixNano, up.EndTimeUnixNano, req.StartTimeUnixNano, req.EndTimeUnixNano)
	}
}

// findSpans splits one trace's spans into the request span and upstream span.
func findSpans(t testing.TB, spans []*tracepb.Span) (req, up *tracepb.Span) {
	t.Helper()
	if len(spans) != 2 {
		t.Fatalf("got %d spans in the trace, want 2 (request and upstream)", len(spans))
	}
	for _, s := range spans {
		switch s.Kind {
		case tracepb.Span_SPAN_KIND_SERVER:
			req = s
		case tracepb.Span_SPAN_KIND_CLIENT:
			up = s
		}
	}
	if req == nil || up == nil {
		t.Fatalf("want one server and one client span, got kinds %v and %v", spans[0].Kind, spans[1].Kind)
	}
	return req, up
}

// TestTracingSampledTraceparent: a client's traceparent with the sampled flag
// is exported even with sample_ratio 0, as a request span (child of the
// client's span) and an upstream span (child of the request span) whose id is
// the parent id the upstream received; unsampled requests export nothing.
func TestTracingSampledTraceparent(t *testing.T) {
	rc := startOTLPReceiver(t)
	up := startUpstream(t, "catalog")
	g := startGateway(t, tracingConfig(rc.url, "0", up.addr, closedAddr(t)))

	// Not sampled: no traceparent (new trace at ratio 0), and a client's
	// traceparent without the sampled flag.
	var unsampledTraces []string
	for i := 0; i < 20; i++ {
		r := get(t, g.url+"/api/products/p1")
		var e echoed
		r.json(t, &e)
		tid, _, flags := splitTraceparent(t, e.Headers["traceparent"])
		if flags != "00" {
			t.Fatalf("unsampled new trace sent upstream with flags %q, want 00", flags)
		}
		unsampledTraces = append(unsampledTraces, tid)
	}
	r := do(t, "GET", g.url+"/api/products/p2", map[string]string{"traceparent": "00-11111111111111111111111111111111-2222222222222222-00"}, "")
	var e echoed
	r.json(t, &e)
	if tid, _, flags := splitTraceparent(t, e.Headers["traceparent"]); tid != "11111111111111111111111111111111" || flags != "00" {
		t.Fatalf("kept unsampled traceparent became %q", e.Headers["traceparent"])
	}

	const clientTrace, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	r = do(t, "GET", g.url+"/api/products/abc", map[string]string{"traceparent": "00-" + clientTrace + "-" + clientSpan + "-01"}, "")
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	r.json(t, &e)
	upTrace, upParent, flags := splitTraceparent(t, e.Headers["traceparent"])
	if upTrace != clientTrace || flags != "01" || upParent == clientSpan {
		t.Fatalf("upstream traceparent %q, want trace %s, a new parent id, flags 01", e.Headers["traceparent"], clientTrace)
	}

	spans := rc.waitSpans(t, 2)
	// Spans leave in request order: had the unsampled requests produced any,
	// they would be here before the sampled ones.
	for _, tid := range unsampledTraces {
		if n := len(spansOfTrace(spans, tid)); n > 0 {
			t.Fatalf("unsampled trace %s exported %d spans", tid, n)
		}
	}
	if len(spans) != 2 {
		t.Fatalf("received %d spans, want only the sampled request's 2", len(spans))
	}
	req, ups := findSpans(t, spansOfTrace(spans, clientTrace))
	if got := hex.EncodeToString(req.ParentSpanId); got != clientSpan {
		t.Fatalf("request span parent %s, want the client's span %s", got, clientSpan)
	}
	if !bytes.Equal(ups.ParentSpanId, req.SpanId) {
		t.Fatalf("upstream span parent %x, want the request span %x", ups.ParentSpanId, req.SpanId)
	}
	if got := hex.EncodeToString(ups.SpanId); got != upParent {
		t.Fatalf("upstream span id %s, want the parent id sent upstream %s", got, upParent)
	}
	if s, _, _ := spanAttr(req, "sluice.route"); s != "product" {
		t.Fatalf("request span sluice.route %q", s)
	}
	if s, _, _ := spanAttr(req, "http.request.method"); s != "GET" {
		t.Fatalf("request span method %q", s)
	}
	if _, n, _ := spanAttr(req, "http.response.status_code"); n != 200 {
		t.Fatalf("request span status %d", n)
	}
	if s, _, _ := spanAttr(req, "sluice.request_id"); s == "" || s != r.header.Get("X-Request-Id") {
		t.Fatalf("request span request id %q, want %q", s, r.header.Get("X-Request-Id"))
	}
	checkUpstreamSpan(t, req, ups, "catalog", up.addr)
	if _, svcs := rc.snapshot(); svcs[0] != "edge-gw" {
		t.Fatalf("service.name %q, want edge-gw", svcs[0])
	}
}

// TestTracingNewTraces: at sample_ratio 1 every request is a sampled new
// trace whose id is the one sent upstream; requests that never reach an
// upstream get a request span alone; a failed upstream call is an error span.
func TestTracingNewTraces(t *testing.T) {
	rc := startOTLPReceiver(t)
	up := startUpstream(t, "catalog")
	g := startGateway(t, tracingConfig(rc.url, "1", up.addr, closedAddr(t)))

	r := get(t, g.url+"/api/products/abc")
	var e echoed
	r.json(t, &e)
	upTrace, upParent, flags := splitTraceparent(t, e.Headers["traceparent"])
	if flags != "01" {
		t.Fatalf("sampled new trace sent with flags %q", flags)
	}
	get(t, g.url+"/nope").wantError(t, 404, "not_found")
	get(t, g.url+"/broken").wantError(t, 502, "bad_gateway")
	r = get(t, g.url+"/combo")
	var combo struct{ C echoed }
	r.json(t, &combo)
	comboTrace, comboParent, _ := splitTraceparent(t, combo.C.Headers["traceparent"])

	// 2 (product) + 1 (404) + 2 (broken) + 4 (combo: request, fan-out, 2 backends)
	spans := rc.waitSpans(t, 9)
	req, ups := findSpans(t, spansOfTrace(spans, upTrace))
	if len(req.ParentSpanId) != 0 {
		t.Fatalf("new trace's request span has parent %x", req.ParentSpanId)
	}
	if hex.EncodeToString(ups.SpanId) != upParent || !bytes.Equal(ups.ParentSpanId, req.SpanId) {
		t.Fatalf("upstream span %x (parent %x), want %s under %x", ups.SpanId, ups.ParentSpanId, upParent, req.SpanId)
	}

	var notFound, broken []*tracepb.Span
	for _, s := range spans {
		if hex.EncodeToString(s.TraceId) == comboTrace {
			continue
		}
		route, _, _ := spanAttr(s, "sluice.route")
		switch {
		case route == "unmatched":
			notFound = append(notFound, s)
		case route == "broken" || strings.HasSuffix(s.Name, "down"):
			broken = append(broken, s)
		}
	}
	if len(notFound) != 1 {
		t.Fatalf("404: %d spans, want the request span alone", len(notFound))
	}
	if _, n, _ := spanAttr(notFound[0], "http.response.status_code"); n != 404 {
		t.Fatalf("404 span status %d", n)
	}
	req, ups = findSpans(t, broken)
	if _, n, _ := spanAttr(req, "http.response.status_code"); n != 502 || req.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Fatalf("502 request span: status attr %d, span status %v", n, req.Status.GetCode())
	}
	if s, _, _ := spanAttr(ups, "error.type"); s == "" || ups.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Fatalf("failed upstream span: error.type %q, status %v", s, ups.Status.GetCode())
	}
	if _, _, ok := spanAttr(ups, "http.response.status_code"); ok {
		t.Fatal("an upstream that never answered has a status attribute")
	}

	// Aggregate: request span → upstream (fan-out) span → one span per
	// backend call, whose id is the parent id that backend received.
	cs := spansOfTrace(spans, comboTrace)
	if len(cs) != 4 {
		t.Fatalf("aggregate trace has %d spans, want 4", len(cs))
	}
	byID := map[string]*tracepb.Span{}
	for _, s := range cs {
		byID[hex.EncodeToString(s.SpanId)] = s
	}
	cat := byID[comboParent]
	if cat == nil {
		t.Fatalf("no span with the id %s the catalog backend received", comboParent)
	}
	if s, _, _ := spanAttr(cat, "sluice.service"); s != "catalog" {
		t.Fatalf("backend span service %q", s)
	}
	if _, n, _ := spanAttr(cat, "http.response.status_code"); n != 200 {
		t.Fatalf("backend span status %d", n)
	}
	fan := byID[hex.EncodeToString(cat.ParentSpanId)]
	if fan == nil || fan.Kind != tracepb.Span_SPAN_KIND_CLIENT {
		t.Fatalf("backend span's parent %x is not the fan-out span", cat.ParentSpanId)
	}
	root := byID[hex.EncodeToString(fan.ParentSpanId)]
	if root == nil || root.Kind != tracepb.Span_SPAN_KIND_SERVER || len(root.ParentSpanId) != 0 {
		t.Fatalf("fan-out span's parent %x is not the request span", fan.ParentSpanId)
	}
	var failed *tracepb.Span
	for _, s := range cs {
		if svc, _, _ := spanAttr(s, "sluice.service"); svc == "down" {
			failed = s
		}
	}
	if failed == nil || !bytes.Equal(failed.ParentSpanId, fan.SpanId) || failed.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Fatalf("failed optional backend span %v", failed)
	}
	if s, _, _ := spanAttr(failed, "error.type"); s != "connect" {
		t.Fatalf("failed backend error.type %q, want connect", s)
	}
}

// TestTracingFlushOnClose: spans still queued are exported when the engine
// closes, before Close returns.
func TestTracingFlushOnClose(t *testing.T) {
	rc := startOTLPReceiver(t)
	up := startUpstream(t, "catalog")
	c, err := config.Parse([]byte(tracingConfig(rc.url, "1", up.addr, closedAddr(t))))
	if err != nil {
		t.Fatal(err)
	}
	e, errs := engine.Compile(c)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	srv, err := engine.NewServer(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	for i := 0; i < 3; i++ {
		if r := get(t, "http://"+srv.Addr().String()+"/api/products/abc"); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
	}
	srv.Shutdown()
	e.Close()
	if spans, _ := rc.snapshot(); len(spans) != 6 {
		t.Fatalf("after Close the receiver has %d spans, want 6", len(spans))
	}
}

// TestTracingUnreachableCollector: a collector that never answers neither
// blocks nor fails requests.
func TestTracingUnreachableCollector(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Accepts connections and never answers.
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	up := startUpstream(t, "catalog")
	g := startGateway(t, tracingConfig("http://"+ln.Addr().String()+"/v1/traces", "1", up.addr, closedAddr(t)))
	for i := 0; i < 200; i++ {
		if r := get(t, g.url+"/api/products/abc"); r.status != 200 {
			t.Fatalf("request %d: status %d", i, r.status)
		}
	}
}

func TestTracingConfigErrors(t *testing.T) {
	up := "127.0.0.1:9"
	cases := []struct{ tracing, want string }{
		{`{"sample_ratio": 0.5}`, "tracing.otlp_endpoint: required"},
		{`{"otlp_endpoint": "127.0.0.1:4318"}`, "tracing.otlp_endpoint: want an http:// or https:// URL"},
		{`{"otlp_endpoint": "grpc://127.0.0.1:4317"}`, "tracing.otlp_endpoint: want an http:// or https:// URL"},
		{`{"otlp_endpoint": "http:///v1/traces"}`, "tracing.otlp_endpoint: want an http:// or https:// URL"},
		{`{"otlp_endpoint": "http://127.0.0.1:4318", "sample_ratio": 1.5}`, "tracing.sample_ratio: must be between 0 and 1, got 1.5"},
		{`{"otlp_endpoint": "http://127.0.0.1:4318", "sample_ratio": -0.1}`, "tracing.sample_ratio: must be between 0 and 1, got -0.1"},
		{`{"otlp_endpoint": "http://127.0.0.1:4318", "sample_ratio": "1"}`, "tracing.sample_ratio: expected a number"},
		{`{"otlp_endpoint": "http://127.0.0.1:4318", "sampler": "x"}`, "tracing.sampler: unknown key"},
	}
	for _, c := range cases {
		cfg := cfgf(`{"tracing": %s, "services": {"s": {"targets": [%q]}}, "routes": [{"name": "r", "path": "/r", "service": "s"}]}`, c.tracing, up)
		msgs := compileErrors(t, cfg)
		found := false
		for _, m := range msgs {
			found = found || strings.HasPrefix(m, c.want)
		}
		if !found {
			t.Errorf("tracing %s: errors %q, want one starting %q", c.tracing, msgs, c.want)
		}
	}
	ok := cfgf(`{"tracing": {"otlp_endpoint": "https://collector.example"}, "services": {"s": {"targets": [%q]}}, "routes": [{"name": "r", "path": "/r", "service": "s"}]}`, up)
	if msgs := compileErrors(t, ok); msgs != nil {
		t.Fatalf("valid tracing config refused: %q", msgs)
	}
}

// BenchmarkProxyTracing is BenchmarkProxy with tracing off, configured but the
// request unsampled (ratio 0, no traceparent), and sampled (ratio 1, spans
// exported to a loopback OTLP receiver).
func BenchmarkProxyTracing(b *testing.B) {
	up := fastUpstream(b)
	rc := startOTLPReceiver(b)
	route := `"routes": [{"name": "product", "path": "/api/products/{sku}", "methods": ["GET"], "service": "catalog", "strip_prefix": "/api"}]`
	for _, c := range []struct{ name, tracing string }{
		{"off", ""},
		{"unsampled", cfgf(`"tracing": {"otlp_endpoint": %q, "sample_ratio": 0},`, rc.url)},
		{"sampled", cfgf(`"tracing": {"otlp_endpoint": %q, "sample_ratio": 1},`, rc.url)},
	} {
		b.Run(c.name, func(b *testing.B) {
			cl := benchGateway(b, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"}, %s
  "services": {"catalog": {"targets": [%q]}},
  %s
}`, c.tracing, up, route))
			runProxyBench(b, cl, "http://gateway/api/products/abc?x=1", nil)
		})
	}
}
