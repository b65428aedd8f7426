package engine_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/grpcgw/grpctest"
	"github.com/sluice-gw/sluice/engine/tlsconf/tlstest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

var (
	catalogFile = grpctest.CatalogFile()
	getReqDesc  = catalogFile.Messages().ByName("GetProductRequest")
	productDesc = catalogFile.Messages().ByName("Product")
)

func productRequest(sku string, pageSize, delayMS int64) *dynamicpb.Message {
	m := dynamicpb.NewMessage(getReqDesc)
	m.Set(getReqDesc.Fields().ByName("sku"), protoreflect.ValueOfString(sku))
	if pageSize > 0 {
		m.Set(getReqDesc.Fields().ByName("page_size"), protoreflect.ValueOfInt32(int32(pageSize)))
	}
	if delayMS > 0 {
		m.Set(getReqDesc.Fields().ByName("delay_ms"), protoreflect.ValueOfInt64(delayMS))
	}
	return m
}

func productField(m *dynamicpb.Message, name string) protoreflect.Value {
	return m.Get(productDesc.Fields().ByName(protoreflect.Name(name)))
}

// passGateway starts a TLS gateway whose route /catalog.v1.Catalog/* passes
// gRPC through to the given targets, behind an API key and a rate limit of
// `limit` calls a minute per X-Client, and a grpc-go client dialing it.
func passGateway(t *testing.T, targets string, limit int) (*tlsGateway, *grpc.ClientConn) {
	t.Helper()
	g := startTLSGateway(t, ``, cfgf(`
  "services": {"catalog": {"protocol": "grpc", "targets": [%s], "timeout": "5s", "retries": 1}},
  "auth": {"keys": {"type": "api_key", "keys": {"acme": "sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"}}},
  "rate_limits": {"per-client": {"key": "header:X-Client", "requests": %d, "per": "1m"}},
  "routes": [
    {"name": "grpc-pass", "path": "/catalog.v1.Catalog/*", "service": "catalog", "auth": "keys", "rate_limits": ["per-client"],
     "response_headers": {"set": {"X-Gateway": "sluice"}}}
  ]`, targets, limit))
	conn, err := grpc.NewClient(strings.TrimPrefix(g.url, "https://"),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: g.ca.Pool})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return g, conn
}

func keyed(ctx context.Context, client string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "x-api-key", "secret", "x-client", client)
}

