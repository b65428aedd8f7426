// Package grpctest provides a small real gRPC service for tests and demos:
// the descriptor set of a catalog API, built in Go (no protoc needed), and a
// server that implements it with dynamic messages.
//
// The proto it describes:
//
//	syntax = "proto3";
//	package catalog.v1;
//	enum Color { COLOR_UNSPECIFIED = 0; RED = 1; BLUE = 2; }
//	message Filter { double min_price = 1; repeated string tags = 2; }
//	message GetProductRequest {
//	  string sku = 1; string locale = 2; int32 page_size = 3;
//	  bool include_stock = 4; repeated string tags = 5; Filter filter = 6;
//	  Color color = 7; int64 delay_ms = 8;
//	}
//	message Product {
//	  string sku = 1; string name = 2; int64 stock = 3;
//	  GetProductRequest echo = 4; map<string, string> metadata = 5;
//	}
//	service Catalog {
//	  rpc GetProduct(GetProductRequest) returns (Product);
//	  rpc WatchProducts(GetProductRequest) returns (stream Product);
//	}
package grpctest

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Names in the catalog descriptor set.
const (
	Package    = "catalog.v1"
	Service    = "catalog.v1.Catalog"
	GetProduct = "catalog.v1.Catalog/GetProduct"
	// WatchProducts is a server-streaming method (pass-through routes only).
	WatchProducts = "catalog.v1.Catalog/WatchProducts"
	// EchoProducts is a bidirectional method the server answers but the
	// descriptor set does not describe (for pass-through tests).
	EchoProducts = "catalog.v1.Catalog/EchoProducts"
)

// CatalogSet returns the catalog API as a FileDescriptorSet.
func CatalogSet() *descriptorpb.FileDescriptorSet {
	return &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{catalogFile()}}
}

// CatalogProtoset returns CatalogSet serialized, as a .protoset file holds it.
func CatalogProtoset() []byte {
	b, err := proto.Marshal(CatalogSet())
	if err != nil {
		panic(err) // a constant descriptor always marshals
	}
	return b
}

// CatalogFile returns the linked file descriptor of the catalog API.
func CatalogFile() protoreflect.FileDescriptor {
	fd, err := protodesc.NewFile(catalogFile(), nil)
	if err != nil {
		panic(err) // a constant descriptor always links
	}
	return fd
}

func catalogFile() *descriptorpb.FileDescriptorProto {
	s := proto.String
	field := func(name string, n int32, t descriptorpb.FieldDescriptorProto_Type, typeName string, repeated bool) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{
			Name:     s(name),
			Number:   proto.Int32(n),
			Type:     t.Enum(),
			Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			JsonName: s(jsonName(name)),
		}
		if repeated {
			f.Label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
		}
		if typeName != "" {
			f.TypeName = s(typeName)
		}
		return f
	}
	const (
		str  = descriptorpb.FieldDescriptorProto_TYPE_STRING
		i32  = descriptorpb.FieldDescriptorProto_TYPE_INT32
		i64  = descriptorpb.FieldDescriptorProto_TYPE_INT64
		dbl  = descriptorpb.FieldDescriptorProto_TYPE_DOUBLE
		bl   = descriptorpb.FieldDescriptorProto_TYPE_BOOL
		msg  = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
		enum = descriptorpb.FieldDescriptorProto_TYPE_ENUM
	)
	return &descriptorpb.FileDescriptorProto{
		Name:    s("catalog/v1/catalog.proto"),
		Package: s(Package),
		Syntax:  s("proto3"),
		EnumType: []*descriptorpb.EnumDescriptorProto{{
			Name: s("Color"),
			Value: []*descriptorpb.EnumValueDescriptorProto{
				{Name: s("COLOR_UNSPECIFIED"), Number: proto.Int32(0)},
				{Name: s("RED"), Number: proto.Int32(1)},
				{Name: s("BLUE"), Number: proto.Int32(2)},
			},
		}},
		MessageType: []*descriptorpb.DescriptorProto{
			{
				Name: s("Filter"),
				Field: []*descriptorpb.FieldDescriptorProto{
					field("min_price", 1, dbl, "", false),
					field("tags", 2, str, "", true),
				},
			},
			{
				Name: s("GetProductRequest"),
				Field: []*descriptorpb.FieldDescriptorProto{
					field("sku", 1, str, "", false),
					field("locale", 2, str, "", false),
					field("page_size", 3, i32, "", false),
					field("include_stock", 4, bl, "", false),
					field("tags", 5, str, "", true),
					field("filter", 6, msg, ".catalog.v1.Filter", false),
					field("color", 7, enum, ".catalog.v1.Color", false),
					field("delay_ms", 8, i64, "", false),
				},
			},
			{
				Name: s("Product"),
				Field: []*descriptorpb.FieldDescriptorProto{
					field("sku", 1, str, "", false),
					field("name", 2, str, "", false),
					field("stock", 3, i64, "", false),
					field("echo", 4, msg, ".catalog.v1.GetProductRequest", false),
					field("metadata", 5, msg, ".catalog.v1.Product.MetadataEntry", true),
				},
				NestedType: []*descriptorpb.DescriptorProto{{
					Name: s("MetadataEntry"),
					Field: []*descriptorpb.FieldDescriptorProto{
						field("key", 1, str, "", false),
						field("value", 2, str, "", false),
					},
					Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
				}},
			},
		},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: s("Catalog"),
			Method: []*descriptorpb.MethodDescriptorProto{
				{Name: s("GetProduct"), InputType: s(".catalog.v1.GetProductRequest"), OutputType: s(".catalog.v1.Product")},
				{Name: s("WatchProducts"), InputType: s(".catalog.v1.GetProductRequest"), OutputType: s(".catalog.v1.Product"), ServerStreaming: proto.Bool(true)},
			},
		}},
	}
}

// jsonName is protoc's lowerCamelCase JSON name of a field.
func jsonName(name string) string {
	out := make([]byte, 0, len(name))
	up := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '_' {
			up = true
			continue
		}
		if up && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		out = append(out, c)
	}
	return string(out)
}
