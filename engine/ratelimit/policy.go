package ratelimit

import (
	"strings"

	"github.com/VictoriaMetrics/metrics"
	"github.com/cespare/xxhash/v2"
	"github.com/sluice-gw/sluice/engine/fielderr"
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

// compilePolicy validates po and builds its limiter; its problems go to errs
// under the policy's name. The instance split divides rate and burst by
// instances; with a shared store (shared: cluster.redis is set) the split is
// the starting point that the sync then adjusts, and the limiter counts
// usage for it.
func compilePolicy(po *PolicyOptions, instances int, shared bool, set *metrics.Set, errs *fielderr.List) *policy {
	n := len(*errs)
	name := po.Name
	at := func(field string) string { return fielderr.Join(name, field) }
	kind, arg, ok := parseKey(po.Key)
	if !ok {
		errs.Add(at("key"), "invalid key %q (want ip, header:NAME, claim:NAME, consumer or route)", po.Key)
	}
	if po.Requests <= 0 {
		errs.Add(at("requests"), "must be greater than 0")
	}
	if po.Per <= 0 {
		errs.Add(at("per"), "must be a positive duration")
	}
	burst := po.Burst
	if burst < 0 {
		errs.Add(at("burst"), "must not be negative")
	} else if burst == 0 {
		burst = po.Requests
	}
	cluster := false
	switch po.Scope {
	case "", "instance":
	case "cluster":
		cluster = true
	default:
		errs.Add(at("scope"), "invalid scope %q (want instance or cluster)", po.Scope)
	}
	split := 1
	if cluster {
		split = max(instances, 1)
		if burst > 0 && burst < split {
			errs.Add(at("burst"), "burst %d split across %d instances is less than one request each", burst, split)
		}
	}
	if len(*errs) > n {
		return nil
	}
	rate := float64(po.Requests) / po.Per.Seconds() / float64(split)
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
