// Package tracing exports OpenTelemetry spans over OTLP/HTTP: one server span
// per sampled client request and one client span for its upstream call, child
// of the request span.
//
// The engine already keeps or starts the W3C traceparent it sends upstream
// (package forward); this package reuses those ids instead of starting a
// second trace: the request span belongs to the client's trace (or to the new
// trace the engine starts), and the upstream span's id is the parent id sent
// upstream, so the upstream's own spans hang below it.
//
// The sampling decision is taken once per request, before any span exists:
// a valid incoming traceparent decides by its sampled flag, a new trace by
// sample_ratio. An unsampled request touches nothing but a few fields of a
// pooled Request (no allocation); the SDK only sees sampled requests, whose
// spans are built when the request finishes, with their real start times.
//
// Spans leave through a bounded queue: a request never blocks on the exporter;
// when the queue is full the span is dropped and counted in
// sluice_tracing_spans_dropped_total. Behind the queue the SDK's batching
// processor exports in batches; Close flushes what is queued.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/fielderr"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Defaults for keys the config leaves out.
const (
	// DefaultSampleRatio samples every new trace, like the OpenTelemetry
	// SDK's default sampler (parentbased_always_on). Busy gateways lower it.
	DefaultSampleRatio = 1.0
	// DefaultServiceName is the service.name resource attribute.
	DefaultServiceName = "sluice"
	// DefaultPath is the OTLP/HTTP traces path, used when the endpoint has none.
	DefaultPath = "/v1/traces"
	// QueueSize bounds the spans waiting for export; beyond it they are dropped.
	QueueSize = 4096
	// flushTimeout bounds the final export on Close.
	flushTimeout = 5 * time.Second
)

// Attribute keys of the exported spans.
const (
	AttrRoute      = "sluice.route"
	AttrMethod     = "http.request.method"
	AttrStatus     = "http.response.status_code"
	AttrService    = "sluice.service"
	AttrTarget     = "sluice.target"
	AttrErrorType  = "error.type"
	AttrRequestID  = "sluice.request_id"
	upstreamPrefix = "upstream "
)

var (
	// exportErrors counts what otel's error handler reports; that handler is
	// process-wide, and so is this series (in the default set, which
	// /metrics writes after the engine's).
	exportErrors = metrics.NewCounter("sluice_tracing_export_errors_total")
	handlerOnce  sync.Once
)

// droppedName is the series of the spans a Tracer's queue dropped.
const droppedName = "sluice_tracing_spans_dropped_total"

// Tracer exports the spans of sampled requests. A nil *Tracer (no tracing
// configured) is valid and does nothing.
type Tracer struct {
	// threshold: a new trace is sampled when a uniform uint64 is below it;
	// all sampled when always is set (ratio 1 does not fit a uint64).
	threshold uint64
	always    bool

	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	queue    *queue
	closed   sync.Once
}

// Options are the tracing section.
type Options struct {
	// OTLPEndpoint is the collector's OTLP/HTTP URL (required); one without
	// a path gets DefaultPath.
	OTLPEndpoint string
	// SampleRatio is the share of new traces sampled, from 0 to 1; nil
	// means DefaultSampleRatio (0 is a valid ratio: sample none).
	SampleRatio *float64
	// ServiceName is the service.name resource attribute; "" means
	// DefaultServiceName.
	ServiceName string
}

