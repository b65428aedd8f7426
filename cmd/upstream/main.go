// Command upstream is a small demo and test upstream service for sluice.
//
// It answers a handful of shop-like JSON endpoints (catalog, cart, checkout,
// users, feed, notifications) plus test helpers (/echo, /status, /slow,
// /stream) and can add latency and random 500s, so that the demo, the
// black-box tests and the benchmark harness share one well-known backend.
// Every answer carries X-Served-By with the service's -name.
//
//	GET  /healthz                  200 "ok" (never delayed or failed)
//	GET  /catalog/{sku}, /products/{sku}   {"sku","name","price","currency","served_by"}
//	GET|POST /cart, /cart/{id}     the cart; POST stores the posted JSON as its items
//	POST /checkout                 201 {"order_id","status","request": <posted JSON>}
//	GET  /users/{id}               a profile
//	GET  /feed                     a JSON array of three items
//	GET  /notifications/count      {"count":3}
//	ANY  /echo/...                 the request as received: method, path (raw URI),
//	                               host, headers, body, served_by
//	GET  /status/{code}            answers that status
//	GET  /slow?ms=N                answers after N ms
//	GET  /stream                   text/event-stream, 5 events 50ms apart, chunked
//	GET  /stats                    {"requests": N} (requests seen, health checks excluded)
//
// Any request may add response headers with ?header=Name:Value (repeatable),
// e.g. ?header=Cache-Control:max-age=5 for cache tests.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sluice-gw/sluice/engine/grpcgw/grpctest"
)

func main() {
	var opts Options
	fs := flag.NewFlagSet("upstream", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:9001", "address to listen on")
	fs.StringVar(&opts.Name, "name", "upstream", "service name reported in X-Served-By and served_by")
	fs.DurationVar(&opts.Latency, "latency", 0, "latency added to every answer except /healthz")
	fs.Float64Var(&opts.ErrorRate, "error-rate", 0, "fraction (0..1) of requests answered 500, except /healthz")
	grpcListen := fs.String("grpc", "", "also serve the demo gRPC catalog (catalog.v1.Catalog) on this address")
	_ = fs.Parse(os.Args[1:])
	if *grpcListen != "" {
		gln, err := net.Listen("tcp", *grpcListen)
		if err != nil {
			fmt.Fprintf(os.Stderr, "upstream: listen grpc: %v\n", err)
			os.Exit(1)
		}
		defer grpctest.Serve(gln).Stop()
		fmt.Fprintf(os.Stderr, "upstream %s serving gRPC on %s\n", opts.Name, gln.Addr())
	}
	if opts.ErrorRate < 0 || opts.ErrorRate > 1 {
		fmt.Fprintln(os.Stderr, "upstream: -error-rate must be within 0..1")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "upstream: listen: %v\n", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(os.Stderr, "upstream %s listening on %s\n", opts.Name, ln.Addr())
	if err := Run(ctx, ln, opts); err != nil {
		fmt.Fprintf(os.Stderr, "upstream: %v\n", err)
		os.Exit(1)
	}
}

// Run serves the upstream on ln until ctx is done, then shuts down within a
// few seconds. It closes ln.
func Run(ctx context.Context, ln net.Listener, opts Options) error {
	srv := NewServer(opts)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.ShutdownWithContext(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
