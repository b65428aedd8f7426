package grpcgw

import (
	"crypto/tls"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/grpcgw/grpctest"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/sluice-gw/sluice/engine/tlsconf"
	"github.com/sluice-gw/sluice/engine/tlsconf/tlstest"
	"github.com/sluice-gw/sluice/engine/upstream"
	"github.com/valyala/fasthttp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func writeProtoset(t testing.TB, data []byte) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "set.protoset")
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// compileSet builds a Set with one grpc service "catalog" on addr.
func compileSet(t testing.TB, addr string) *Set {
	t.Helper()
	s, err := compileWithUpstream(t, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// compileWithUpstream builds the upstream service "catalog" (protocol grpc,
// timeout 2s, one target addr, tls as given), then the grpc set that leases
// targets from it.
func compileWithUpstream(t testing.TB, addr string, tlsOpts *tlsconf.UpstreamOptions) (*Set, error) {
	up, err := upstream.New("catalog", upstream.ServiceOptions{Protocol: "grpc", Timeout: 2 * time.Second, TLS: tlsOpts,
		Targets: []upstream.TargetOptions{{Addr: addr}}}, metrics.NewSet())
	if err != nil {
		return nil, err
	}
	s := NewSet(Options{Protocols: map[string]string{"catalog": "grpc"}})
	if err := s.AddService("catalog", ServiceOptions{DescriptorSet: writeProtoset(t, grpctest.CatalogProtoset())}, up); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// getProduct compiles the GetProduct method for a route /p/{sku}.
func getProduct(s *Set) (*Method, error) {
	return s.Method(MethodOptions{Service: "catalog", Method: grpctest.GetProduct, PathParams: []string{"sku"}, LogPath: "routes[0]"})
}

// exchange prepares x for a request to uri with body and path parameter sku.
func exchange(x *pipeline.Exchange, ctx *fasthttp.RequestCtx, uri, body, sku string) {
	x.Reset()
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.Request.SetRequestURI(uri)
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.Header.Set("X-Request-Id", "rid-1")
	ctx.Request.SetBodyString(body)
	x.Ctx = ctx
	x.Params.Set("sku", []byte(sku))
	x.Deadline = time.Now().Add(2 * time.Second)
}

func TestServe(t *testing.T) {
	srv := grpctest.Start(t)
	s := compileSet(t, srv.Addr)
	m, err := getProduct(s)
	if err != nil {
		t.Fatal(err)
	}
	var x pipeline.Exchange
	var ctx fasthttp.RequestCtx
	exchange(&x, &ctx, "/p/a1?include_stock=true&filter.tags=x", `{"locale": "fr", "sku": "ignored"}`, "a1")
	m.Serve(&x)
	if rej, failed := x.Rejected(); failed {
		t.Fatalf("rejected: %+v", rej)
	}
	if ctx.Response.StatusCode() != 200 || string(ctx.Response.Header.ContentType()) != "application/json" {
		t.Fatalf("status %d, type %q", ctx.Response.StatusCode(), ctx.Response.Header.ContentType())
	}
	var got struct {
		SKU, Stock string
		Echo       struct {
			Locale string
			Filter struct{ Tags []string }
		}
		Metadata map[string]string
	}
	if err := json.Unmarshal(ctx.Response.Body(), &got); err != nil {
		t.Fatalf("%s: %v", ctx.Response.Body(), err)
	}
	if got.SKU != "a1" || got.Stock != "7" || got.Echo.Locale != "fr" || len(got.Echo.Filter.Tags) != 1 || got.Metadata["x-request-id"] != "rid-1" {
		t.Errorf("answer %s", ctx.Response.Body())
	}
	if x.Target != srv.Addr {
		t.Errorf("target %q, want %q", x.Target, srv.Addr)
	}
}

// allKinds is a message with a field of every scalar kind, an enum, a
// repeated field and well-known types, linked against the real WKT files.
func allKinds(t testing.TB) protoreflect.MessageDescriptor {
	t.Helper()
	f := func(name string, n int32, typ descriptorpb.FieldDescriptorProto_Type, typeName string) *descriptorpb.FieldDescriptorProto {
		fd := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(n), Type: typ.Enum(),
			Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()}
		if typeName != "" {
			fd.TypeName = proto.String(typeName)
		}
		return fd
	}
	T := descriptorpb.FieldDescriptorProto_Type_value
	var fields []*descriptorpb.FieldDescriptorProto
	n := int32(1)
	for _, k := range []string{"DOUBLE", "FLOAT", "INT64", "UINT64", "INT32", "FIXED64", "FIXED32", "BOOL", "STRING", "BYTES", "UINT32", "SFIXED32", "SFIXED64", "SINT32", "SINT64"} {
		fields = append(fields, f(strings.ToLower(k), n, descriptorpb.FieldDescriptorProto_Type(T["TYPE_"+k]), ""))
		n++
	}
	fields = append(fields,
		f("wrapped", n, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, ".google.protobuf.BoolValue"),
		f("ttl", n+1, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, ".google.protobuf.Duration"),
		f("name_value", n+2, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, ".google.protobuf.StringValue"),
	)
	file := &descriptorpb.FileDescriptorProto{
		Name: proto.String("kinds.proto"), Package: proto.String("kinds"), Syntax: proto.String("proto3"),
		Dependency:  []string{"google/protobuf/wrappers.proto", "google/protobuf/duration.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("All"), Field: fields}},
	}
	set := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{
		protodesc.ToFileDescriptorProto(wrapperspb.File_google_protobuf_wrappers_proto),
		protodesc.ToFileDescriptorProto(durationpb.File_google_protobuf_duration_proto),
		file,
	}}
	data, _ := proto.Marshal(set)
	files, err := parseDescriptorSet(data)
	if err != nil {
		t.Fatal(err)
	}
	d, err := files.FindDescriptorByName("kinds.All")
	if err != nil {
		t.Fatal(err)
	}
	return d.(protoreflect.MessageDescriptor)
}

func TestSetFromText(t *testing.T) {
	md := allKinds(t)
	for _, c := range []struct{ field, text, json string }{
		{"double", "2.5", `2.5`},
		{"float", "-1.5", `-1.5`},
		{"int64", "-9007199254740993", `"-9007199254740993"`},
		{"uint64", "18446744073709551615", `"18446744073709551615"`},
		{"int32", "-7", `-7`},
		{"fixed64", "9", `"9"`},
		{"fixed32", "9", `9`},
		{"bool", "true", `true`},
		{"string", "héllo wörld", `"héllo wörld"`},
		{"bytes", "aGk=", `"aGk="`},
		{"bytes", "aGk", `"aGk="`},
		{"uint32", "4294967295", `4294967295`},
		{"sfixed32", "-3", `-3`},
		{"sfixed64", "-3", `"-3"`},
		{"sint32", "-3", `-3`},
		{"sint64", "-3", `"-3"`},
		{"wrapped", "true", `true`},
		{"ttl", "1.5s", `"1.500s"`},
		{"nameValue", "123", `"123"`},
	} {
		fp, err := resolveField(md, c.field)
		if err != nil {
			t.Fatalf("%s: %v", c.field, err)
		}
		m := dynamicpb.NewMessage(md)
		if err := fp.set(m, []byte(c.text)); err != nil {
			t.Errorf("%s=%q: %v", c.field, c.text, err)
			continue
		}
		out, _ := marshalJSON.Marshal(m)
		var all map[string]json.RawMessage
		_ = json.Unmarshal(out, &all)
		if got := string(all[fp.last().JSONName()]); got != c.json {
			t.Errorf("%s=%q: JSON %s, want %s", c.field, c.text, got, c.json)
		}
	}
	for _, c := range []struct{ field, text string }{
		{"int32", "2147483648"}, {"uint32", "-1"}, {"bool", "yes"}, {"double", "x"},
		{"bytes", "!!"}, {"ttl", "forever"}, {"int64", ""}, {"float", "1e99"},
	} {
		fp, _ := resolveField(md, c.field)
		if err := fp.set(dynamicpb.NewMessage(md), []byte(c.text)); err == nil {
			t.Errorf("%s=%q accepted", c.field, c.text)
		}
	}
}

func TestResolveField(t *testing.T) {
	req := grpctest.CatalogFile().Messages().ByName("GetProductRequest")
	for name, ok := range map[string]bool{
		"sku": true, "page_size": true, "pageSize": true, "filter.min_price": true, "filter.minPrice": true,
		"filter": true, "nope": false, "sku.x": false, "filter.nope": false, "": false,
		"filter.tags.x": false, strings.Repeat("filter.", 20) + "x": false,
	} {
		if _, err := resolveField(req, name); (err == nil) != ok {
			t.Errorf("resolveField(%q) err=%v, want ok=%v", name, err, ok)
		}
	}
	prod := grpctest.CatalogFile().Messages().ByName("Product")
	if _, err := resolveField(prod, "metadata"); err == nil {
		t.Error("a map field resolved")
	}
}

func TestDescriptorSetErrors(t *testing.T) {
	// A file whose import is not in the set (built without --include_imports).
	lone := &descriptorpb.FileDescriptorProto{Name: proto.String("a.proto"), Dependency: []string{"b.proto"}}
	noImports, _ := proto.Marshal(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{lone}})
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"empty":      {nil, "no files"},
		"garbage":    {[]byte("\xff\xff\xff\xff"), "not a serialized"},
		"no imports": {noImports, "--include_imports"},
	} {
		_, err := parseDescriptorSet(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", name, err, c.want)
		}
	}
}

func TestHTTPStatus(t *testing.T) {
	srv := grpctest.Start(t)
	s := compileSet(t, srv.Addr)
	m, _ := getProduct(s)
	var x pipeline.Exchange
	var ctx fasthttp.RequestCtx
	for sku, want := range map[string]int{"missing": 404, "bad": 400, "anon": 401, "denied": 403, "busy": 429, "down": 503, "boom": 502} {
		exchange(&x, &ctx, "/p/"+sku, "", sku)
		m.Serve(&x)
		if rej, _ := x.Rejected(); rej.Status != want {
			t.Errorf("%s: status %d, want %d", sku, rej.Status, want)
		}
	}
}

// FuzzBuild feeds untrusted query names, values and bodies to the message
// builder: it must reject or accept, never panic.
func FuzzBuild(f *testing.F) {
	f.Add("filter.min_price", "2.5", `{"sku":"a"}`)
	f.Add("tags", "x", `{"tags":["a"],"filter":{"tags":[]}}`)
	f.Add("color", "BLUE", `{"color":"RED"}`)
	f.Add("filter", `{"minPrice":1}`, ``)
	f.Add("filter.filter.x", "\xff", `[]`)
	req := grpctest.CatalogFile().Messages().ByName("GetProductRequest")
	m := &Method{in: req, fields: map[string]fieldPath{}}
	fields := req.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		m.fields[string(fd.Name())] = fieldPath{fd}
		m.fields[fd.JSONName()] = fieldPath{fd}
	}
	var ctx fasthttp.RequestCtx
	var x pipeline.Exchange
	f.Fuzz(func(t *testing.T, name, value, body string) {
		x.Reset()
		ctx.Request.Reset()
		args := ctx.QueryArgs()
		args.Reset()
		ctx.Request.SetRequestURI("/p")
		args = ctx.QueryArgs()
		args.Set(name, value)
		ctx.Request.SetBodyString(body)
		x.Ctx = &ctx
		in := dynamicpb.NewMessage(req)
		if m.build(&x, in) {
			if _, err := marshalJSON.Marshal(in); err != nil {
				t.Fatalf("built message does not marshal: %v", err)
			}
		} else if rej, _ := x.Rejected(); rej.Status != 400 {
			t.Fatalf("rejected with %d", rej.Status)
		}
	})
}

