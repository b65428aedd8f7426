package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/tlsconf"
	"golang.org/x/net/http2"
)

// The compilation of gRPC pass-through routes (grpcpass.go): one HTTP/2
// transport per grpc service, and the route keys a pass-through cannot honour.

// grpcPassFor returns the pass-through of service name, made once per
// service of cfg. path is the route's JSON path, for errors.
func (e *Engine) grpcPassFor(cfg *config.Config, name, path string) (*grpcPass, config.Errors) {
	if p := e.passes[name]; p != nil {
		return p, nil
	}
	var errs config.Errors
	svc := e.services[name]
	if svc == nil {
		return nil, nil // the service's own problems are already reported
	}
	// The service's settings (tls, connect timeout) were compiled once by
	// the upstream package.
	var base *tls.Config
	if svc.TLS != nil {
		base = svc.TLS.Clone()
		base.NextProtos = []string{http2.NextProtoTLS}
	}
	connect := svc.ConnectTimeout
	dialer := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	p := &grpcPass{svc: svc}
	p.tr = &http2.Transport{
		AllowHTTP:       true,
		ReadIdleTimeout: passReadIdle,
		PingTimeout:     passPingTimeout,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, dialError{err}
			}
			if base == nil {
				return conn, nil
			}
			tc := tls.Client(conn, tlsconf.ForTarget(base, addr))
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, dialError{err}
			}
			if tc.ConnectionState().NegotiatedProtocol != http2.NextProtoTLS {
				tc.Close()
				return nil, dialError{errors.New("target did not negotiate h2")}
			}
			return tc, nil
		},
	}
	if e.passes == nil {
		e.passes = map[string]*grpcPass{}
	}
	e.passes[name] = p
	if h2 := cfg.Server.HTTP2; cfg.Server.TLS == nil || (h2 != nil && !*h2) {
		slog.Warn("grpc pass-through needs HTTP/2 (server.tls with server.http2 true): every call will get 426",
			"path", config.Join(path, "service"))
	}
	return p, errs
}

// grpcPassSplit prepares the pass-throughs of a pass-through route's split
// services (the split stage only pairs grpc services with grpc services).
func (e *Engine) grpcPassSplit(cfg *config.Config, r *route, path string) config.Errors {
	if r.grpcPass == nil || len(r.edge.sides) == 0 {
		return nil
	}
	var errs config.Errors
	for _, side := range r.edge.sides {
		c := cfg.Services[side.Name]
		if c == nil || c.Protocol != "grpc" {
			return nil // reported by the split stage
		}
		p, es := e.grpcPassFor(cfg, side.Name, path)
		errs = append(errs, es...)
		r.grpcPassSides = append(r.grpcPassSides, p)
	}
	return errs
}

// checkGRPCPass reports route settings a pass-through cannot honour: the
// body is a stream of gRPC messages, never JSON, and answers are streams.
func checkGRPCPass(rc *config.Route, path string) config.Errors {
	var errs config.Errors
	if rc.Cache != nil {
		errs.Add(config.Join(path, "cache"), "not for a gRPC pass-through route (service %q has protocol \"grpc\" and the route no grpc_method)", rc.Service)
	}
	if rc.WebSocket {
		errs.Add(config.Join(path, "websocket"), "not for a gRPC pass-through route")
	}
	if v := rc.Validate; v != nil && (v.JSONBody || v.JSONSchemaFile != "") {
		errs.Add(config.Join(path, "validate"), "json_body and json_schema_file do not apply to a gRPC pass-through route")
	}
	return errs
}
