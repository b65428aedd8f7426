package ratelimit

import (
	"strings"

	"github.com/VictoriaMetrics/metrics"
	"github.com/cespare/xxhash/v2"
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
	"github.com/sluice-gw/sluice/engine/pipeline"
	"github.com/sluice-gw/sluice/limiter"
)

// keyKind is what a policy counts requests by.
type keyKind uint8

const (
	keyIP keyKind = iota
	keyHeader
	keyClaim
	keyConsumer
	keyRoute
)

// policy is one compiled rate_limits entry: its buckets and its counters.
type policy struct {
	name     string
	kind     keyKind
	arg      string  // header or claim name
	cluster  bool    // scope: cluster
	rate     float64 // this instance's refill rate, tokens per second
	lim      *limiter.Limiter
	rejected *metrics.Counter
	keys     *metrics.Gauge
}

// parseKey splits a policy's key into its kind and argument.
func parseKey(key string) (keyKind, string, bool) {
	switch key {
	case "ip":
		return keyIP, "", true
	case "consumer":
		return keyConsumer, "", true
	case "route":
		return keyRoute, "", true
	}
	if name, ok := strings.CutPrefix(key, "header:"); ok && httpbytes.ValidToken(name) {
		return keyHeader, name, true
	}
	if name, ok := strings.CutPrefix(key, "claim:"); ok && name != "" {
		return keyClaim, name, true
	}
	return 0, "", false
}

// compilePolicy validates rl (at JSON path path) and builds its limiter. The
// instance split divides rate and burst by instances; with a shared store
// (shared: cluster.redis is set) the split is the starting point that the
// sync then adjusts, and the limiter counts usage for it.
func compilePolicy(name, path string, rl *config.RateLimit, instances int, shared bool, set *metrics.Set, errs *config.Errors) *policy {
	n := len(*errs)
	kind, arg, ok := parseKey(rl.Key)
	if !ok {
		errs.Add(config.Join(path, "key"), "invalid key %q (want ip, header:NAME, claim:NAME, consumer or route)", rl.Key)
	}
	if rl.Requests <= 0 {
		errs.Add(config.Join(path, "requests"), "must be greater than 0")
	}
	if rl.Per <= 0 {
		errs.Add(config.Join(path, "per"), "must be a positive duration")
	}
	burst := rl.Burst
	if burst < 0 {
		errs.Add(config.Join(path, "burst"), "must not be negative")
	} else if burst == 0 {
		burst = rl.Requests
	}
	cluster := false
	switch rl.Scope {
	case "", "instance":
	case "cluster":
		cluster = true
	default:
		errs.Add(config.Join(path, "scope"), "invalid scope %q (want instance or cluster)", rl.Scope)
	}
	split := 1
	if cluster {
		split = max(instances, 1)
		if burst > 0 && burst < split {
			errs.Add(config.Join(path, "burst"), "burst %d split across %d instances is less than one request each", burst, split)
		}
	}
	if len(*errs) > n {
		return nil
	}
	rate := float64(rl.Requests) / rl.Per.D().Seconds() / float64(split)
	lim := limiter.New(limiter.Config{
		Rate:       rate,
		Burst:      float64(burst) / float64(split),
		CountUsage: cluster && shared,
		// A synced bucket refills at its instance's share of the fleet rate.
		FleetRate: rate * float64(split),
	})
	label := `{policy="` + metricLabel(name) + `"}`
	return &policy{
		name:     name,
		kind:     kind,
		arg:      arg,
		cluster:  cluster,
		rate:     rate,
		lim:      lim,
		rejected: set.GetOrCreateCounter("sluice_ratelimit_rejected_total" + label),
		keys:     set.GetOrCreateGauge("sluice_ratelimit_keys"+label, nil),
	}
}

// metricLabel escapes s for a Prometheus label value.
func metricLabel(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return r.Replace(s)
}

// key returns the bytes that select x's bucket; empty means the policy's
// shared anonymous bucket.
func (p *policy) key(x *pipeline.Exchange) []byte {
	switch p.kind {
	case keyIP:
		return x.ClientIP
	case keyHeader:
		if x.Ctx == nil {
			return nil
		}
		return x.Ctx.Request.Header.Peek(p.arg)
	case keyClaim:
		if x.Claims == nil {
			return nil
		}
		v, _ := x.Claims.Claim(p.arg)
		return v
	case keyConsumer:
		return x.Consumer
	}
	return nil
}

// hash is the bucket key of x under p; routeHash serves key "route".
func (p *policy) hash(x *pipeline.Exchange, routeHash uint64) uint64 {
	if p.kind == keyRoute {
		return routeHash
	}
	return xxhash.Sum64(p.key(x))
}