// TestGRPCPassThrough calls a real grpc-go server through the gateway with a
// real grpc-go client over TLS: unary, server streaming with trailers, error
// statuses, deadlines, auth and rate limits.
func TestGRPCPassThrough(t *testing.T) {
	srv := grpctest.Start(t)
	g, conn := passGateway(t, `"`+srv.Addr+`"`, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("unary", func(t *testing.T) {
		out := dynamicpb.NewMessage(productDesc)
		var header, trailer metadata.MD
		err := conn.Invoke(keyed(ctx, "unary"), "/"+grpctest.GetProduct, productRequest("sku-1", 0, 0), out,
			grpc.Header(&header), grpc.Trailer(&trailer))
		if err != nil {
			t.Fatal(err)
		}
		if productField(out, "name").String() != "Product sku-1" {
			t.Fatalf("answer %v", out)
		}
		md := productField(out, "metadata").Map()
		get := func(k string) string { return md.Get(protoreflect.ValueOfString(k).MapKey()).String() }
		if get("x-forwarded-for") != "127.0.0.1" || get("x-forwarded-proto") != "https" || get("x-request-id") == "" || get("x-client") != "unary" {
			t.Fatalf("upstream metadata %v", md)
		}
		if header.Get("x-gateway")[0] != "sluice" || len(header.Get("x-request-id")) == 0 || len(header.Get("ratelimit-limit")) == 0 {
			t.Fatalf("response headers %v", header)
		}
	})

	t.Run("server streaming", func(t *testing.T) {
		desc := &grpc.StreamDesc{ServerStreams: true}
		cs, err := conn.NewStream(keyed(ctx, "stream"), desc, "/"+grpctest.WatchProducts)
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.SendMsg(productRequest("w", 5, 20)); err != nil {
			t.Fatal(err)
		}
		if err := cs.CloseSend(); err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			out := dynamicpb.NewMessage(productDesc)
			err := cs.RecvMsg(out)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, productField(out, "sku").String())
		}
		if strings.Join(got, ",") != "w-0,w-1,w-2,w-3,w-4" {
			t.Fatalf("streamed %v", got)
		}
		if tr := cs.Trailer(); len(tr.Get("x-sent")) != 1 || tr.Get("x-sent")[0] != "5" {
			t.Fatalf("trailer %v", tr)
		}
	})

	t.Run("bidirectional streaming", func(t *testing.T) {
		// Each answer must arrive before the next request is sent: nothing
		// on the way buffers a direction.
		cs, err := conn.NewStream(keyed(ctx, "bidi"), &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/"+grpctest.EchoProducts)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			sku := "b" + strings.Repeat("i", i)
			if err := cs.SendMsg(productRequest(sku, 0, 0)); err != nil {
				t.Fatal(err)
			}
			out := dynamicpb.NewMessage(productDesc)
			if err := cs.RecvMsg(out); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			if productField(out, "name").String() != "Echo "+sku {
				t.Fatalf("message %d: %v", i, out)
			}
		}
		if err := cs.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if err := cs.RecvMsg(dynamicpb.NewMessage(productDesc)); !errors.Is(err, io.EOF) {
			t.Fatalf("end: %v", err)
		}
	})

	t.Run("streaming error after first message", func(t *testing.T) {
		cs, err := conn.NewStream(keyed(ctx, "stream-err"), &grpc.StreamDesc{ServerStreams: true}, "/"+grpctest.WatchProducts)
		if err != nil {
			t.Fatal(err)
		}
		_ = cs.SendMsg(productRequest("down", 3, 0))
		_ = cs.CloseSend()
		n := 0
		for {
			err = cs.RecvMsg(dynamicpb.NewMessage(productDesc))
			if err != nil {
				break
			}
			n++
		}
		if n != 1 || status.Code(err) != codes.Unavailable || !strings.Contains(status.Convert(err).Message(), `"down"`) {
			t.Fatalf("after %d messages: %v", n, err)
		}
	})

	t.Run("error status", func(t *testing.T) {
		err := conn.Invoke(keyed(ctx, "errors"), "/"+grpctest.GetProduct, productRequest("missing", 0, 0), dynamicpb.NewMessage(productDesc))
		if status.Code(err) != codes.NotFound || !strings.Contains(status.Convert(err).Message(), `product "missing"`) {
			t.Fatalf("got %v", err)
		}
		err = conn.Invoke(keyed(ctx, "errors"), "/catalog.v1.Catalog/Nope", productRequest("x", 0, 0), dynamicpb.NewMessage(productDesc))
		if status.Code(err) != codes.Unimplemented {
			t.Fatalf("unknown method: %v", err)
		}
	})

	t.Run("deadline", func(t *testing.T) {
		dctx, dcancel := context.WithTimeout(keyed(ctx, "deadline"), 300*time.Millisecond)
		defer dcancel()
		err := conn.Invoke(dctx, "/"+grpctest.GetProduct, productRequest("slow", 0, 5000), dynamicpb.NewMessage(productDesc))
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("got %v", err)
		}
		// The upstream saw the client's deadline, not the service's 5s.
		if left := time.Duration(srv.LastTimeout.Load()); left <= 0 || left > 300*time.Millisecond {
			t.Fatalf("upstream deadline %v, want at most 300ms", left)
		}
		// Without a client deadline, the service timeout is sent on.
		if err := conn.Invoke(keyed(ctx, "deadline"), "/"+grpctest.GetProduct, productRequest("x", 0, 0), dynamicpb.NewMessage(productDesc)); err != nil {
			t.Fatal(err)
		}
		if left := time.Duration(srv.LastTimeout.Load()); left <= time.Second || left > 5*time.Second {
			t.Fatalf("upstream deadline %v, want the service's 5s", left)
		}
	})

	t.Run("auth", func(t *testing.T) {
		before := srv.Calls.Load()
		err := conn.Invoke(metadata.AppendToOutgoingContext(ctx, "x-client", "anon"), "/"+grpctest.GetProduct, productRequest("x", 0, 0), dynamicpb.NewMessage(productDesc))
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("without key: %v", err)
		}
		if srv.Calls.Load() != before {
			t.Fatal("a refused call reached the upstream")
		}
	})

	t.Run("HTTP/1.1 client", func(t *testing.T) {
		req, _ := http.NewRequest("POST", g.url+"/"+grpctest.GetProduct, strings.NewReader("\x00\x00\x00\x00\x00"))
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("X-API-Key", "secret")
		resp, err := g.h1.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r := response{status: resp.StatusCode, header: resp.Header, body: body}
		r.wantError(t, 426, "upgrade_required")
		// Plain HTTP/2 (not gRPC) is refused too.
		r = protoClient{"h2", 2, g.h2}.do(t, "POST", g.url+"/"+grpctest.GetProduct, map[string]string{"X-API-Key": "secret"}, strings.NewReader("{}"))
		r.wantError(t, 415, "unsupported_media_type")
	})

	t.Run("metrics", func(t *testing.T) {
		var sb strings.Builder
		g.engine.WriteMetrics(&sb)
		text := sb.String()
		for _, want := range []string{
			`sluice_upstream_requests_total{service="catalog",target="` + srv.Addr + `",status="200"}`,
			`sluice_upstream_requests_total{service="catalog",target="` + srv.Addr + `",status="404"}`,
			`sluice_requests_total{route="grpc-pass",status="200"}`,
			`sluice_requests_total{route="grpc-pass",status="401"}`,
		} {
			if !strings.Contains(text, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

// TestGRPCPassThroughRateLimit: over the limit, a gRPC client gets
// RESOURCE_EXHAUSTED and the call never reaches the upstream.
func TestGRPCPassThroughRateLimit(t *testing.T) {
	srv := grpctest.Start(t)
	_, conn := passGateway(t, `"`+srv.Addr+`"`, 2)
	ctx := keyed(context.Background(), "limited")
	for i := 0; i < 2; i++ {
		if err := conn.Invoke(ctx, "/"+grpctest.GetProduct, productRequest("x", 0, 0), dynamicpb.NewMessage(productDesc)); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	var header, trailer metadata.MD
	err := conn.Invoke(ctx, "/"+grpctest.GetProduct, productRequest("x", 0, 0), dynamicpb.NewMessage(productDesc), grpc.Header(&header), grpc.Trailer(&trailer))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third call: %v", err)
	}
	header = metadata.Join(header, trailer) // a trailers-only answer's headers are its trailers
	if len(header.Get("retry-after")) == 0 || header.Get("ratelimit-remaining")[0] != "0" {
		t.Fatalf("headers %v", header)
	}
	if srv.Calls.Load() != 2 {
		t.Fatalf("upstream calls %d, want 2", srv.Calls.Load())
	}
}

// TestGRPCPassThroughFailover: a target that refuses connections is skipped
// (the call is retried on another), and with no target left the client gets
// UNAVAILABLE.
func TestGRPCPassThroughFailover(t *testing.T) {
	srv := grpctest.Start(t)
	down := closedAddr(t)
	_, conn := passGateway(t, `"`+down+`", "`+srv.Addr+`"`, 100)
	ctx := keyed(context.Background(), "failover")
	for i := 0; i < 4; i++ {
		if err := conn.Invoke(ctx, "/"+grpctest.GetProduct, productRequest("x", 0, 0), dynamicpb.NewMessage(productDesc)); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	_, conn2 := passGateway(t, `"`+down+`"`, 100)
	err := conn2.Invoke(ctx, "/"+grpctest.GetProduct, productRequest("x", 0, 0), dynamicpb.NewMessage(productDesc))
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("all targets down: %v", err)
	}
}

// TestGRPCPassThroughCircuitBreaker: connect failures open the target's
// circuit; then calls are answered at once with UNAVAILABLE, without dialing.
func TestGRPCPassThroughCircuitBreaker(t *testing.T) {
	down := closedAddr(t)
	g := startTLSGateway(t, ``, cfgf(`
  "services": {"catalog": {"protocol": "grpc", "targets": [%q], "retries": 0,
    "circuit_breaker": {"window": "10s", "min_requests": 2, "failure_ratio": 0.5, "open_for": "1m",
                        "fallback": {"status": 503, "body": {"message": "catalog resting"}}}}},
  "routes": [{"name": "grpc-breaker", "path": "/catalog.v1.Catalog/*", "service": "catalog"}]`, down))
	conn, err := grpc.NewClient(strings.TrimPrefix(g.url, "https://"),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: g.ca.Pool})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	call := func() error {
		return conn.Invoke(context.Background(), "/"+grpctest.GetProduct, productRequest("x", 0, 0), dynamicpb.NewMessage(productDesc))
	}
	for i := 0; i < 2; i++ {
		if err := call(); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	err = call()
	if status.Code(err) != codes.Unavailable || !strings.Contains(status.Convert(err).Message(), "catalog resting") {
		t.Fatalf("open circuit: %v", err)
	}
	var sb strings.Builder
	g.engine.WriteMetrics(&sb)
	if want := `sluice_circuit_state{service="catalog",target="` + down + `"} 1`; !strings.Contains(sb.String(), want) {
		t.Fatalf("metrics lack %s", want)
	}
}

// TestGRPCPassThroughTLSUpstream: a grpc service with a tls block is reached
// over TLS (ALPN h2), its certificate verified against ca_file.
func TestGRPCPassThroughTLSUpstream(t *testing.T) {
	upCA := tlstest.NewCA(t, "upstream-ca")
	pair := upCA.Server(t, []string{"127.0.0.1"}, tlstest.Options{})
	srv := grpctest.StartTLS(t, &tls.Config{Certificates: []tls.Certificate{pair.TLS}})
	otherCA := tlstest.NewCA(t, "other-ca")
	for _, c := range []struct {
		ca   string
		want codes.Code
	}{{upCA.CertFile, codes.OK}, {otherCA.CertFile, codes.Unavailable}} {
		g := startTLSGateway(t, ``, cfgf(`
  "services": {"catalog": {"protocol": "grpc", "targets": [%q], "tls": {"ca_file": %q}}},
  "routes": [{"name": "grpc-tls", "path": "/catalog.v1.Catalog/*", "service": "catalog"}]`, srv.Addr, c.ca))
		conn, err := grpc.NewClient(strings.TrimPrefix(g.url, "https://"),
			grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: g.ca.Pool})))
		if err != nil {
			t.Fatal(err)
		}
		out := dynamicpb.NewMessage(productDesc)
		err = conn.Invoke(context.Background(), "/"+grpctest.GetProduct, productRequest("tls", 0, 0), out)
		conn.Close()
		if status.Code(err) != c.want {
			t.Fatalf("ca %s: %v, want %v", c.ca, err, c.want)
		}
		if c.want == codes.OK && productField(out, "name").String() != "Product tls" {
			t.Fatalf("answer %v", out)
		}
	}
}

// TestGRPCPassThroughUpstreamDiesMidStream: when the upstream goes away in
// the middle of a server stream, the client's call fails (it never looks
// like a complete stream) instead of hanging.
func TestGRPCPassThroughUpstreamDiesMidStream(t *testing.T) {
	srv := grpctest.Start(t)
	_, conn := passGateway(t, `"`+srv.Addr+`"`, 100)
	ctx, cancel := context.WithTimeout(keyed(context.Background(), "dies"), 20*time.Second)
	defer cancel()
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/"+grpctest.WatchProducts)
	if err != nil {
		t.Fatal(err)
	}
	_ = cs.SendMsg(productRequest("d", 50, 100))
	_ = cs.CloseSend()
	if err := cs.RecvMsg(dynamicpb.NewMessage(productDesc)); err != nil {
		t.Fatalf("first message: %v", err)
	}
	srv.Stop()
	for {
		err = cs.RecvMsg(dynamicpb.NewMessage(productDesc))
		if err != nil {
			break
		}
	}
	t.Logf("stream ended with %v", err)
	if errors.Is(err, io.EOF) || status.Code(err) == codes.OK || status.Code(err) == codes.DeadlineExceeded {
		t.Fatalf("stream ended with %v", err)
	}
}

// TestGRPCPassThroughSplit: a split on a pass-through route sends the calls
// to the split's grpc service.
func TestGRPCPassThroughSplit(t *testing.T) {
	v1, v2 := grpctest.Start(t), grpctest.Start(t)
	g := startTLSGateway(t, ``, cfgf(`
  "services": {"v1": {"protocol": "grpc", "targets": [%q]}, "v2": {"protocol": "grpc", "targets": [%q]}},
  "routes": [{"name": "grpc-split", "path": "/catalog.v1.Catalog/*", "service": "v1",
              "split": {"by": "random", "services": [{"service": "v2", "percent": 100}]}}]`, v1.Addr, v2.Addr))
	conn, err := grpc.NewClient(strings.TrimPrefix(g.url, "https://"),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: g.ca.Pool})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := 0; i < 5; i++ {
		if err := conn.Invoke(context.Background(), "/"+grpctest.GetProduct, productRequest("s", 0, 0), dynamicpb.NewMessage(productDesc)); err != nil {
			t.Fatal(err)
		}
	}
	if v1.Calls.Load() != 0 || v2.Calls.Load() != 5 {
		t.Fatalf("calls v1 %d v2 %d, want 0 and 5", v1.Calls.Load(), v2.Calls.Load())
	}
}

