// Package grpcgw is the upstream stage of routes that call a gRPC method: it
// builds the request message from path parameters, query and JSON body using
// the service's descriptor set, calls the method, and answers JSON.
//
// Compile reads each grpc service's descriptor_set (a serialized
// google.protobuf.FileDescriptorSet, as `protoc --descriptor_set_out
// --include_imports` writes it) and opens one lazily-connecting
// grpc.ClientConn per target. Set.Method resolves a route's grpc_method
// against it once, with every field the route's path parameters name.
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
	"log/slog"
	"strings"

	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/upstream"
)

// Set holds the gRPC connections of every grpc service of a config.
type Set struct {
	services map[string]*service
	declared map[string]*config.Service
	// meta lists the request headers forwarded as gRPC metadata.
	meta []metaHeader
}

// Compile prepares every service with protocol "grpc" (descriptor sets,
// connections). Problems carry their JSON paths. It also rejects routes that
// would send plain HTTP to a grpc service.
//
// services are the compiled upstream services: a grpc service leases its
// targets from its upstream.Service (balancer, passive ejection, circuit
// breaker, fallback), so that gRPC calls follow the same rules as HTTP ones.
func Compile(cfg *config.Config, services map[string]*upstream.Service) (*Set, config.Errors) {
	var errs config.Errors
	s := &Set{services: map[string]*service{}, declared: cfg.Services}
	for _, name := range cfg.Order.Services {
		c := cfg.Services[name]
		if c == nil {
			continue // reported by the upstream package
		}
		path := config.Join("services", name)
		if c.Protocol != "grpc" {
			if c.DescriptorSet != "" {
				// The contract's example config shows descriptor_set on a
				// service whose protocol may be http: accept it, unused.
				slog.Warn("descriptor_set ignored: only used by protocol \"grpc\"", "path", config.Join(path, "descriptor_set"))
			}
			continue
		}
		up := services[name] // nil: the upstream package reported why
		svc, es := compileService(name, c, path, up)
		errs = append(errs, es...)
		if svc == nil {
			continue
		}
		if len(up.Targets()) != len(svc.targets) {
			svc.close() // unreachable: both come from c.Targets
			continue
		}
		if c.HealthCheck != nil {
			up.SetProbe(svc.healthProbe(strings.TrimPrefix(up.HealthPath(), "/")))
		}
		s.services[name] = svc
	}
	errs = append(errs, s.checkRoutes(cfg)...)
	s.meta = metaHeaders(cfg)
	if len(errs) > 0 {
		s.Close()
	}
	return s, errs
}

// checkRoutes reports aggregate backends on a grpc service: they would speak
// HTTP/1.1 to a gRPC server.
func (s *Set) checkRoutes(cfg *config.Config) config.Errors {
	var errs config.Errors
	isGRPC := func(name string) bool {
		c := cfg.Services[name]
		return c != nil && c.Protocol == "grpc"
	}
	for i, rc := range cfg.Routes {
		if rc == nil {
			continue
		}
		path := config.Index("routes", i)
		if rc.Aggregate != nil {
			for j, b := range rc.Aggregate.Backends {
				if isGRPC(b.Service) {
					errs.Add(config.Join(config.Index(config.Join(config.Join(path, "aggregate"), "backends"), j), "service"),
						"service %q is a grpc service; aggregate backends must be HTTP services", b.Service)
				}
			}
			continue
		}
		// A route without grpc_method on a grpc service is a gRPC
		// pass-through (the engine's grpcpass.go).
	}
	return errs
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

// Method compiles a route's grpc_method against its service. path is the
// route's JSON path ("routes[3]"); routeParams are the path parameter names.
func (s *Set) Method(service, method string, routeParams []string, path string) (*Method, config.Errors) {
	var errs config.Errors
	if service == "" {
		errs.Add(config.Join(path, "service"), "required")
		return nil, errs
	}
	c, declared := s.declared[service]
	if !declared {
		errs.Add(config.Join(path, "service"), "unknown service %q", service)
		return nil, errs
	}
	if c == nil || c.Protocol != "grpc" {
		errs.Add(config.Join(path, "grpc_method"), "service %q is not a grpc service (protocol %q)", service, protocolOf(c))
		return nil, errs
	}
	svc := s.services[service]
	if svc == nil {
		return nil, nil // the service's own problems are already reported
	}
	if svc.files == nil {
		errs.Add(config.Join(config.Join("services", service), "descriptor_set"), "required for routes with grpc_method (%s)", path)
		return nil, errs
	}
	m, err := compileMethod(svc, method, s.meta)
	if err != nil {
		errs.Add(config.Join(path, "grpc_method"), "%v", err)
		return nil, errs
	}
	for _, p := range routeParams {
		fp, err := resolveField(m.in, p)
		if err != nil {
			// A parameter may only serve routing (a tenant, a version):
			// warn rather than refuse the config.
			slog.Warn("grpc: path parameter fills no request field", "path", config.Join(path, "path"), "param", p, "reason", err.Error())
			continue
		}
		m.params = append(m.params, param{name: p, field: fp})
	}
	return m, nil
}

func protocolOf(c *config.Service) string {
	if c == nil || c.Protocol == "" {
		return "http"
	}
	return c.Protocol
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