// New validates o (nil: tracing off, a nil Tracer) and builds its Tracer,
// counting dropped spans in set (the engine's; the series exists with
// tracing off too, at 0). Nothing is dialed until the first export. Its
// problems are a fielderr.List with paths relative to o ("otlp_endpoint").
func New(o *Options, set *metrics.Set) (*Tracer, error) {
	dropped := set.GetOrCreateCounter(droppedName)
	if o == nil {
		return nil, nil
	}
	var errs fielderr.List
	endpoint, err := endpointURL(o.OTLPEndpoint)
	if err != nil {
		errs.Add("otlp_endpoint", "%v", err)
	}
	ratio := DefaultSampleRatio
	if o.SampleRatio != nil {
		ratio = *o.SampleRatio
		if math.IsNaN(ratio) || ratio < 0 || ratio > 1 {
			errs.Add("sample_ratio", "must be between 0 and 1, got %v", ratio)
		}
	}
	name := o.ServiceName
	if name == "" {
		name = DefaultServiceName
	}
	if len(errs) > 0 {
		return nil, errs
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		errs.Add("otlp_endpoint", "%v", err)
		return nil, errs
	}
	t := newTracer(exp, name, ratio, dropped)
	return t, nil
}

// endpointURL checks an otlp_endpoint and adds the default path when it has none.
func endpointURL(s string) (string, error) {
	if s == "" {
		return "", errors.New(`required: an OTLP/HTTP URL such as "http://127.0.0.1:4318/v1/traces"`)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf(`want an http:// or https:// URL such as "http://127.0.0.1:4318/v1/traces", got %q`, s)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = DefaultPath
	}
	return u.String(), nil
}

func newTracer(exp sdktrace.SpanExporter, serviceName string, ratio float64, dropped *metrics.Counter) *Tracer {
	handlerOnce.Do(func() {
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			exportErrors.Inc()
			slog.Warn("tracing export", "err", err)
		}))
	})
	bsp := sdktrace.NewBatchSpanProcessor(exp,
		// Blocking only stalls the queue's own goroutine, never a request:
		// requests drop (and count) at the queue in front.
		sdktrace.WithBlocking(),
		sdktrace.WithMaxQueueSize(QueueSize),
		sdktrace.WithMaxExportBatchSize(512),
		sdktrace.WithBatchTimeout(time.Second),
		sdktrace.WithExportTimeout(10*time.Second),
	)
	q := newQueue(bsp, QueueSize, dropped)
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.AlwaysSample()), // decided before Start
		sdktrace.WithIDGenerator(idGenerator{}),
		sdktrace.WithSpanProcessor(q),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", serviceName))),
	)
	t := &Tracer{provider: provider, tracer: provider.Tracer("github.com/sluice-gw/sluice"), queue: q}
	if ratio >= 1 {
		t.always = true
	} else {
		t.threshold = uint64(ratio * (1 << 64))
	}
	return t
}

// Close flushes the queued spans (bounded by a few seconds) and stops the
// exporter. It is safe on a nil Tracer and to call twice.
func (t *Tracer) Close() {
	if t == nil {
		return
	}
	t.closed.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		defer cancel()
		if err := t.provider.Shutdown(ctx); err != nil {
			slog.Warn("tracing shutdown", "err", err)
		}
	})
}

// Request is the tracing state of one client request. It lives in the
// engine's pooled per-request state; its zero value means "not sampled".
type Request struct {
	sampled bool
	// unsampledNew: tracing is on, the engine starts a new trace and it was
	// not sampled, so the traceparent sent upstream must say so.
	unsampledNew bool
	upStarted    bool
	upEnded      bool

	traceID trace.TraceID
	parent  trace.SpanID // the client's span; zero for a new trace
	span    trace.SpanID // the request span

	up       trace.SpanID
	upStart  time.Time
	upEnd    time.Time
	upStatus int
	upErr    error
	service  string
	target   string

	// children are calls the upstream stage made on its own (aggregate
	// backends): spans below the upstream span. Kept across requests.
	children []child
}

// ChildID is the span id of one call an upstream stage makes itself.
type ChildID [8]byte

type child struct {
	id              ChildID
	service, target string
	status          int
	errType         string
	start, end      time.Time
}

// Sampled reports whether the request is exported and its upstream stage
// has started, so that a stage's own calls should be recorded (StartChild,
// AddChild). It is safe on a nil Request.
func (r *Request) Sampled() bool { return r != nil && r.sampled && r.upStarted }