// TestGRPCPassThroughTraced: a sampled pass-through call exports a request
// span and an upstream span like a proxied request does, and the upstream
// receives the upstream span's id as its parent.
func TestGRPCPassThroughTraced(t *testing.T) {
	rc := startOTLPReceiver(t)
	srv := grpctest.Start(t)
	g := startTLSGateway(t, ``, cfgf(`
  "tracing": {"otlp_endpoint": %q, "sample_ratio": 1},
  "services": {"catalog": {"protocol": "grpc", "targets": [%q]}},
  "routes": [{"name": "grpc-pass", "path": "/catalog.v1.Catalog/*", "service": "catalog"}]`, rc.url, srv.Addr))
	conn, err := grpc.NewClient(strings.TrimPrefix(g.url, "https://"),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: g.ca.Pool})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	out := dynamicpb.NewMessage(productDesc)
	if err := conn.Invoke(ctx, "/"+grpctest.GetProduct, productRequest("sku-1", 0, 0), out); err != nil {
		t.Fatal(err)
	}
	md := productField(out, "metadata").Map()
	tp := md.Get(protoreflect.ValueOfString("traceparent").MapKey()).String()
	trace, parent, flags := splitTraceparent(t, tp)
	if flags != "01" {
		t.Fatalf("upstream traceparent %q, want the sampled flag", tp)
	}

	req, up := findSpans(t, spansOfTrace(rc.waitSpans(t, 2), trace))
	if got := hex.EncodeToString(up.SpanId); got != parent {
		t.Fatalf("upstream span id %s, want the parent id sent upstream %s", got, parent)
	}
	if !bytes.Equal(up.ParentSpanId, req.SpanId) {
		t.Fatalf("upstream span parent %x, want the request span %x", up.ParentSpanId, req.SpanId)
	}
	if s, _, _ := spanAttr(req, "sluice.route"); s != "grpc-pass" {
		t.Errorf("request span route %q, want grpc-pass", s)
	}
	if _, code, _ := spanAttr(req, "http.response.status_code"); code != 200 {
		t.Errorf("request span status %d, want 200", code)
	}
	checkUpstreamSpan(t, req, up, "catalog", srv.Addr)
}
