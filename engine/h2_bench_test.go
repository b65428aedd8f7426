package engine_test

import (
	"io"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"
)

// BenchmarkProtocols compares HTTP/1.1 and HTTP/2 on the same TLS listener
// and route (a proxied GET with a ~400-byte answer): c concurrent clients,
// HTTP/1.1 with one keep-alive connection per client, HTTP/2 with every
// stream on one connection. It reports requests/s and the p99 latency; the
// client runs in the same process, so the figures are for comparison only.
//
//	go test ./engine/ -run '^$' -bench Protocols -benchtime 4000x
func BenchmarkProtocols(b *testing.B) {
	up := startUpstream(b, "echo")
	g := startTLSGateway(b, ``, cfgf(`"services": {"s": {"targets": [%q]}}, "routes": [{"name": "r", "path": "/r", "service": "s"}]`, up.addr))
	g.h1.Transport.(*http.Transport).MaxIdleConnsPerHost = 512
	g.h1.Transport.(*http.Transport).MaxConnsPerHost = 512
	for _, c := range []struct {
		name        string
		client      *http.Client
		concurrency int
	}{
		{"http1.1/c16", g.h1, 16},
		{"h2/c16-one-conn", g.h2, 16},
		{"http1.1/c128", g.h1, 128},
		{"h2/c128-one-conn", g.h2, 128},
		{"h2/c500-one-conn", g.h2, 500},
	} {
		b.Run(c.name, func(b *testing.B) {
			benchLoad(b, c.client, g.url+"/r", c.concurrency, c.concurrency) // connect outside the timing
			b.ReportAllocs()
			b.ResetTimer()
			lat := benchLoad(b, c.client, g.url+"/r", c.concurrency, b.N)
			elapsed := b.Elapsed()
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		})
	}
}

// benchLoad sends n GETs from c goroutines and returns each one's latency.
func benchLoad(b *testing.B, client *http.Client, url string, c, n int) []time.Duration {
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	next := make(chan int, n)
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				start := time.Now()
				benchGet(b, client, url)
				lat[i] = time.Since(start)
			}
		}()
	}
	wg.Wait()
	return lat
}

func benchGet(b *testing.B, client *http.Client, url string) {
	resp, err := client.Get(url)
	if err != nil {
		b.Error(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Errorf("status %d", resp.StatusCode)
	}
}