// StartChild gives a call of the upstream stage its own span id and sets the
// traceparent of its request h accordingly. Only for a Sampled request.
func (r *Request) StartChild(h *fasthttp.RequestHeader) ChildID {
	id := newSpanID()
	var buf [55]byte
	h.SetBytesV("traceparent", appendTraceparent(buf[:0], r.traceID, id, 1))
	return ChildID(id)
}

// AddChild records a finished call of the upstream stage: its upstream status
// (0: none) or the reason it failed (errType, empty when it did not).
func (r *Request) AddChild(id ChildID, service, target string, status int, errType string, start, end time.Time) {
	if !r.Sampled() {
		return
	}
	r.children = append(r.children, child{id: id, service: service, target: target, status: status, errType: errType, start: start, end: end})
}

// Begin takes the sampling decision for a new request from its incoming
// traceparent header. For a sampled new trace it writes a traceparent with
// the new trace id on the client request, so that the engine's forwarding
// keeps that id upstream instead of starting another trace.
func (t *Tracer) Begin(r *Request, h *fasthttp.RequestHeader) {
	if t == nil {
		return
	}
	if tid, parent, flags, ok := parseTraceparent(h.Peek("traceparent")); ok {
		if flags&1 == 0 {
			return
		}
		r.sampled, r.traceID, r.parent = true, tid, parent
		r.span = newSpanID()
		return
	}
	if !t.always && rand.Uint64() >= t.threshold {
		r.unsampledNew = true
		return
	}
	r.sampled = true
	putUint64(r.traceID[:8], nonZero())
	putUint64(r.traceID[8:], rand.Uint64())
	r.span = newSpanID()
	var buf [55]byte
	h.SetBytesV("traceparent", appendTraceparent(buf[:0], r.traceID, r.span, 1))
}

// StartUpstream records that the request goes upstream with the traceparent
// the engine just set on the upstream request h. The parent id in it becomes
// the upstream span's id. For an unsampled new trace it clears the sampled
// flag that forwarding set, so upstreams do not record children of spans
// that are never exported.
func (r *Request) StartUpstream(h *fasthttp.RequestHeader, service string) {
	if !r.sampled && !r.unsampledNew {
		return
	}
	var buf [55]byte
	tp := h.Peek("traceparent")
	if len(tp) != len(buf) {
		return
	}
	if r.unsampledNew {
		if tp[54] == '1' {
			copy(buf[:], tp)
			buf[54] = '0'
			h.SetBytesV("traceparent", buf[:])
		}
		return
	}
	if _, span, _, ok := parseTraceparent(tp); ok {
		r.up, r.upStarted, r.upStart, r.service = span, true, time.Now(), service
	}
}

// EndUpstream records the outcome of the upstream call: the upstream's status
// (0 when it did not answer) or the failure class.
func (r *Request) EndUpstream(target string, status int, err error) {
	if !r.upStarted {
		return
	}
	if err != nil {
		status = 0
	}
	r.upEnded, r.upEnd, r.upStatus, r.upErr, r.target = true, time.Now(), status, err, target
}

// Finish exports the request's spans when it was sampled and resets r for
// the next request. route is the matched route's name, status the status
// sent to the client, target the upstream address that answered (for stages
// that do not report their call with EndUpstream: grpc_method, WebSocket).
func (t *Tracer) Finish(r *Request, route string, method, requestID []byte, target string, start time.Time, status int) {
	if !r.sampled {
		// Unsampled requests never add children: only the flags to clear.
		r.unsampledNew = false
		return
	}
	if r.target == "" {
		r.target = target
	}
	if t != nil {
		t.export(r, route, method, requestID, start, status)
	}
	children := r.children
	clear(children)
	*r = Request{children: children[:0]}
}

// spanIDs carries the ids the engine already chose to the SDK's id generator.
type spanIDs struct {
	trace trace.TraceID
	span  trace.SpanID
}

