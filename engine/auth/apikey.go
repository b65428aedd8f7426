package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sort"
	"strings"

	json "github.com/goccy/go-json"
	"github.com/sluice-gw/sluice/engine/config"
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

func compileAPIKey(a *config.Auth, path string, errs *config.Errors) *apiKeyPolicy {
	n := len(*errs)
	p := &apiKeyPolicy{header: a.Header}
	if p.header == "" {
		p.header = defaultAPIKeyHeader
	}
	if !httpbytes.ValidToken(p.header) {
		errs.Add(config.Join(path, "header"), "invalid header name %q", p.header)
	}
	p.challenge = challengeAPIKeyPrefix + p.header + `"`

	keysPath := config.Join(path, "keys")
	var m map[string]json.RawMessage
	if len(a.Keys) == 0 || string(a.Keys) == "null" {
		errs.Add(keysPath, "required: an object of key name to \"sha256:<hex>\"")
		return nil
	}
	if err := json.Unmarshal(a.Keys, &m); err != nil {
		errs.Add(keysPath, "expected an object of key name to \"sha256:<hex>\"")
		return nil
	}
	if len(m) == 0 {
		errs.Add(keysPath, "at least one key is required")
	}
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		kp := config.Join(keysPath, name)
		var s string
		if name == "" {
			errs.Add(kp, "key name must not be empty")
			continue
		}
		if json.Unmarshal(m[name], &s) != nil {
			errs.Add(kp, "expected a string \"sha256:<64 hex digits>\"")
			continue
		}
		d, ok := parseDigest(s)
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