// BenchmarkServe is one unary call through Method.Serve to a real loopback
// gRPC server: path parameter, two query parameters and a small JSON body.
func BenchmarkServe(b *testing.B) {
	srv := grpctest.Start(b)
	s := compileSet(b, srv.Addr)
	m, _ := getProduct(s)
	var x pipeline.Exchange
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		exchange(&x, &ctx, "/p/a1?include_stock=true&page_size=10", `{"locale":"fr"}`, "a1")
		m.Serve(&x)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d", ctx.Response.StatusCode())
		}
	}
}

// TestDemoProtosetMatchesGrpctest keeps configs/catalog.protoset (built by
// protoc from configs/catalog/v1/catalog.proto) and the descriptors
// grpctest builds in Go in step.
func TestDemoProtosetMatchesGrpctest(t *testing.T) {
	data, err := os.ReadFile("../../configs/catalog.protoset")
	if err != nil {
		t.Fatal(err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(data, &set); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&set, grpctest.CatalogSet()) {
		t.Errorf("configs/catalog.protoset differs from grpctest.CatalogSet:\n%v\n%v", &set, grpctest.CatalogSet())
	}
}

func TestTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "grpc-ca")
	pair := ca.Server(t, []string{"127.0.0.1"}, tlstest.Options{})
	srv := grpctest.StartTLS(t, &tls.Config{Certificates: []tls.Certificate{pair.TLS}})
	other := tlstest.NewCA(t, "other-ca")
	for caFile, want := range map[string]int{ca.CertFile: 200, other.CertFile: 502} {
		s, err := compileWithUpstream(t, srv.Addr, &tlsconf.UpstreamOptions{CAFile: caFile})
		if err != nil {
			t.Fatal(err)
		}
		m, _ := getProduct(s)
		var x pipeline.Exchange
		var ctx fasthttp.RequestCtx
		exchange(&x, &ctx, "/p/a", "", "a")
		m.Serve(&x)
		got := ctx.Response.StatusCode()
		if rej, failed := x.Rejected(); failed {
			got = rej.Status
		}
		if got != want {
			t.Errorf("ca %s: status %d, want %d", caFile, got, want)
		}
		s.Close()
	}
}
