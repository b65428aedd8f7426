package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/sluice-gw/sluice/engine/fielderr"
	"github.com/sluice-gw/sluice/engine/internal/tick"
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

// syncScript applies one instance's usage to the fleet buckets and returns,
// for each bucket, the tokens the fleet may share out and this instance's
// share of the fleet's demand.
//
// A fleet bucket is a hash {g: tokens, t: ms} refilled with Redis's own clock;
// it may go negative (debt), so usage admitted on stale information is paid
// back. Beside them each instance keeps r:<id> (its request rate for the key,
// per ms, exponentially weighted over tau), c:<id> (the fraction of a token
// its local bucket keeps, at most 1) and s:<id> (when it last reported). An
// instance's share is its rate over the sum of the rates, each decayed to
// now; an instance silent for 10·tau is deleted. A first report seeds the
// rate from the calls counted over the instance's last interval, so a new
// instance takes its demand's share at once, neither nothing nor an equal
// part. What may be shared out is g less the fractions the instances keep
// (those of the last tau/4). The key expires when the bucket would be full
// and the rates forgotten anyway.
//
// KEYS: the buckets (one hash slot). ARGV: fleet rate (tokens/ms), fleet
// burst, instance id, tau (ms), the span the counts cover (ms), then per key
// the tokens used, the calls offered and the fraction kept.
var syncScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local rf, sf, cf = 'r:' .. ARGV[3], 's:' .. ARGV[3], 'c:' .. ARGV[3]
local tau = tonumber(ARGV[4])
local span = math.max(tonumber(ARGV[5]), 1)
local out = {}
for i, key in ipairs(KEYS) do
  local used = tonumber(ARGV[3 + 3 * i])
  local offered = tonumber(ARGV[4 + 3 * i])
  local left = tonumber(ARGV[5 + 3 * i])
  local h = redis.call('HGETALL', key)
  local f = {}
  for j = 1, #h, 2 do f[h[j]] = h[j + 1] end
  local g, ts = tonumber(f['g']), tonumber(f['t'])
  if g == nil or ts == nil then
    g, ts = burst, now
  end
  if now > ts then
    g = math.min(burst, g + (now - ts) * rate)
  end
  g = g - used
  local mine = tonumber(f[rf])
  if mine == nil then
    mine = offered / span
  else
    local age = math.max(now - (tonumber(f[sf]) or now), 0)
    mine = mine * math.exp(-age / tau) + offered / tau
  end
  local total, kept = mine, left
  for name, v in pairs(f) do
    if string.sub(name, 1, 2) == 'r:' and name ~= rf then
      local other = string.sub(name, 3)
      local age = math.max(now - (tonumber(f['s:' .. other]) or 0), 0)
      if age > 10 * tau then
        redis.call('HDEL', key, name, 's:' .. other, 'c:' .. other)
      else
        total = total + (tonumber(v) or 0) * math.exp(-age / tau)
        if age <= tau / 4 then
          kept = kept + (tonumber(f['c:' .. other]) or 0)
        end
      end
    end
  end
  local share = 1
  if total > 0 then
    share = mine / total
  end
  redis.call('HSET', key, 'g', string.format('%.6f', g), 't', string.format('%d', now),
    rf, string.format('%.17g', mine), sf, string.format('%d', now), cf, string.format('%.6f', left))
  redis.call('PEXPIRE', key, string.format('%d', math.max(math.ceil((burst - g) / rate), 10 * tau) + 1000))
  out[2 * i - 1] = string.format('%.6f', g - kept)
  out[2 * i] = string.format('%.6f', share)
