package engine

import (
	"errors"
	"log/slog"

	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/grpcgw"
	"github.com/sluice-gw/sluice/engine/upstream"
)

// compileGRPC builds the gRPC gateway's Set: every service with protocol
// "grpc" in file order (leasing targets from services, the compiled
// upstream services), then the aggregate routes' backends it must refuse.
// On errors the returned Set is already closed.
func compileGRPC(cfg *config.Config, services map[string]*upstream.Service) (*grpcgw.Set, config.Errors) {
	var errs config.Errors
	o := grpcgw.Options{Protocols: make(map[string]string, len(cfg.Services))}
	for name, c := range cfg.Services {
		if c != nil {
			o.Protocols[name] = c.Protocol
		} else {
			o.Protocols[name] = ""
		}
	}
	for _, a := range cfg.Auth {
		if a == nil {
			continue
		}
		for _, h := range a.ForwardClaims {
			o.ClaimHeaders = append(o.ClaimHeaders, h)
		}
	}
	set := grpcgw.NewSet(o)
	for _, name := range cfg.Order.Services {
		c := cfg.Services[name]
		if c == nil {
			continue // reported with the upstream services
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
		// services[name] is nil when the upstream package refused it.
		errs.Merge(path, set.AddService(name, grpcgw.ServiceOptions{DescriptorSet: c.DescriptorSet}, services[name]))
	}
	for i, rc := range cfg.Routes {
		if rc == nil || rc.Aggregate == nil {
			continue
		}
		backends := make([]string, len(rc.Aggregate.Backends))
		for j, b := range rc.Aggregate.Backends {
			backends[j] = b.Service
		}
		errs.Merge(config.Join(config.Index("routes", i), "aggregate.backends"), set.CheckAggregate(backends))
	}
	if len(errs) > 0 {
		set.Close()
	}
	return set, errs
}

// grpcMethod compiles the grpc_method of route rc (path is its JSON path).
// A grpc service without descriptors is the service's problem, named so.
func (e *Engine) grpcMethod(rc *config.Route, path string) (*grpcgw.Method, config.Errors) {
	var errs config.Errors
	m, err := e.grpc.Method(grpcgw.MethodOptions{
		Service: rc.Service, Method: rc.GRPCMethod, PathParams: pathParams(rc.Path), LogPath: path,
	})
	if errors.Is(err, grpcgw.ErrNoDescriptorSet) {
		errs.Add(config.Join(config.Join("services", rc.Service), "descriptor_set"), "required for routes with grpc_method (%s)", path)
		return nil, errs
	}
	errs.Merge(path, err)
	return m, errs
}
