package grpctest

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Server is a running catalog gRPC server.
//
// GetProduct answers Product{sku, name "Product <sku>", stock 7 when
// include_stock, echo: the request, metadata: the call's metadata (keys
// not starting with ':' or "grpc-", values joined by ",")}. It waits
// delay_ms first (or until the call's deadline). These skus fail instead:
// "missing" NOT_FOUND, "bad" INVALID_ARGUMENT, "anon" UNAUTHENTICATED,
// "denied" PERMISSION_DENIED, "busy" RESOURCE_EXHAUSTED, "down" UNAVAILABLE,
// "boom" INTERNAL.
//
// EchoProducts (a bidirectional stream, not in the descriptor set: for
// pass-through only) answers each GetProductRequest as it arrives with a
// Product{sku, name "Echo <sku>"}.
//
// WatchProducts streams page_size products (sku "<sku>-<i>", name
// "Product <sku>-<i>"), waiting delay_ms before each, then sets the trailer
// x-sent to the count; the failing skus fail it after the first product.
type Server struct {
	// Addr is the listening address (127.0.0.1:port).
	Addr string
	// Calls counts the calls received.
	Calls atomic.Int64
	// LastTimeout is the time left until the last call's deadline when it
	// arrived (0: no deadline).
	LastTimeout atomic.Int64

	srv    *grpc.Server
	health *health.Server
}

// Start runs a catalog server on 127.0.0.1:0 until the test ends.
func Start(tb testing.TB, opts ...grpc.ServerOption) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("grpctest: listen: %v", err)
	}
	s := Serve(ln, opts...)
	tb.Cleanup(s.Stop)
	return s
}

// StartTLS is Start with TLS from tc.
func StartTLS(tb testing.TB, tc *tls.Config) *Server {
	return Start(tb, grpc.Creds(credentials.NewTLS(tc)))
}

// Serve runs a catalog server on ln in the background.
func Serve(ln net.Listener, opts ...grpc.ServerOption) *Server {
	s := &Server{Addr: ln.Addr().String(), health: health.NewServer()}
	s.srv = grpc.NewServer(append(opts, grpc.UnknownServiceHandler(s.handle))...)
	healthpb.RegisterHealthServer(s.srv, s.health)
	go func() { _ = s.srv.Serve(ln) }()
	return s
}

// SetServing sets what the standard health service answers for the whole
// server: SERVING or NOT_SERVING.
func (s *Server) SetServing(ok bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ok {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
}

// Stop closes the listener and every connection at once.
func (s *Server) Stop() { s.srv.Stop() }

var (
	file      = CatalogFile()
	reqDesc   = file.Messages().ByName("GetProductRequest")
	prodDesc  = file.Messages().ByName("Product")
	failBySKU = map[string]codes.Code{
		"missing": codes.NotFound, "bad": codes.InvalidArgument, "anon": codes.Unauthenticated,
		"denied": codes.PermissionDenied, "busy": codes.ResourceExhausted, "down": codes.Unavailable,
		"boom": codes.Internal,
	}
)

func (s *Server) handle(_ any, stream grpc.ServerStream) error {
	s.Calls.Add(1)
	method, _ := grpc.MethodFromServerStream(stream)
	if method == "/"+EchoProducts {
		return echoStream(stream)
	}
	if method != "/"+GetProduct && method != "/"+WatchProducts {
		return status.Errorf(codes.Unimplemented, "method %s not implemented", method)
	}
	if d, ok := stream.Context().Deadline(); ok {
		s.LastTimeout.Store(int64(time.Until(d)))
	} else {
		s.LastTimeout.Store(0)
	}
	in := dynamicpb.NewMessage(reqDesc)
	if err := stream.RecvMsg(in); err != nil {
		return err
	}
	if method == "/"+WatchProducts {
		return s.watch(stream, in)
	}
	get := func(name string) protoreflect.Value { return in.Get(reqDesc.Fields().ByName(protoreflect.Name(name))) }
	sku := get("sku").String()
	if d := get("delay_ms").Int(); d > 0 {
		select {
		case <-time.After(time.Duration(d) * time.Millisecond):
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
	if code, ok := failBySKU[sku]; ok {
		return status.Errorf(code, "product %q: %s", sku, code)
	}
	out := dynamicpb.NewMessage(prodDesc)
	set := func(name string, v protoreflect.Value) { out.Set(prodDesc.Fields().ByName(protoreflect.Name(name)), v) }
	set("sku", protoreflect.ValueOfString(sku))
	set("name", protoreflect.ValueOfString("Product "+sku))
	if get("include_stock").Bool() {
		set("stock", protoreflect.ValueOfInt64(7))
	}
	set("echo", protoreflect.ValueOfMessage(in))
	md, _ := metadata.FromIncomingContext(stream.Context())
	mdField := prodDesc.Fields().ByName("metadata")
	mm := out.Mutable(mdField).Map()
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.HasPrefix(k, ":") || strings.HasPrefix(k, "grpc-") {
			continue
		}
		mm.Set(protoreflect.ValueOfString(k).MapKey(), protoreflect.ValueOfString(strings.Join(md[k], ",")))
	}
	return stream.SendMsg(out)
}

func (s *Server) watch(stream grpc.ServerStream, in *dynamicpb.Message) error {
	get := func(name string) protoreflect.Value { return in.Get(reqDesc.Fields().ByName(protoreflect.Name(name))) }
	sku := get("sku").String()
	n := int(get("page_size").Int())
	delay := time.Duration(get("delay_ms").Int()) * time.Millisecond
	name := prodDesc.Fields().ByName("name")
	skuField := prodDesc.Fields().ByName("sku")
	for i := 0; i < n; i++ {
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-stream.Context().Done():
				return stream.Context().Err()
			}
		}
		if code, ok := failBySKU[sku]; ok && i > 0 {
			return status.Errorf(code, "product %q: %s", sku, code)
		}
		out := dynamicpb.NewMessage(prodDesc)
		id := sku + "-" + strconv.Itoa(i)
		out.Set(skuField, protoreflect.ValueOfString(id))
		out.Set(name, protoreflect.ValueOfString("Product "+id))
		if err := stream.SendMsg(out); err != nil {
			return err
		}
	}
	stream.SetTrailer(metadata.Pairs("x-sent", strconv.Itoa(n)))
	return nil
}

func echoStream(stream grpc.ServerStream) error {
	for {
		in := dynamicpb.NewMessage(reqDesc)
		if err := stream.RecvMsg(in); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		sku := in.Get(reqDesc.Fields().ByName("sku")).String()
		out := dynamicpb.NewMessage(prodDesc)
		out.Set(prodDesc.Fields().ByName("sku"), protoreflect.ValueOfString(sku))
		out.Set(prodDesc.Fields().ByName("name"), protoreflect.ValueOfString("Echo "+sku))
		if err := stream.SendMsg(out); err != nil {
			return err
		}
	}
}
