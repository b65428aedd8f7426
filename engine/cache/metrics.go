package cache

import "github.com/VictoriaMetrics/metrics"

// result is one outcome of a cached route, with its header value, access-log
// name and counter, all built once per store.
type result struct {
	header  string
	name    string
	counter *metrics.Counter
}

// results are a store's four outcomes.
type results struct {
	hit, miss, bypass, stale *result
}

func newResults(set *metrics.Set) results {
	return results{
		hit:    newResult(set, "HIT", "hit"),
		miss:   newResult(set, "MISS", "miss"),
		bypass: newResult(set, "BYPASS", "bypass"),
		stale:  newResult(set, "STALE", "stale"),
	}
}

func newResult(set *metrics.Set, header, name string) *result {
	return &result{
		header:  header,
		name:    name,
		counter: set.GetOrCreateCounter(`sluice_cache_requests_total{result="` + name + `"}`),
	}
}