type idsKey struct{}

// idGenerator hands out the ids found in the context (those the engine sends
// upstream), falling back to random ones.
type idGenerator struct{}

func (idGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if v, ok := ctx.Value(idsKey{}).(*spanIDs); ok {
		return v.trace, v.span
	}
	var tid trace.TraceID
	putUint64(tid[:8], nonZero())
	putUint64(tid[8:], rand.Uint64())
	return tid, newSpanID()
}

func (idGenerator) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	if v, ok := ctx.Value(idsKey{}).(*spanIDs); ok {
		return v.span
	}
	return newSpanID()
}

func (t *Tracer) export(r *Request, route string, method, requestID []byte, start time.Time, status int) {
	now := time.Now()
	m := string(method)
	ctx := context.Background()
	if r.parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: r.traceID, SpanID: r.parent, TraceFlags: trace.FlagsSampled, Remote: true,
		}))
	}
	ctx = context.WithValue(ctx, idsKey{}, &spanIDs{trace: r.traceID, span: r.span})
	_, req := t.tracer.Start(ctx, m+" "+route,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithTimestamp(start),
		trace.WithAttributes(
			attribute.String(AttrRoute, route),
			attribute.String(AttrMethod, m),
			attribute.Int(AttrStatus, status),
			attribute.String(AttrRequestID, string(requestID)),
		))
	if status >= 500 {
		req.SetStatus(codes.Error, "")
	}

	if r.upStarted {
		end := r.upEnd
		if !r.upEnded {
			end = now
		}
		uctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: r.traceID, SpanID: r.span, TraceFlags: trace.FlagsSampled,
		}))
		uctx = context.WithValue(uctx, idsKey{}, &spanIDs{trace: r.traceID, span: r.up})
		attrs := make([]attribute.KeyValue, 0, 4)
		if r.service != "" {
			attrs = append(attrs, attribute.String(AttrService, r.service))
		}
		if r.target != "" {
			attrs = append(attrs, attribute.String(AttrTarget, r.target))
		}
		if r.upStatus > 0 {
			attrs = append(attrs, attribute.Int(AttrStatus, r.upStatus))
		}
		if r.upErr != nil {
			attrs = append(attrs, attribute.String(AttrErrorType, r.upErr.Error()))
		}
		name := "upstream"
		if r.service != "" {
			name = upstreamPrefix + r.service
		}
		_, up := t.tracer.Start(uctx, name,
			trace.WithSpanKind(trace.SpanKindClient),
			trace.WithTimestamp(r.upStart),
			trace.WithAttributes(attrs...))
		if r.upErr != nil || r.upStatus >= 500 {
			up.SetStatus(codes.Error, "")
		}
		for i := range r.children {
			t.exportChild(r, &r.children[i])
		}
		up.End(trace.WithTimestamp(end))
	}
	req.End(trace.WithTimestamp(now))
}

// exportChild exports one call of the upstream stage, below the upstream span.
func (t *Tracer) exportChild(r *Request, c *child) {
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: r.traceID, SpanID: r.up, TraceFlags: trace.FlagsSampled,
	}))
	ctx = context.WithValue(ctx, idsKey{}, &spanIDs{trace: r.traceID, span: trace.SpanID(c.id)})
	attrs := []attribute.KeyValue{attribute.String(AttrService, c.service)}
	if c.target != "" {
		attrs = append(attrs, attribute.String(AttrTarget, c.target))
	}
	if c.status > 0 {
		attrs = append(attrs, attribute.Int(AttrStatus, c.status))
	}
	if c.errType != "" {
		attrs = append(attrs, attribute.String(AttrErrorType, c.errType))
	}
	_, sp := t.tracer.Start(ctx, upstreamPrefix+c.service,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(c.start),
		trace.WithAttributes(attrs...))
	if c.errType != "" {
		sp.SetStatus(codes.Error, "")
	}
	sp.End(trace.WithTimestamp(c.end))
}

