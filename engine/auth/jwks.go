package auth

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sluice-gw/sluice/engine/internal/tick"
)

const (
	defaultJWKSRefresh = 5 * time.Minute
	// defaultKidCooldown is the least time between two fetches triggered by
	// unknown kids, so a flood of random kids cannot hammer the IdP.
	defaultKidCooldown = 10 * time.Second
	jwksFetchTimeout   = 5 * time.Second
	maxJWKSBytes       = 1 << 20
)

// jwksRemote keeps a policy's key set in step with a JWKS URL. A failed
// fetch keeps the last good set; a new set replaces the old one atomically.
type jwksRemote struct {
	p        *jwtPolicy
	url      string
	refresh  time.Duration
	cooldown time.Duration
	client   *http.Client

	mu       sync.Mutex // serialises fetches
	lastKid  time.Time  // last fetch triggered by an unknown kid
	lastBody []byte     // last good document, to detect changes
	fetches  atomic.Int64

	okTotal, errTotal *metrics.Counter
}

func newJWKSRemote(p *jwtPolicy, name, url string, refresh time.Duration, set *metrics.Set) *jwksRemote {
	if refresh <= 0 {
		refresh = defaultJWKSRefresh
	}
	return &jwksRemote{
		p: p, url: url, refresh: refresh, cooldown: defaultKidCooldown,
		client:   &http.Client{Timeout: jwksFetchTimeout},
		okTotal:  set.GetOrCreateCounter(fmt.Sprintf(`sluice_auth_jwks_fetches_total{policy=%q,result="ok"}`, name)),
		errTotal: set.GetOrCreateCounter(fmt.Sprintf(`sluice_auth_jwks_fetches_total{policy=%q,result="error"}`, name)),
	}
}

// run fetches the set now and then every refresh until ctx ends.
func (r *jwksRemote) run(ctx context.Context) {
	_ = r.fetch(ctx)
	tick.Every(ctx, r.refresh, func(time.Time) { _ = r.fetch(ctx) })
}

// fetch downloads and installs the key set.
func (r *jwksRemote) fetch(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fetchLocked(ctx)
}

// refreshForKid fetches the set because a token named a kid the current set
// lacks, at most once per cooldown. Callers re-read the set afterwards.
func (r *jwksRemote) refreshForKid() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if !r.lastKid.IsZero() && now.Sub(r.lastKid) < r.cooldown {
		return
	}
	r.lastKid = now
	ctx, cancel := context.WithTimeout(context.Background(), jwksFetchTimeout)
	defer cancel()
	_ = r.fetchLocked(ctx)
}

func (r *jwksRemote) fetchLocked(ctx context.Context) error {
	r.fetches.Add(1)
	body, err := r.get(ctx)
	if err == nil && bytes.Equal(body, r.lastBody) {
		r.okTotal.Inc()
		return nil
	}
	var ks *keySet
	if err == nil {
		ks, err = parseKeySet(body, publicOnly(r.p.algNames, r.p.secret != nil))
	}
	if err != nil {
		// Keep the last good set: an IdP outage must not log everybody out.
		r.errTotal.Inc()
		return fmt.Errorf("jwks %s: %w", r.url, err)
	}
	r.okTotal.Inc()
	r.lastBody = body
	if old := r.p.keys.Load(); old != nil {
		ks.gen = old.gen + 1
	}
	r.p.keys.Store(ks)
	return nil
}

func (r *jwksRemote) get(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("document over %d bytes", maxJWKSBytes)
	}
	return body, nil
}
