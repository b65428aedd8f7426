package grpcgw

import (
	"context"
	"time"

	"github.com/sluice-gw/sluice/engine/fielderr"
	"github.com/sluice-gw/sluice/engine/tlsconf"
	"github.com/sluice-gw/sluice/engine/upstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// maxReconnectDelay caps the reconnect back-off of a failed target, so that
// a target that comes back takes traffic within seconds.
const maxReconnectDelay = 5 * time.Second

// service is one compiled grpc service: its descriptors and one connection
// per target. Targets are balanced here rather than inside one
// grpc.ClientConn so that each call knows its target (metrics, access log)
// and a target that cannot be reached is retried on another.
type service struct {
	name  string
	files *protoregistry.Files
	// targets are in config order, as are up's: a lease's Index picks ours.
	targets []*target
	// up is the service as the upstream package compiled it, the one
	// compile of its settings (timeout, retries, connect timeout, tls): it
	// chooses targets and keeps their resilience state.
	up *upstream.Service
}

// target is one upstream address and its connection.
// Its calls are counted by the upstream target at the same index (the
// lease's), the one keeper of sluice_upstream_requests_total.
type target struct {
	addr string
	conn *grpc.ClientConn
}

// compileService adds to up, the service the upstream package compiled,
// what a grpc_method route needs: its descriptors and one connection per
// target. With up nil (the upstream package refused the service) only the
// descriptors are checked, so that every problem is reported at once.
func compileService(name string, o ServiceOptions, up *upstream.Service) (*service, error) {
	var errs fielderr.List
	s := &service{name: name, up: up}
	// Only routes with grpc_method need the descriptors (Set.Method
	// reports a missing descriptor_set); pass-through routes do not.
	if o.DescriptorSet != "" {
		files, err := loadDescriptorSet(o.DescriptorSet)
		if err != nil {
			errs.Add("descriptor_set", "%v", err)
		}
		s.files = files
	}
	if len(errs) > 0 || up == nil {
		return nil, errs.Err()
	}
	credsFor := func(string) credentials.TransportCredentials { return insecure.NewCredentials() }
	if up.TLS != nil {
		base := up.TLS.Clone()
		base.NextProtos = nil // credentials.NewTLS offers h2
		credsFor = func(addr string) credentials.TransportCredentials {
			return credentials.NewTLS(tlsconf.ForTarget(base, addr))
		}
	}
	connect := up.ConnectTimeout
	// up's targets are the service's, in config order: a lease's Index
	// picks the connection at the same index.
	for i, t := range up.Targets() {
		conn, err := grpc.NewClient("passthrough:///"+t.Addr,
			grpc.WithTransportCredentials(credsFor(t.Addr)),
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff: backoff.Config{
					BaseDelay:  100 * time.Millisecond,
					Multiplier: 1.6,
					Jitter:     0.2,
					MaxDelay:   maxReconnectDelay,
				},
				MinConnectTimeout: connect,
			}),
			grpc.WithUserAgent("sluice"),
		)
		if err != nil {
			errs.Add(fielderr.Index("targets", i), "%v", err)
			continue
		}
		s.targets = append(s.targets, &target{addr: t.Addr, conn: conn})
	}
	if len(errs) > 0 {
		s.close()
		return nil, errs
	}
	return s, nil
}

func (s *service) close() {
	for _, t := range s.targets {
		_ = t.conn.Close()
	}
}

// acquire leases a target not in tried, steering away from targets whose
// connection is known to be failing unless that leaves none (then a call
// fails fast and is answered 502).
func (s *service) acquire(tried []*upstream.Target) (upstream.Lease, error) {
	skip := tried
	for i, t := range s.targets {
		if t.conn.GetState() == connectivity.TransientFailure && len(skip) < cap(skip) {
			skip = append(skip, s.up.Targets()[i])
		}
	}
	l, err := s.up.Acquire(skip)
	if err == upstream.ErrNoTarget && len(skip) > len(tried) {
		l, err = s.up.Acquire(tried)
	}
	return l, err
}

// healthProbe checks a target with the standard gRPC health protocol
// (grpc.health.v1.Health/Check): name is the service to ask about ("" for
// the whole server); only SERVING passes.
func (s *service) healthProbe(name string) upstream.Probe {
	req := &healthpb.HealthCheckRequest{Service: name}
	return func(t *upstream.Target, timeout time.Duration) bool {
		var conn *grpc.ClientConn
		for i, ut := range s.up.Targets() {
			if ut == t {
				conn = s.targets[i].conn
			}
		}
		if conn == nil {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, req)
		return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
	}
}
