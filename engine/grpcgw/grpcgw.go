// Package grpcgw is the upstream stage of routes that call a gRPC method: it
// builds the request message from path parameters, query and JSON body using
// the service's descriptor set, calls the method, and answers JSON.
//
// The engine's compile step builds a Set from typed Options (NewSet) and adds
// each grpc service (Set.AddService): its descriptor set (a serialized
// google.protobuf.FileDescriptorSet, as `protoc --descriptor_set_out
// --include_imports` writes it) is read and one lazily-connecting
// grpc.ClientConn opened per target. Set.Method resolves a route's
// grpc_method against it once, with every field the route's path parameters
// name.
//
// Request message precedence, lowest to highest: the JSON body (protojson;
// unknown fields are a 400), then query parameters, then path parameters.
// A query or path value replaces a singular field the body set; query values
// of a repeated field replace the body's list (repeating the parameter
// appends). Names match a field's proto name or its JSON name; query names
// may be dotted paths into nested messages (filter.min_price); unknown query
// names are ignored, as in grpc-gateway. The answer is the response message
// in protojson (lowerCamelCase names, unpopulated fields included), status
// 200, Content-Type application/json. A path parameter that names no field
// of the request message is left out (with a warning at start-up).
//
// Errors map to the contract's statuses: NOT_FOUND 404, INVALID_ARGUMENT
// 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403, RESOURCE_EXHAUSTED 429,
// UNAVAILABLE 503 (502 when no connection could be made), DEADLINE_EXCEEDED
// or the route's deadline passing 504, anything else 502.
package grpcgw

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/sluice-gw/sluice/engine/fielderr"
	"github.com/sluice-gw/sluice/engine/upstream"
)

// Set holds the gRPC connections of every grpc service of a config.
type Set struct {
	services map[string]*service
	// protocols is the protocol of every declared service.
	protocols map[string]string
	// meta lists the request headers forwarded as gRPC metadata.
	meta []metaHeader
}

// Options are what a Set needs from the whole config.
type Options struct {
	// Protocols is the protocol of every declared service by name ("" is
	// http, as is a service whose object is null): a route may only call a
	// method of a declared grpc service.
	Protocols map[string]string
	// ClaimHeaders are the request headers auth policies fill from token
	// claims (their forward_claims values, in any order). They are
	// forwarded as gRPC metadata along with the request id, the trace
	// context and the X-Forwarded-* set.
	ClaimHeaders []string
}

// ServiceOptions are a grpc service's own settings beyond what the upstream
// package compiles (targets, timeouts, tls, health checks).
type ServiceOptions struct {
	// DescriptorSet is the file name of the service's serialized
	// google.protobuf.FileDescriptorSet; only routes with grpc_method need it.
	DescriptorSet string
}

// ErrNoDescriptorSet is Method's answer for a grpc service without a
// descriptor set: the problem is the service's, which the caller names.
var ErrNoDescriptorSet = errors.New("service has no descriptor_set")

// NewSet returns an empty Set; AddService adds its grpc services.
func NewSet(o Options) *Set {
	return &Set{services: map[string]*service{}, protocols: o.Protocols, meta: metaHeaders(o.ClaimHeaders)}
}

// AddService prepares the grpc service name (descriptor set, connections).
// Its problems are a fielderr.List with paths relative to the service
// ("descriptor_set", "targets[1]").
//
// up is the service the upstream package compiled (nil when it refused it:
// then only the descriptor set is checked, so that every problem is
// reported at once). A grpc service leases its targets from up (balancer,
// passive ejection, circuit breaker, fallback), so that gRPC calls follow
// the same rules as HTTP ones; when up has active health checks they use
// the gRPC health protocol.
func (s *Set) AddService(name string, o ServiceOptions, up *upstream.Service) error {
	svc, err := compileService(name, o, up)
	if svc == nil {
		return err
	}
	if hp := up.HealthPath(); hp != "" {
		up.SetProbe(svc.healthProbe(strings.TrimPrefix(hp, "/")))
	}
	s.services[name] = svc
	return nil
}

// CheckAggregate reports aggregate backends (by their service names) on a
// grpc service: they would speak HTTP/1.1 to a gRPC server. Its problems
// are a fielderr.List with paths relative to the backends list
// ("[1].service").
func (s *Set) CheckAggregate(backends []string) error {
	var errs fielderr.List
	for j, name := range backends {
		if s.protocols[name] == "grpc" {
			errs.Add(fielderr.Join(fielderr.Index("", j), "service"),
				"service %q is a grpc service; aggregate backends must be HTTP services", name)
		}
	}
	// A route without grpc_method on a grpc service is a gRPC pass-through
	// (the engine's grpcpass.go): nothing to check here.
	return errs.Err()
}

// Close closes the connections.
func (s *Set) Close() {
	if s == nil {
		return
	}
	for _, svc := range s.services {
		svc.close()
	}
}

// MethodOptions are a route's grpc_method and what it needs from the route.
type MethodOptions struct {
	// Service is the route's service.
	Service string
	// Method is the route's grpc_method, "package.Service/Method".
	Method string
	// PathParams are the names of the route's path parameters.
	PathParams []string
	// LogPath is the route's place in the config ("routes[3]"); it only
	// names the route in log warnings (errors carry relative paths).
	LogPath string
}

// Method compiles a route's grpc_method against its service. Its problems
// are a fielderr.List with paths relative to the route ("grpc_method"), or
// ErrNoDescriptorSet when the service lacks the descriptors. A service that
// failed to compile yields (nil, nil): its own problems are reported.
func (s *Set) Method(o MethodOptions) (*Method, error) {
	var errs fielderr.List
	if o.Service == "" {
		errs.Add("service", "required")
		return nil, errs
	}
	protocol, declared := s.protocols[o.Service]
	if !declared {
		errs.Add("service", "unknown service %q", o.Service)
		return nil, errs
	}
	if protocol != "grpc" {
		if protocol == "" {
			protocol = "http"
		}
		errs.Add("grpc_method", "service %q is not a grpc service (protocol %q)", o.Service, protocol)
		return nil, errs
	}
	svc := s.services[o.Service]
	if svc == nil {
		return nil, nil // the service's own problems are already reported
	}
	if svc.files == nil {
		return nil, ErrNoDescriptorSet
	}
	m, err := compileMethod(svc, o.Method, s.meta)
	if err != nil {
		errs.Add("grpc_method", "%v", err)
		return nil, errs
	}
	for _, p := range o.PathParams {
		fp, err := resolveField(m.in, p)
		if err != nil {
			// A parameter may only serve routing (a tenant, a version):
			// warn rather than refuse the config.
			slog.Warn("grpc: path parameter fills no request field", "path", fielderr.Join(o.LogPath, "path"), "param", p, "reason", err.Error())
			continue
		}
		m.params = append(m.params, param{name: p, field: fp})
	}
	return m, nil
}

// splitMethod parses "pkg.Service/Method" (a leading '/' is allowed).
func splitMethod(s string) (svc, method string, ok bool) {
	s = strings.TrimPrefix(s, "/")
	i := strings.LastIndexByte(s, '/')
	if i <= 0 || i == len(s)-1 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}
