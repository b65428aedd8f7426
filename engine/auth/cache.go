package auth

import (
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/ristretto/v2"
)

// defaultCacheBytes bounds the verified-token cache.
const defaultCacheBytes = 32 << 20

// entryOverhead approximates an entry's fixed memory cost in bytes.
const entryOverhead = 256

// tokenCache remembers tokens that verified, keyed by the xxhash of the whole
// token (mixed with the policy's seed). A hit is only trusted after comparing
// the stored token bytes, so a hash collision can never authenticate.
type tokenCache struct {
	c *ristretto.Cache[uint64, *entry]
}

func newTokenCache(maxBytes int64) *tokenCache {
	c, err := ristretto.NewCache(&ristretto.Config[uint64, *entry]{
		NumCounters: maxBytes / 100, // ~10 counters per expected ~1 KiB entry
		MaxCost:     maxBytes,
		BufferItems: 64,
		// The key is already a hash; keep it as is (no allocation, no rehash).
		KeyToHash: func(k uint64) (uint64, uint64) { return k, 0 },
	})
	if err != nil {
		// Only invalid constant settings can fail; run without a cache then.
		return &tokenCache{}
	}
	return &tokenCache{c: c}
}

func cacheKey(seed uint64, token []byte) uint64 { return xxhash.Sum64(token) ^ seed }

// get returns the entry of token for policy p when it is still usable.
func (tc *tokenCache) get(p *jwtPolicy, token []byte, gen uint64, now int64) *entry {
	if tc == nil || tc.c == nil {
		return nil
	}
	e, ok := tc.c.Get(cacheKey(p.seed, token))
	if !ok || e.policy != p || e.gen != gen || e.token != string(token) || now >= e.exp+p.leeway {
		return nil
	}
	return e
}

// put remembers e until its token expires.
func (tc *tokenCache) put(e *entry, now int64) {
	if tc == nil || tc.c == nil {
		return
	}
	ttl := time.Duration(e.exp+e.policy.leeway-now) * time.Second
	if ttl <= 0 {
		return
	}
	tc.c.SetWithTTL(cacheKey(e.policy.seed, []byte(e.token)), e, e.cost(), ttl)
}

func (tc *tokenCache) wait() {
	if tc != nil && tc.c != nil {
		tc.c.Wait()
	}
}

func (tc *tokenCache) close() {
	if tc != nil && tc.c != nil {
		tc.c.Close()
	}
}
