package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/sluice-gw/sluice/engine/config"
	"github.com/sluice-gw/sluice/limiter"
)

// Defaults of cluster.redis.
const (
	defaultSyncInterval = 50 * time.Millisecond
	defaultKeyPrefix    = "sluice:"
	// probeEvery is how often a degraded syncer checks whether Redis is back.
	probeEvery = 250 * time.Millisecond
	// chunk bounds the keys of one script call; a sync pipelines the chunks.
	chunk = 512
)

// syncScript applies one instance's usage to the fleet buckets and returns
// each bucket's tokens. A fleet bucket is a hash {g: tokens, t: ms} refilled
// with Redis's own clock; it may go negative (debt), so usage admitted on
// stale information is paid back. It expires when it would be full anyway.
// ARGV: rate (tokens/ms), burst, then one usage count per key.
var syncScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'g', 't')
  local g, ts = tonumber(v[1]), tonumber(v[2])
  if g == nil or ts == nil then
    g, ts = burst, now
  end
  if now > ts then
    g = math.min(burst, g + (now - ts) * rate)
  end
  g = g - tonumber(ARGV[i + 2])
  redis.call('HSET', key, 'g', string.format('%.6f', g), 't', string.format('%d', now))
  redis.call('PEXPIRE', key, string.format('%d', math.ceil((burst - g) / rate) + 1000))
  out[i] = string.format('%.6f', g)
