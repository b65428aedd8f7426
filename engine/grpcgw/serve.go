package grpcgw

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/sluice-gw/sluice/engine/upstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/dynamicpb"
)

var (
	unmarshalJSON = protojson.UnmarshalOptions{}
	// marshalJSON writes every field, as grpc-gateway does: clients see a
	// stable shape rather than keys that come and go with zero values.
	marshalJSON = protojson.MarshalOptions{EmitUnpopulated: true}
)

// call is the pooled per-call scratch state.
type call struct {
	// peer is filled by gRPC when the call reached a server; empty means
	// no connection was made (the request was never sent).
	peer peer.Peer
	opts []grpc.CallOption
	kv   []string
}

var calls = sync.Pool{New: func() any {
	c := new(call)
	c.opts = []grpc.CallOption{grpc.Peer(&c.peer)}
	return c
}}

// Serve calls the method for x and writes the JSON answer, or fails x.
func (m *Method) Serve(x *pipeline.Exchange) {
	in := dynamicpb.NewMessage(m.in)
	if !m.build(x, in) {
		return
	}
	deadline := x.Deadline
	if deadline.IsZero() {
		deadline = time.Now().Add(m.svc.up.Timeout)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	c := calls.Get().(*call)
	defer c.release()
	ctx = m.outgoing(ctx, x, c)

	out := dynamicpb.NewMessage(m.out)
	var tried [8]*upstream.Target
	ntried := 0
	var lease upstream.Lease
	var t *target
	var err error
	for attempt := 0; ; attempt++ {
		l, lerr := m.svc.acquire(tried[:ntried])
		if lerr != nil {
			if attempt > 0 {
				// The previous attempt could not connect (already recorded)
				// and no other target is left to try.
				lerr = upstream.ErrConnect
			}
			upstream.FailExchange(x, m.svc.up, lerr)
			return
		}
		lease, t = l, m.svc.targets[l.Index]
		c.peer = peer.Peer{}
		err = t.conn.Invoke(ctx, m.fullName, in, out, c.opts...)
		// Only a call that never reached a server is safe to send again.
		if err == nil || c.peer.Addr != nil || attempt >= m.svc.up.Retries || ctx.Err() != nil {
			break
		}
		lease.Done(upstream.ErrConnect, 0)
		l.Target.CountStatus(502)
		if ntried < len(tried) {
			tried[ntried] = l.Target
			ntried++
		}
	}
	x.Target = t.addr
	if err != nil {
		reached := c.peer.Addr != nil
		code := fail(x, err, reached, ctx.Err())
		lease.Target.CountStatus(code)
		switch {
		case !reached:
			lease.Done(upstream.ErrConnect, 0)
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			lease.Done(upstream.ErrTimeout, 0)
		default:
			lease.Done(nil, code)
		}
		return
	}
	lease.Done(nil, 200)
	resp := &x.Ctx.Response
	body, merr := marshalJSON.MarshalAppend(resp.SwapBody(nil)[:0], out)
	resp.SwapBody(body)
	if merr != nil {
		resp.ResetBody()
		lease.Target.CountStatus(502)
		x.Fail(fault.BadGateway, "upstream answer cannot be encoded as JSON")
		return
	}
	resp.SetStatusCode(200)
	resp.Header.SetContentType("application/json")
	lease.Target.CountStatus(200)
}

func (c *call) release() {
	clear(c.kv)
	c.kv = c.kv[:0]
	c.peer = peer.Peer{}
	calls.Put(c)
}

// build fills in from the JSON body, then the query, then the path
// parameters (each overriding the one before), or fails x with a 400.
func (m *Method) build(x *pipeline.Exchange, in *dynamicpb.Message) bool {
	req := &x.Ctx.Request
	if body := req.Body(); len(bytes.TrimSpace(body)) > 0 {
		if err := unmarshalJSON.Unmarshal(body, in); err != nil {
			return x.Fail(fault.BadRequest, "request body: "+err.Error())
		}
	}
	if args := x.Ctx.QueryArgs(); args.Len() > 0 {
		// Query values of a repeated field replace the body's list: clear
		// every such field first, then append.
		for k := range args.All() {
			if fp := m.queryField(k); fp != nil && fp.last().IsList() {
				fp.clear(in)
			}
		}
		for k, v := range args.All() {
			if fp := m.queryField(k); fp != nil {
				if err := fp.set(in, v); err != nil {
					return x.Fail(fault.BadRequest, "query parameter "+string(k)+": "+err.Error())
				}
			}
		}
	}
	for i := range x.Params.Len() {
		name := x.Params.Name(i)
		for _, p := range m.params {
			if p.name != name {
				continue
			}
			if err := p.field.set(in, x.Params.Value(i)); err != nil {
				return x.Fail(fault.BadRequest, "path parameter "+name+": "+err.Error())
			}
		}
	}
	return true
}

// outgoing attaches the forwarded request headers as gRPC metadata.
func (m *Method) outgoing(ctx context.Context, x *pipeline.Exchange, c *call) context.Context {
	h := &x.Ctx.Request.Header
	for _, mh := range m.meta {
		if v := h.Peek(mh.name); len(v) > 0 && validMetadataValue(v) {
			c.kv = append(c.kv, mh.key, string(v))
		}
	}
	if len(c.kv) == 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, c.kv...)
}

// fail maps a failed call to the contract's status and fails x with it.
// reached tells whether the call got to a server.
func fail(x *pipeline.Exchange, err error, reached bool, ctxErr error) int {
	st, _ := status.FromError(err)
	code := st.Code()
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		code = codes.DeadlineExceeded
	}
	kind, msg := httpStatus(code, reached)
	if kind.Status() < 500 && st.Message() != "" {
		msg = st.Message() // the upstream's own words help the client
	}
	if kind == fault.RateLimited {
		x.AddResponseHeaderString("Retry-After", "1")
	}
	x.Fail(kind, msg)
	return kind.Status()
}

// httpStatus maps a gRPC status code to the HTTP status, error code and
// default message the gateway answers.
func httpStatus(code codes.Code, reached bool) (fault.Kind, string) {
	switch code {
	case codes.NotFound:
		return fault.NotFound, "not found"
	case codes.InvalidArgument:
		return fault.BadRequest, "invalid argument"
	case codes.Unauthenticated:
		return fault.Unauthorized, "unauthenticated"
	case codes.PermissionDenied:
		return fault.Forbidden, "permission denied"
	case codes.ResourceExhausted:
		return fault.RateLimited, "upstream resource exhausted"
	case codes.DeadlineExceeded:
		return fault.UpstreamTimeout, "upstream did not answer in time"
	case codes.Unavailable:
		if !reached {
			return fault.BadGateway, "upstream refused the connection"
		}
		return fault.Unavailable, "upstream unavailable"
	}
	return fault.BadGateway, "upstream failed: " + code.String()
}
