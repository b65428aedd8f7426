package grpcgw

import (
	"bytes"
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Method is one compiled gRPC call.
type Method struct {
	svc *service
	// fullName is the method's HTTP/2 path, "/pkg.Service/Method".
	fullName string
	in, out  protoreflect.MessageDescriptor
	// params are the route's path parameters and the fields they fill.
	params []param
	// fields maps the proto and JSON names of the request's top-level
	// fields, for query parameters (looked up without allocating).
	fields map[string]fieldPath
	meta   []metaHeader
}

type param struct {
	name  string
	field fieldPath
}

// compileMethod resolves "pkg.Service/Method" in svc's descriptors.
func compileMethod(svc *service, name string, meta []metaHeader) (*Method, error) {
	svcName, methodName, ok := splitMethod(name)
	if !ok {
		return nil, fmt.Errorf("want \"package.Service/Method\", got %q", name)
	}
	d, err := svc.files.FindDescriptorByName(protoreflect.FullName(svcName))
	if err != nil {
		return nil, fmt.Errorf("unknown method %q: no service %q in the descriptor set of service %q", name, svcName, svc.name)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("unknown method %q: %q is not a service", name, svcName)
	}
	md := sd.Methods().ByName(protoreflect.Name(methodName))
	if md == nil {
		return nil, fmt.Errorf("unknown method %q: service %s has no method %q", name, svcName, methodName)
	}
	if md.IsStreamingClient() || md.IsStreamingServer() {
		return nil, fmt.Errorf("method %q is streaming; only unary methods are supported", name)
	}
	m := &Method{
		svc:      svc,
		fullName: "/" + string(sd.FullName()) + "/" + methodName,
		in:       md.Input(),
		out:      md.Output(),
		fields:   map[string]fieldPath{},
		meta:     meta,
	}
	fields := m.in.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsMap() {
			continue
		}
		m.fields[string(fd.Name())] = fieldPath{fd}
		m.fields[fd.JSONName()] = fieldPath{fd}
	}
	return m, nil
}

// queryField finds the field a query parameter names, or nil. Dotted names
// reach into nested messages (resolved per request: they are rare).
func (m *Method) queryField(name []byte) fieldPath {
	if fp, ok := m.fields[string(name)]; ok {
		return fp
	}
	if bytes.IndexByte(name, '.') < 0 {
		return nil
	}
	fp, err := resolveField(m.in, string(name))
	if err != nil {
		return nil
	}
	return fp
}