end
return out
`)

// syncOptions is the validated cluster.redis block.
type syncOptions struct {
	redis    *redis.Options
	interval time.Duration
	prefix   string
}

// redisOptions validates cluster.redis (at JSON path path) and applies defaults.
func redisOptions(r *config.Redis, path string) (*syncOptions, config.Errors) {
	var errs config.Errors
	if r.Addr == "" {
		errs.Add(config.Join(path, "addr"), "required")
	} else if _, port, err := net.SplitHostPort(r.Addr); err != nil || port == "" {
		errs.Add(config.Join(path, "addr"), "invalid address %q (want host:port)", r.Addr)
	}
	password := r.Password
	switch {
	case r.Password != "" && r.PasswordEnv != "":
		errs.Add(config.Join(path, "password_env"), "set password or password_env, not both")
	case r.PasswordEnv != "":
		v, ok := os.LookupEnv(r.PasswordEnv)
		if !ok {
			errs.Add(config.Join(path, "password_env"), "environment variable %q is not set", r.PasswordEnv)
		}
		password = v
	}
	interval := r.SyncInterval.D()
	if interval == 0 {
		interval = defaultSyncInterval
	}
	prefix := r.KeyPrefix
	if prefix == "" {
		prefix = defaultKeyPrefix
	}
	if len(errs) > 0 {
		return nil, errs
	}
	io := max(interval, 10*time.Millisecond)
	return &syncOptions{
		redis: &redis.Options{
			Addr:                  r.Addr,
			Password:              password,
			Protocol:              2,
			DialTimeout:           min(max(io, 100*time.Millisecond), time.Second),
			ReadTimeout:           io,
			WriteTimeout:          io,
			ContextTimeoutEnabled: true,
			MaxRetries:            -1, // a late answer is useless: the next interval retries
			DialerRetries:         1,
			PoolSize:              2,
			DisableIdentity:       true,
			MaintNotificationsConfig: &maintnotifications.Config{
				Mode: maintnotifications.ModeDisabled,
			},
		},
		interval: interval,
		prefix:   prefix,
	}, nil
}

// syncer shares the cluster-scoped policies' quotas through Redis.
type syncer struct {
	client    *redis.Client
	interval  time.Duration
	prefix    string
	policies  []*policy
	instances float64

	degraded     bool        // on the plain split until Redis answers again
	degradedFlag atomic.Bool // degraded, for readers outside the loop
	lastProbe    time.Time

	errors   *metrics.Counter
	syncs    *metrics.Counter
	fallback *metrics.Gauge

	usage [][]limiter.Usage // per policy, reused between ticks
}

func newSyncer(o *syncOptions, policies []*policy, instances int) *syncer {
	return &syncer{
		client:    redis.NewClient(o.redis),
		interval:  o.interval,
		prefix:    o.prefix,
		policies:  policies,
		instances: float64(instances),
		errors:    metrics.GetOrCreateCounter("sluice_ratelimit_redis_errors_total"),
		syncs:     metrics.GetOrCreateCounter("sluice_ratelimit_redis_syncs_total"),
		fallback:  metrics.GetOrCreateGauge("sluice_ratelimit_redis_fallback", nil),
		usage:     make([][]limiter.Usage, len(policies)),
	}
}

func (s *syncer) close() { _ = s.client.Close() }

// run syncs once per interval until ctx ends.
func (s *syncer) run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.tick(ctx)
	}
}

// tick is one sync: report usage, read the fleet's buckets, set the local
// ones. While degraded it only drops the usage (the split needs none) and,
// now and then, checks whether Redis is back.
func (s *syncer) tick(ctx context.Context) {
	for i, p := range s.policies {
		s.usage[i] = p.lim.AppendUsage(s.usage[i][:0])
	}
	if s.degraded {
		if time.Since(s.lastProbe) < probeEvery {
			return
		}
		s.lastProbe = time.Now()
		pctx, cancel := context.WithTimeout(ctx, max(s.interval, 100*time.Millisecond))
		err := s.probe(pctx)
		cancel()
		if err == nil {
			s.degraded = false
			s.degradedFlag.Store(false)
			s.fallback.Set(0)
			slog.Info("rate limit: Redis is back, sharing cluster quotas again", "addr", s.client.Options().Addr)
		}
		return // usage from the outage is not reported: the split already bounded it
	}
	if err := s.exchange(ctx); err != nil && ctx.Err() == nil {
		s.errors.Inc()
		s.degraded = true
		s.degradedFlag.Store(true)
		s.lastProbe = time.Now()
		s.fallback.Set(1)
		slog.Warn("rate limit: Redis sync failed, each instance falls back to its split of cluster quotas",
			"addr", s.client.Options().Addr, "error", err)
	}
}

// probe checks that Redis answers. It tries a plain TCP connection first so
// that a long outage does not fill the log with the client's dial errors.
func (s *syncer) probe(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", s.client.Options().Addr)
	if err != nil {
		return err
	}
	_ = c.Close()
	return s.client.Ping(ctx).Err()
}

// exchange sends every policy's usage in one pipelined round trip and sets
// the local buckets from the answers.
func (s *syncer) exchange(ctx context.Context) error {
	type call struct {
		p    *policy
		keys []uint64
		cmd  *redis.Cmd
	}
	var calls []call
	ctx, cancel := context.WithTimeout(ctx, max(s.interval, 10*time.Millisecond))
	defer cancel()
	pipe := s.client.Pipeline()
	for i, p := range s.policies {
		u := s.usage[i]
		for len(u) > 0 {
			n := min(len(u), chunk)
			keys := make([]string, n)
			hashes := make([]uint64, n)
			args := make([]any, 0, n+2)
			// The script works in the fleet's units: full rate and burst.
			args = append(args, p.rate*s.instances/1000, p.lim.Burst()*s.instances)
			for j, e := range u[:n] {
				keys[j] = s.redisKey(p, e.Key)
				hashes[j] = e.Key
				args = append(args, e.Used)
			}
			calls = append(calls, call{p: p, keys: hashes, cmd: syncScript.Eval(ctx, pipe, keys, args...)})
			u = u[n:]
		}
	}
	if len(calls) == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis sync: %w", err)
	}
	s.syncs.Inc()
	for _, c := range calls {
		vals, err := c.cmd.StringSlice()
		if err != nil || len(vals) != len(c.keys) {
			return fmt.Errorf("redis sync: unexpected script answer: %v", err)
		}
		for j, v := range vals {
			g, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("redis sync: bad bucket level %q", v)
			}
			// Each instance may spend an equal share of what the fleet has left.
			c.p.lim.SetLevel(c.keys[j], max(g, 0)/s.instances)
		}
	}
	return nil
}

// redisKey names key's fleet bucket of p: prefix, policy name, hash in hex.
func (s *syncer) redisKey(p *policy, key uint64) string {
	b := make([]byte, 0, len(s.prefix)+len(p.name)+18)
	b = append(b, s.prefix...)
	b = append(b, p.name...)
	b = append(b, ':')
	b = strconv.AppendUint(b, key, 16)
	return string(b)
}

// isDegraded reports whether the instance is on its plain split.
func (s *syncer) isDegraded() bool { return s.degradedFlag.Load() }
