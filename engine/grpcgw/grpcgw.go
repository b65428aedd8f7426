// Package grpcgw is the upstream stage of routes that call a gRPC method: it
// builds the request message from path parameters, query and JSON body using
// the service's descriptor set, calls the method, and answers JSON.
package grpcgw

import (
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/pipeline"
)

// Set holds the gRPC connections of every grpc service of a config.
type Set struct{}

// Compile prepares every service with protocol "grpc" (descriptor sets,
// connections). Problems carry their JSON paths.
func Compile(cfg *config.Config) (*Set, config.Errors) { return &Set{}, nil }

// Close closes the connections.
func (s *Set) Close() {}

// Method compiles a route's grpc_method against its service. path is the
// route's JSON path ("routes[3]"); routeParams are the path parameter names.
func (s *Set) Method(service, method string, routeParams []string, path string) (*Method, config.Errors) {
	var errs config.Errors
	errs.Add(config.Join(path, "grpc_method"), "not supported yet")
	return nil, errs
}

// Method is one compiled gRPC call.
type Method struct{}

// Serve calls the method for x and writes the JSON answer, or fails x.
func (m *Method) Serve(x *pipeline.Exchange) {}
