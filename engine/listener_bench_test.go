package engine_test

import (
	"net"
	"testing"

	"github.com/sluice-gw/sluice/engine"
	"github.com/valyala/fasthttp"
)

// BenchmarkListenerProxyProtocol serves the plain proxy path on a real
// loopback listener with proxy_protocol off and required (v1 and v2
// headers): each keep-alive connection sends its header once, so the
// difference per request is the PROXY layer's cost after the header.
func BenchmarkListenerProxyProtocol(b *testing.B) {
	up := fastUpstream(b)
	for _, bc := range []struct {
		name, mode string
		header     []byte
	}{
		{"off", "off", nil},
		{"v1", "required", []byte(v1Header("203.0.113.7"))},
		{"v2", "required", v2Header(b, "203.0.113.7", false)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e, errs := engine.Load([]byte(cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off", "proxy_protocol": %q, "trusted_proxies": ["127.0.0.1/32"]},
  "services": {"catalog": {"targets": [%q]}},
  "routes": [{"name": "product", "path": "/api/products/{sku}", "methods": ["GET"], "service": "catalog", "strip_prefix": "/api"}]
}`, bc.mode, up)))
			if len(errs) > 0 {
				b.Fatal(errs)
			}
			srv, err := engine.NewServer(e)
			if err != nil {
				b.Fatal(err)
			}
			if err := srv.Listen(); err != nil {
				b.Fatal(err)
			}
			if err := e.Start(); err != nil {
				b.Fatal(err)
			}
			srv.Serve()
			b.Cleanup(func() {
				srv.Shutdown()
				e.Close()
			})
			addr := srv.Addr().String()
			c := &fasthttp.HostClient{Addr: addr, MaxConns: 1, Dial: func(string) (net.Conn, error) {
				conn, err := net.Dial("tcp", addr)
				if err == nil && bc.header != nil {
					_, err = conn.Write(bc.header)
				}
				return conn, err
			}}
			runProxyBench(b, c, "http://gateway/api/products/abc?x=1", nil)
		})
	}
}
