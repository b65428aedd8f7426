package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sort"
	"strings"

	"github.com/sluice-gw/sluice/engine/fielderr"
	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
	"github.com/sluice-gw/sluice/engine/pipeline"
)

// apiKeyPolicy checks a static API key sent in a header. Keys are stored as
// SHA-256 digests only; the presented key is hashed and compared against
// every digest with subtle.ConstantTimeCompare, without stopping at a
// match, so timing reveals neither which key matched nor how much of it.
type apiKeyPolicy struct {
	header    string
	challenge string
	keys      []apiKey
}

type apiKey struct {
	name   []byte
	digest [sha256.Size]byte
}

func (p *apiKeyPolicy) hasScopes() bool { return false }

// APIKeyOptions are the options of an api_key policy.
type APIKeyOptions struct {
	// Header carries the key; "" means X-API-Key.
	Header string
	// Keys maps a key's name (the consumer it identifies) to the SHA-256 of
	// the key as "sha256:<64 hex digits>", never the key itself. nil means
	// none were given, which is refused; so is an empty map.
	Keys map[string]string
}

func compileAPIKey(o APIKeyOptions, errs *fielderr.List) *apiKeyPolicy {
	n := len(*errs)
	p := &apiKeyPolicy{header: o.Header}
	if p.header == "" {
		p.header = defaultAPIKeyHeader
	}
	if !httpbytes.ValidToken(p.header) {
		errs.Add("header", "invalid header name %q", p.header)
	}
	p.challenge = challengeAPIKeyPrefix + p.header + `"`

	switch {
	case o.Keys == nil:
		errs.Add("keys", "required: an object of key name to \"sha256:<hex>\"")
		return nil
	case len(o.Keys) == 0:
		errs.Add("keys", "at least one key is required")
	}
	names := make([]string, 0, len(o.Keys))
	for name := range o.Keys {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		kp := fielderr.Join("keys", name)
		if name == "" {
			errs.Add(kp, "key name must not be empty")
			continue
		}
		d, ok := parseDigest(o.Keys[name])
		if !ok {
			errs.Add(kp, "must be \"sha256:<64 hex digits>\" (the SHA-256 of the key, never the key itself)")
			continue
		}
		p.keys = append(p.keys, apiKey{name: []byte(name), digest: d})
	}
	if len(*errs) > n {
		return nil
	}
	return p
}

func parseDigest(s string) (d [sha256.Size]byte, ok bool) {
	hx, found := strings.CutPrefix(s, "sha256:")
	if !found || len(hx) != 2*sha256.Size {
		return d, false
	}
	if _, err := hex.Decode(d[:], []byte(hx)); err != nil {
		return d, false
	}
	return d, true
}

func (p *apiKeyPolicy) check(x *pipeline.Exchange, _ *Route) bool {
	key := x.Ctx.Request.Header.Peek(p.header)
	if len(key) == 0 {
		return unauthorized(x, p.challenge, "missing API key")
	}
	sum := sha256.Sum256(key)
	match := -1
	for i := range p.keys {
		if subtle.ConstantTimeCompare(sum[:], p.keys[i].digest[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return unauthorized(x, p.challenge, "invalid API key")
	}
	x.Consumer = append(x.Consumer[:0], p.keys[match].name...)
	return true
}
