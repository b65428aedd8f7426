package engine_test

import (
	"strings"
	"testing"
)

// TestRateLimitConfigErrors pins the full JSON paths of the rate-limit
// stage's problems: the stage reports them relative to its options and the
// compile step places them under rate_limits, cluster.redis or the route.
func TestRateLimitConfigErrors(t *testing.T) {
	t.Setenv("RL_SET", "x")
	const route = `"services": {"a": {"targets": ["127.0.0.1:9"]}}, "routes": [{"name": "r", "path": "/r", "service": "a"}]`
	cases := []struct {
		cfg  string
		want []string
	}{
		{`"rate_limits": {"p": {"key": "cookie", "requests": 1, "per": "1s"}}`, []string{`rate_limits.p.key: invalid key "cookie"`}},
		{`"rate_limits": {"p": {"key": "ip", "requests": 0, "per": "1s"}}`, []string{`rate_limits.p.requests: must be greater than 0`}},
		{`"rate_limits": {"p": {"key": "ip", "requests": 1}}`, []string{`rate_limits.p.per: must be a positive duration`}},
		{`"rate_limits": {"p": null}`, []string{`rate_limits.p: must be an object`}},
		{`"cluster": {"instances": 3}, "rate_limits": {"p": {"key": "ip", "requests": 2, "per": "1s", "scope": "cluster"}}`,
			[]string{`rate_limits.p.burst: burst 2 split across 3 instances`}},
		{`"cluster": {"instances": -1}`, []string{`cluster.instances: must be at least 1`}},
		{`"cluster": {"redis": {}}`, []string{`cluster.redis.addr: required`}},
		{`"cluster": {"redis": {"addr": "127.0.0.1:1", "password_env": "RL_UNSET_VAR"}}`, []string{`cluster.redis.password_env: environment variable "RL_UNSET_VAR" is not set`}},
		{`"cluster": {"redis": {"addr": "127.0.0.1:1", "password": "a", "password_env": "RL_SET"}}`, []string{`cluster.redis.password_env: set password or password_env, not both`}},
		{`"cluster": {"redis": {"addrs": ["127.0.0.1:1", "nohost", "127.0.0.1:1"], "master_name": "m"}}`,
			[]string{`cluster.redis.addrs[1]: invalid address "nohost"`, `cluster.redis.addrs[2]: address "127.0.0.1:1" listed twice`}},
		{`"cluster": {"redis": {"addrs": ["127.0.0.1:1"], "key_prefix": "a{b}:"}}`, []string{`cluster.redis.key_prefix: must not contain { or } with Redis Cluster`}},
		{`"rate_limits": {"a": {"key": "x", "requests": -1, "per": "1s"}, "b": {"key": "ip", "requests": 1, "per": "1s", "scope": "?"}}`,
			[]string{`rate_limits.a.key`, `rate_limits.a.requests`, `rate_limits.b.scope`}},
		{`"rate_limits": {"a": {"key": "ip", "requests": 1, "per": "1s"}}, "services": {"a": {"targets": ["127.0.0.1:9"]}},
			"routes": [{"name": "r", "path": "/r", "service": "a"}, {"path": "/s", "service": "a", "rate_limits": ["a", "x", "a"]}]`,
			[]string{`routes[1].rate_limits[1]: unknown rate limit policy "x"`, `routes[1].rate_limits[2]: rate limit policy "a" listed twice`, `routes[1].name: required`}},
		{`"rate_limits": {"a": {"key": "ip", "requests": 1, "per": "1s"}}, "services": {"a": {"targets": ["127.0.0.1:9"]}},
			"routes": [{"name": "r", "path": "/r", "service": "a", "rate_limits": ["a","a","a","a","a","a","a","a","a","a","a","a","a","a","a","a","a"]}]`,
			[]string{`routes[0].rate_limits: at most 16 policies a route`}},
	}
	for _, c := range cases {
		cfg := `{` + c.cfg + `}`
		if !strings.Contains(c.cfg, `"routes"`) {
			cfg = `{` + c.cfg + `, ` + route + `}`
		}
		errs := compileErrors(t, cfg)
		if len(errs) != len(c.want) {
			t.Errorf("%s: got %d errors %q, want %d", c.cfg, len(errs), errs, len(c.want))
			continue
		}
		for i, w := range c.want {
			if !strings.HasPrefix(errs[i], w) {
				t.Errorf("%s: error %d = %q, want prefix %q", c.cfg, i, errs[i], w)
			}
		}
	}
}