// queue is the bounded, never-blocking front of the batch span processor.
type queue struct {
	next    sdktrace.SpanProcessor
	dropped *metrics.Counter
	ch      chan sdktrace.ReadOnlySpan
	stopped atomic.Bool
	done    chan struct{}
	quit    chan struct{}
	once    sync.Once
}

func newQueue(next sdktrace.SpanProcessor, size int, dropped *metrics.Counter) *queue {
	q := &queue{next: next, dropped: dropped, ch: make(chan sdktrace.ReadOnlySpan, size), done: make(chan struct{}), quit: make(chan struct{})}
	go q.run()
	return q
}

func (q *queue) run() {
	defer close(q.done)
	for {
		select {
		case s := <-q.ch:
			q.next.OnEnd(s)
		case <-q.quit:
			for {
				select {
				case s := <-q.ch:
					q.next.OnEnd(s)
				default:
					return
				}
			}
		}
	}
}

// OnStart implements sdktrace.SpanProcessor.
func (q *queue) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd queues s, or drops and counts it when the queue is full.
func (q *queue) OnEnd(s sdktrace.ReadOnlySpan) {
	if q.stopped.Load() {
		q.dropped.Inc()
		return
	}
	select {
	case q.ch <- s:
	default:
		q.dropped.Inc()
	}
}

// Shutdown hands the queued spans to the batch processor and shuts it down,
// which exports them.
func (q *queue) Shutdown(ctx context.Context) error {
	var err error
	q.once.Do(func() {
		q.stopped.Store(true)
		close(q.quit)
		select {
		case <-q.done:
		case <-ctx.Done():
		}
		err = q.next.Shutdown(ctx)
	})
	return err
}

// ForceFlush exports what is queued so far.
func (q *queue) ForceFlush(ctx context.Context) error {
	for len(q.ch) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return q.next.ForceFlush(ctx)
}

func newSpanID() trace.SpanID {
	var s trace.SpanID
	putUint64(s[:], nonZero())
	return s
}

func nonZero() uint64 {
	for {
		if v := rand.Uint64(); v != 0 {
			return v
		}
	}
}

func putUint64(b []byte, v uint64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

const hexDigits = "0123456789abcdef"

func appendTraceparent(dst []byte, tid trace.TraceID, span trace.SpanID, flags byte) []byte {
	dst = append(dst, "00-"...)
	for _, c := range tid {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
	}
	dst = append(dst, '-')
	for _, c := range span {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return append(dst, '-', hexDigits[flags>>4], hexDigits[flags&0xf])
}

// parseTraceparent parses a W3C traceparent with the same rules as the
// engine's forwarding (version other than ff, exact length 55, lower-case
// hex, non-zero ids).
func parseTraceparent(b []byte) (tid trace.TraceID, span trace.SpanID, flags byte, ok bool) {
	if len(b) != 55 || b[2] != '-' || b[35] != '-' || b[52] != '-' || (b[0] == 'f' && b[1] == 'f') {
		return tid, span, 0, false
	}
	if _, ok := hexByte(b[0], b[1]); !ok {
		return tid, span, 0, false
	}
	for i := range tid {
		v, ok := hexByte(b[3+2*i], b[4+2*i])
		if !ok {
			return tid, span, 0, false
		}
		tid[i] = v
	}
	for i := range span {
		v, ok := hexByte(b[36+2*i], b[37+2*i])
		if !ok {
			return tid, span, 0, false
		}
		span[i] = v
	}
	flags, ok = hexByte(b[53], b[54])
	if !ok || !tid.IsValid() || !span.IsValid() {
		return tid, span, 0, false
	}
	return tid, span, flags, true
}

func hexByte(a, b byte) (byte, bool) {
	x, ok1 := unhex(a)
	y, ok2 := unhex(b)
	return x<<4 | y, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