end
return out
`)

// redisMode is how cluster.redis reaches Redis.
type redisMode uint8

const (
	modeSingle   redisMode = iota // addr: one Redis
	modeSentinel                  // addrs + master_name: the master Sentinel names
	modeCluster                   // addrs: Redis Cluster
)

func (m redisMode) String() string {
	switch m {
	case modeSentinel:
		return "sentinel"
	case modeCluster:
		return "cluster"
	}
	return "single"
}

// syncOptions is the validated cluster.redis block.
type syncOptions struct {
	redis    *redis.UniversalOptions
	mode     redisMode
	where    string // addresses (and master name) for log lines
	interval time.Duration
	prefix   string
}

// RedisOptions configure the shared quota store (cluster.redis): one Redis
// (Addr), Sentinel (Addrs with MasterName) or Redis Cluster (Addrs alone).
type RedisOptions struct {
	Addr       string
	Addrs      []string
	MasterName string
	// SyncInterval is how often usage is synced; 0 (or less) means 50ms.
	SyncInterval time.Duration
	// KeyPrefix starts every Redis key; empty means "sluice:".
	KeyPrefix string
	// Password, or the environment variable that holds it (not both).
	Password    string
	PasswordEnv string
}

// Store is a validated shared quota store, for Options.Store. It holds
// settings only: the connection is made by a started Set.
type Store struct {
	opts *syncOptions
}

// NewStore validates r and applies its defaults. Its problems are a
// fielderr.List with paths relative to r ("addrs[1]").
func NewStore(r RedisOptions) (*Store, error) {
	var errs fielderr.List
	mode := modeSingle
	var addrs []string
	switch {
	case r.Addr != "" && len(r.Addrs) > 0:
		errs.Add("addrs", "set addr (one Redis) or addrs (Sentinel or Cluster), not both")
	case r.Addr != "":
		if r.MasterName != "" {
			errs.Add("master_name", "needs addrs (the Sentinel addresses), not addr")
		}
		if !validAddr(r.Addr) {
			errs.Add("addr", "invalid address %q (want host:port)", r.Addr)
		}
		addrs = []string{r.Addr}
	case len(r.Addrs) > 0:
		mode = modeCluster
		if r.MasterName != "" {
			mode = modeSentinel
		}
		seen := make(map[string]bool, len(r.Addrs))
		for i, a := range r.Addrs {
			at := fielderr.Index("addrs", i)
			switch {
			case !validAddr(a):
				errs.Add(at, "invalid address %q (want host:port)", a)
			case seen[a]:
				errs.Add(at, "address %q listed twice", a)
			}
			seen[a] = true
		}
		addrs = r.Addrs
	case r.MasterName != "":
		errs.Add("addrs", "required with master_name (the Sentinel addresses)")
	default:
		errs.Add("addr", "required: set addr (one Redis) or addrs (Sentinel with master_name, else Redis Cluster)")
	}
	if strings.TrimSpace(r.MasterName) != r.MasterName {
		errs.Add("master_name", "must not start or end with spaces")
	}
	password := r.Password
	switch {
	case r.Password != "" && r.PasswordEnv != "":
		errs.Add("password_env", "set password or password_env, not both")
	case r.PasswordEnv != "":
		v, ok := os.LookupEnv(r.PasswordEnv)
		if !ok {
			errs.Add("password_env", "environment variable %q is not set", r.PasswordEnv)
		}
		password = v
	}
	interval := r.SyncInterval
	if interval <= 0 { // the config parser refuses negative durations
		interval = defaultSyncInterval
	}
	prefix := r.KeyPrefix
	if prefix == "" {
		prefix = defaultKeyPrefix
	}
	if mode == modeCluster && strings.ContainsAny(prefix, "{}") {
		errs.Add("key_prefix", "must not contain { or } with Redis Cluster (the gateway hash-tags its keys)")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	io := syncTimeout(interval)
	where := strings.Join(addrs, ",")
	if mode == modeSentinel {
		where = r.MasterName + "@" + where
	}
	return &Store{opts: &syncOptions{
		redis: &redis.UniversalOptions{
			Addrs:                 addrs,
			MasterName:            r.MasterName,
			IsClusterMode:         mode == modeCluster,
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
		mode:     mode,
		where:    where,
		interval: interval,
		prefix:   prefix,
	}}, nil
}

// syncTimeout bounds one sync's round trip: two intervals, at least 100 ms,
// so that a busy machine's scheduling hiccup is not taken for an outage
// (whose fallback would forget the usage of the interval).
func syncTimeout(interval time.Duration) time.Duration {
	return max(2*interval, 100*time.Millisecond)
}

// validAddr reports whether a is host:port with a port.
func validAddr(a string) bool {
	_, port, err := net.SplitHostPort(a)
	return err == nil && port != ""
}

// syncer shares the cluster-scoped policies' quotas through Redis.
type syncer struct {
	client    redis.UniversalClient
	mode      redisMode
	where     string
	interval  time.Duration
	tau       time.Duration // demand averaging time
	prefix    string
	groups    uint64 // hash-tag groups a policy's keys are spread over
	id        string // this instance's name in the fleet buckets
	policies  []*policy
	instances float64

	degraded     bool        // on the plain split until Redis answers again
	degradedFlag atomic.Bool // degraded, for readers outside the loop
	lastProbe    time.Time
	lastCollect  time.Time // when usage was last collected: the counts' span
	retry        bool      // the last sync failed: its usage is still in usage

	errors   *metrics.Counter
	syncs    *metrics.Counter
	fallback *metrics.Gauge
	duration *metrics.Histogram

	usage [][]limiter.Usage // per policy, reused between ticks
}

// clusterGroups is how many hash tags (so slots, so possibly nodes) one
// policy's keys are spread over with Redis Cluster; a script call only ever
// carries keys of one group.
const clusterGroups = 16

func newSyncer(o *syncOptions, policies []*policy, instances int, set *metrics.Set) *syncer {
	installRedisLogger()
	var id [8]byte
	_, _ = rand.Read(id[:])
	groups := uint64(1)
	if o.mode == modeCluster {
		groups = clusterGroups
	}
	return &syncer{
		client:      redis.NewUniversalClient(o.redis),
		mode:        o.mode,
		where:       o.where,
		interval:    o.interval,
		tau:         max(time.Second, 10*o.interval),
		prefix:      o.prefix,
		groups:      groups,
		id:          hex.EncodeToString(id[:]),
		policies:    policies,
		instances:   float64(instances),
		lastCollect: time.Now(),
		errors:      set.GetOrCreateCounter("sluice_ratelimit_redis_errors_total"),
		syncs:       set.GetOrCreateCounter("sluice_ratelimit_redis_syncs_total"),
		fallback:    set.GetOrCreateGauge("sluice_ratelimit_redis_fallback", nil),
		duration:    set.GetOrCreateHistogram("sluice_ratelimit_redis_sync_duration_seconds"),
		usage:       make([][]limiter.Usage, len(policies)),
	}
}

func (s *syncer) close() { _ = s.client.Close() }

// warmUpTimeout bounds the connection and script load before the first sync.
const warmUpTimeout = time.Second

// run syncs once per interval until ctx ends.
func (s *syncer) run(ctx context.Context) {
	s.warmUp(ctx)
	tick.Every(ctx, s.interval, func(time.Time) { s.tick(ctx) })
}

// warmUp connects (with Cluster: learns the slots) and loads the script
// before the first interval, so that the first sync's tight timeout does not
// fall on them and send a fresh instance to its split. Errors are the first
// sync's to report.
func (s *syncer) warmUp(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, warmUpTimeout)
	defer cancel()
	_ = syncScript.Load(ctx, s.client).Err()
	s.lastCollect = time.Now()
}

// tick is one sync: report usage and demand, read the fleet's buckets, set
// the local ones. A failed sync keeps its usage for the next one (a single
// slow answer is not an outage, and forgetting the usage would let the fleet
// spend it again); a second failure in a row falls back to the split. While
// degraded it only drops the usage (the split needs none) and, now and then,
// checks whether Redis is back.
func (s *syncer) tick(ctx context.Context) {
	for i, p := range s.policies {
		if !s.retry {
			s.usage[i] = s.usage[i][:0]
		}
		s.usage[i] = p.lim.AppendUsage(s.usage[i])
	}
	now := time.Now()
	span := now.Sub(s.lastCollect)
	if s.degraded {
		s.lastCollect = now
		if now.Sub(s.lastProbe) < probeEvery {
			return
		}
		s.lastProbe = now
		pctx, cancel := context.WithTimeout(ctx, max(s.interval, 100*time.Millisecond))
		err := s.client.Ping(pctx).Err()
		cancel()
		if err == nil {
			s.degraded = false
			s.degradedFlag.Store(false)
			s.fallback.Set(0)
			slog.Info("rate limit: Redis is back, sharing cluster quotas again", "redis", s.where, "mode", s.mode.String())
		}
		return // usage from the outage is not reported: the split already bounded it
	}
	err := s.exchange(ctx, span)
	if err == nil || ctx.Err() != nil {
		s.retry = false
		s.lastCollect = now
		return
	}
	s.errors.Inc()
	if !s.retry {
		s.retry = true // send this usage again with the next interval's
		return
	}
	s.retry = false
	s.lastCollect = now
	s.degraded = true
	s.degradedFlag.Store(true)
	s.lastProbe = now
	s.fallback.Set(1)
	for _, p := range s.policies {
		p.lim.ResetShares() // back to the plain split's rate
	}
	slog.Warn("rate limit: Redis sync failed twice, each instance falls back to its split of cluster quotas",
		"redis", s.where, "mode", s.mode.String(), "error", err)
}

// call is one script call of a sync: keys of one policy and one group.
type call struct {
	p    *policy
	keys []string
	args []any
	hash []uint64
	left []float64 // Usage.Left of each key
	cmd  *redis.Cmd
}

// exchange sends every policy's usage in one pipelined round trip and sets
// the local buckets from the answers. span is the time the counts cover.
func (s *syncer) exchange(ctx context.Context, span time.Duration) error {
	calls := s.calls(span)
	if len(calls) == 0 {
		return nil
	}
	start := time.Now()
	parent := ctx
	ctx, cancel := context.WithTimeout(parent, syncTimeout(s.interval))
	defer cancel()
	err := s.send(ctx, calls)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// A new, restarted or promoted Redis does not know the script: load
		// it (on every master with Cluster) and send again, in a budget of
		// its own.
		ctx, cancel := context.WithTimeout(parent, warmUpTimeout)
		defer cancel()
		if lerr := syncScript.Load(ctx, s.client).Err(); lerr != nil {
			return fmt.Errorf("redis sync: load script: %w", lerr)
		}
		err = s.send(ctx, calls)
	}
	if err != nil {
		return fmt.Errorf("redis sync: %w", err)
	}
	s.duration.UpdateDuration(start)
	s.syncs.Inc()
	for _, c := range calls {
		vals, err := c.cmd.StringSlice()
		if err != nil || len(vals) != 2*len(c.hash) {
			return fmt.Errorf("redis sync: unexpected script answer (%d values for %d keys): %v", len(vals), len(c.hash), err)
		}
		for j, key := range c.hash {
			surplus, err1 := strconv.ParseFloat(vals[2*j], 64)
			share, err2 := strconv.ParseFloat(vals[2*j+1], 64)
			if err1 != nil || err2 != nil {
				return fmt.Errorf("redis sync: bad answer %q %q", vals[2*j], vals[2*j+1])
			}
			// The instance keeps its fraction of a token, may spend its
			// demand's share of what else the fleet has left, and refills at
			// that share of the fleet rate until the next sync.
			c.p.lim.SetShare(key, c.left[j]+max(surplus, 0)*share, share)
		}
	}
	return nil
}

// calls builds the script calls for the collected usage: per policy and
// hash-tag group, at most chunk keys each.
func (s *syncer) calls(span time.Duration) []*call {
	var calls []*call
	spanMs := max(span.Milliseconds(), 1)
	for i, p := range s.policies {
		// The script works in the fleet's units: full rate and burst.
		head := []any{p.rate * s.instances / 1000, p.lim.Burst() * s.instances, s.id, s.tau.Milliseconds(), spanMs}
		open := make([]*call, s.groups)
		for _, u := range s.usage[i] {
			g := u.Key % s.groups
			c := open[g]
			if c == nil || len(c.hash) == chunk {
				c = &call{p: p, args: append([]any(nil), head...)}
				open[g] = c
				calls = append(calls, c)
			}
			c.keys = append(c.keys, s.redisKey(p, g, u.Key))
			c.hash = append(c.hash, u.Key)
			c.left = append(c.left, u.Left)
			c.args = append(c.args, u.Used, u.Offered, strconv.FormatFloat(u.Left, 'f', 6, 64))
		}
	}
	return calls
}

// send runs calls in one pipeline.
func (s *syncer) send(ctx context.Context, calls []*call) error {
	pipe := s.client.Pipeline()
	for _, c := range calls {
		c.cmd = syncScript.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// redisKey names key's fleet bucket of p: prefix, then a hash tag of the
// policy name and group (so one script call touches one Cluster slot), then
// the key's hash in hex.
func (s *syncer) redisKey(p *policy, group, key uint64) string {
	b := make([]byte, 0, len(s.prefix)+len(p.name)+24)
	b = append(b, s.prefix...)
	b = append(b, '{')
	b = append(b, p.name...)
	b = append(b, ':')
	b = strconv.AppendUint(b, group, 16)
	b = append(b, "}:"...)
	b = strconv.AppendUint(b, key, 16)
	return string(b)
}

// isDegraded reports whether the instance is on its plain split.
func (s *syncer) isDegraded() bool { return s.degradedFlag.Load() }
