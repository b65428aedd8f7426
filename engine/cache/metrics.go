package cache

import (
	"sync"

	"github.com/VictoriaMetrics/metrics"
)

// result is one outcome of a cached route, with its header value, access-log
// name and counter, all built once.
type result struct {
	header  string
	name    string
	counter *metrics.Counter
}

var (
	resHit    = newResult("HIT", "hit")
	resMiss   = newResult("MISS", "miss")
	resBypass = newResult("BYPASS", "bypass")
	resStale  = newResult("STALE", "stale")
)

func newResult(header, name string) *result {
	return &result{
		header:  header,
		name:    name,
		counter: metrics.GetOrCreateCounter(`sluice_cache_requests_total{result="` + name + `"}`),
	}
}

// live holds the open stores, summed by the sluice_cache_bytes gauge at
// scrape time (ristretto already tracks the cost it holds).
var live struct {
	sync.Mutex
	stores []*Store
}

func init() {
	metrics.NewGauge(`sluice_cache_bytes`, func() float64 { return float64(bytesHeld()) })
}

func register(s *Store) {
	live.Lock()
	live.stores = append(live.stores, s)
	live.Unlock()
}

func unregister(s *Store) {
	live.Lock()
	defer live.Unlock()
	for i, o := range live.stores {
		if o == s {
			live.stores = append(live.stores[:i], live.stores[i+1:]...)
			return
		}
	}
}

// bytesHeld is the cost held by every open store.
func bytesHeld() int64 {
	live.Lock()
	defer live.Unlock()
	var n int64
	for _, s := range live.stores {
		n += s.used()
	}
	return n
}
