package auth

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/sluice-gw/sluice/engine/fielderr"
	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
	"github.com/sluice-gw/sluice/engine/pipeline"
)

// jwtPolicy verifies bearer JWTs (JWS compact serialisation).
type jwtPolicy struct {
	name     string
	seed     uint64 // mixed into cache keys so policies never share entries
	algs     []algorithm
	algNames []string
	keys     atomic.Pointer[keySet]
	remote   *jwksRemote // nil unless jwks_url
	// secret verifies HS* tokens when the policy has both a JWKS and a
	// secret; the JWKS then verifies only the public-key algorithms.
	secret   *verifyKey
	issuer   string
	audience []string
	leeway   int64 // seconds
	forward  []forwardClaim
	cache    *tokenCache
	// verified counts signature checks (tokens not served from the cache).
	verified *metrics.Counter
}

type forwardClaim struct{ claim, header string }

func (p *jwtPolicy) hasScopes() bool { return true }

// JWTOptions are the options of a jwt policy. It needs one key source: a
// shared secret (Secret or SecretEnv), a JWKS (JWKSFile or JWKSURL), or
// one of each, the secret then verifying HS* tokens and the JWKS the others.
type JWTOptions struct {
	// Algorithms the policy accepts; empty means those its key source can
	// verify. "none" is always refused.
	Algorithms []string
	// JWKSFile is a JWKS document read once; JWKSURL one fetched every
	// JWKSRefresh (0 means 5m; at least 1s) and when a token names an
	// unknown kid.
	JWKSFile, JWKSURL string
	JWKSRefresh       time.Duration
	// Secret is a shared secret; SecretEnv names an environment variable
	// holding it.
	Secret, SecretEnv string
	// Issuer, when set, must equal the iss claim; when Audience is set, the
	// aud claim must name one of its values.
	Issuer   string
	Audience []string
	// Leeway is the clock skew tolerated on exp, nbf and iat.
	Leeway time.Duration
	// ForwardClaims maps a claim name to the request header that carries
	// its value upstream.
	ForwardClaims map[string]string
}

// compileJWT compiles the jwt policy name; idx numbers the set's jwt policies.
func compileJWT(o JWTOptions, name string, idx int, cache *tokenCache, set *metrics.Set, errs *fielderr.List) *jwtPolicy {
	n := len(*errs)
	p := &jwtPolicy{
		name:     name,
		seed:     uint64(idx+1) * 0x9E3779B97F4A7C15,
		issuer:   o.Issuer,
		audience: o.Audience,
		leeway:   int64(o.Leeway / time.Second),
		cache:    cache,
		verified: set.GetOrCreateCounter(fmt.Sprintf(`sluice_auth_jwt_verifications_total{policy=%q}`, name)),
	}

	secrets, jwks := 0, 0
	for _, set := range []bool{o.Secret != "", o.SecretEnv != ""} {
		if set {
			secrets++
		}
	}
	for _, set := range []bool{o.JWKSFile != "", o.JWKSURL != ""} {
		if set {
			jwks++
		}
	}
	switch {
	case secrets+jwks == 0:
		errs.Add("", "jwt needs a key source: secret, secret_env, jwks_file or jwks_url")
	case secrets > 1:
		errs.Add("", "use either secret or secret_env, not both")
	case jwks > 1:
		errs.Add("", "use either jwks_file or jwks_url, not both")
	}
	// A policy with a JWKS and a secret (as in the contract's example)
	// checks HS* tokens with the secret and the others with the JWKS: the
	// algorithm picks the key source, and a key's type bounds the algorithms
	// it verifies, so algorithm confusion stays impossible.
	shared := secrets > 0 && jwks == 0
	both := secrets > 0 && jwks > 0

	names := o.Algorithms
	if len(names) == 0 {
		switch {
		case shared:
			names = []string{"HS256", "HS384", "HS512"}
		case both:
			names = knownAlgorithms
		default:
			names = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}
		}
	}
	ignored := 0
	for i, name := range names {
		ap := fielderr.Index("algorithms", i)
		switch {
		case name == "none" || name == "None" || name == "NONE":
			errs.Add(ap, "algorithm \"none\" is never allowed")
			continue
		case !contains(knownAlgorithms, name):
			errs.Add(ap, "unknown algorithm %q (want one of HS256/384/512, RS256/384/512, PS256/384/512, ES256, ES384, EdDSA)", name)
			continue
		case shared && name[0] != 'H':
			// A list shared with public-key policies (as in the contract's
			// example) is fine: this one can never verify with a secret.
			slog.Warn("jwt algorithm ignored: it needs a public key, the policy has a shared secret", "path", fielderr.Join(legacyPath(p.name), ap), "algorithm", name)
			ignored++
			continue
		case contains(p.algNames, name):
			continue
		}
		alg, _ := jwa.LookupSignatureAlgorithm(name)
		p.algs = append(p.algs, algorithm{name: name, alg: alg})
		p.algNames = append(p.algNames, name)
	}
	if ignored > 0 && len(p.algs) == 0 {
		errs.Add("algorithms", "no listed algorithm works with a shared secret (want HS256, HS384 or HS512)")
	}

	for i, aud := range o.Audience {
		if aud == "" {
			errs.Add(fielderr.Index("audience", i), "must not be empty")
		}
	}
	p.forward = compileForward(o.ForwardClaims, "forward_claims", errs)
	if o.JWKSRefresh != 0 && o.JWKSRefresh < time.Second {
		errs.Add("jwks_refresh", "must be at least 1s")
	}
	// jwks_refresh without jwks_url is accepted and has no effect, so that a
	// config written like the contract's example (every key present) loads.

	if secrets == 1 {
		secret := []byte(o.Secret)
		if o.SecretEnv != "" {
			v, ok := os.LookupEnv(o.SecretEnv)
			switch {
			case !ok:
				errs.Add("secret_env", "environment variable %q is not set", o.SecretEnv)
			case v == "":
				errs.Add("secret_env", "environment variable %q is empty", o.SecretEnv)
			}
			secret = []byte(v)
		}
		if shared {
			p.keys.Store(secretKeySet(secret, p.algNames))
		} else {
			var hs []string
			for _, name := range p.algNames {
				if name[0] == 'H' {
					hs = append(hs, name)
				}
			}
			p.secret = &verifyKey{raw: secret, algs: hs}
		}
	}
	if jwks == 1 {
		switch {
		case o.JWKSFile != "":
			data, err := os.ReadFile(o.JWKSFile)
			if err != nil {
				errs.Add("jwks_file", "%v", err)
				break
			}
			ks, err := parseKeySet(data, publicOnly(p.algNames, both))
			if err != nil {
				errs.Add("jwks_file", "%s: %v", o.JWKSFile, err)
				break
			}
			p.keys.Store(ks)
		case o.JWKSURL != "":
			u, err := url.Parse(o.JWKSURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs.Add("jwks_url", "must be an absolute http or https URL")
				break
			}
			p.keys.Store(&keySet{})
			p.remote = newJWKSRemote(p, legacyPath(p.name), o.JWKSURL, o.JWKSRefresh, set)
		}
	}
	if len(*errs) > n {
		return nil
	}
	return p
}

// legacyPath is the policy's JSON path ("auth.users"), by which the jwks
// fetch series and the ignored-algorithm warning have always named a policy
// (unlike the other series, which use the bare name); kept so dashboards and
// log queries do not change.
func legacyPath(name string) string { return "auth." + name }

// compileForward validates forward_claims (claim name → header name).
func compileForward(m map[string]string, path string, errs *fielderr.List) []forwardClaim {
	claims := make([]string, 0, len(m))
	for c := range m {
		claims = append(claims, c)
	}
	sort.Strings(claims)
	var out []forwardClaim
	for _, c := range claims {
		h := m[c]
		switch {
		case c == "":
			errs.Add(path, "claim name must not be empty")
		case !httpbytes.ValidToken(h):
			errs.Add(fielderr.Join(path, c), "invalid header name %q", h)
		case isReservedHeader(h):
			errs.Add(fielderr.Join(path, c), "header %q cannot be set from a claim", h)
		default:
			out = append(out, forwardClaim{claim: c, header: h})
		}
	}
	return out
}

// check authenticates a bearer token. A token seen before costs a hash and
// a cache lookup; otherwise it is verified and remembered.
func (p *jwtPolicy) check(x *pipeline.Exchange, r *Route) bool {
	token, ok := bearerToken(x.Ctx.Request.Header.Peek(headerAuthorization))
	if !ok {
		return unauthorized(x, challengeBearer, messageMissingToken)
	}
	// The engine stamps x.Start on arrival; reusing it spares a clock read.
	now := x.Start.Unix()
	if x.Start.IsZero() {
		now = nowUnix()
	}
	ks := p.keys.Load()
	e := p.cache.get(p, token, ks.gen, now)
	if e == nil {
		p.verified.Inc()
		var err error
		if e, err = p.verify(token, now); err != nil {
			return unauthorized(x, challengeInvalidToken, err.Error())
		}
		p.cache.put(e, now)
	}
	x.Consumer = append(x.Consumer[:0], e.sub...)
	x.Claims = e
	for _, sc := range r.scopes {
		if !e.hasScope(sc) {
			return forbidden(x)
		}
	}
	for i := range e.fwd {
		x.Ctx.Request.Header.SetBytesV(e.fwd[i].header, e.fwd[i].value)
	}
	return true
}

// nowUnix is the clock of token checks (a variable so tests can move time).
var nowUnix = func() int64 { return time.Now().Unix() }

// maxTokenBytes bounds the work an attacker can ask for.
const maxTokenBytes = 16 << 10

// maxKeysTried bounds signature checks for a token without a kid.
const maxKeysTried = 8

// verify checks a token from scratch: shape, header, algorithm, key,
// signature (by jwx) and claims.
func (p *jwtPolicy) verify(token []byte, now int64) (*entry, error) {
	if len(token) > maxTokenBytes || !compactShape(token) {
		return nil, claimError("malformed token")
	}
	h, err := parseHeader(token[:bytes.IndexByte(token, '.')])
	if err != nil {
		return nil, err
	}
	alg, ok := p.algorithm(h.Alg)
	if !ok {
		if isNone(h.Alg) {
			return nil, claimError("algorithm none is not allowed")
		}
		return nil, claimError("token algorithm not allowed")
	}

	var buf [maxKeysTried]*verifyKey
	ks := p.keys.Load()
	if p.secret != nil && alg.name[0] == 'H' {
		payload, err := jws.VerifyCompactFast(p.secret.raw, token, alg.alg)
		if err != nil {
			return nil, claimError("bad signature")
		}
		return p.buildEntry(token, payload, ks.gen, now)
	}
	cands, exact := ks.lookup(h.Kid, h.Kid != "", buf[:0])
	if p.remote != nil && ((h.Kid != "" && !exact) || len(ks.keys) == 0) {
		p.remote.refreshForKid()
		ks = p.keys.Load()
		cands, exact = ks.lookup(h.Kid, h.Kid != "", buf[:0])
	}
	tried := 0
	var payload []byte
	for _, k := range cands {
		if !k.allows(alg.name) {
			continue
		}
		if tried++; tried > maxKeysTried {
			break
		}
		if payload, err = jws.VerifyCompactFast(k.raw, token, alg.alg); err == nil {
			return p.buildEntry(token, payload, ks.gen, now)
		}
	}
	switch {
	case tried > 0:
		return nil, claimError("bad signature")
	case h.Kid != "" && !exact:
		return nil, claimError("unknown key id")
	default:
		return nil, claimError("no key for the token's algorithm")
	}
}

func (p *jwtPolicy) algorithm(name string) (algorithm, bool) {
	for _, a := range p.algs {
		if a.name == name {
			return a, true
		}
	}
	return algorithm{}, false
}

func isNone(alg string) bool {
	return len(alg) == 4 && (alg[0]|0x20) == 'n' && (alg[1]|0x20) == 'o' && (alg[2]|0x20) == 'n' && (alg[3]|0x20) == 'e'
}

// bearerToken extracts the token of "Bearer <token>" (scheme case-insensitive).
func bearerToken(h []byte) ([]byte, bool) {
	const scheme = "bearer "
	if len(h) <= len(scheme) {
		return nil, false
	}
	for i := 0; i < len(scheme)-1; i++ {
		if h[i]|0x20 != scheme[i] {
			return nil, false
		}
	}
	if h[len(scheme)-1] != ' ' {
		return nil, false
	}
	tok := bytes.TrimSpace(h[len(scheme):])
	return tok, len(tok) > 0
}

// compactShape reports whether token is three base64url segments, the first
// two non-empty (a JWS compact serialisation, never the JSON form).
func compactShape(token []byte) bool {
	dots := 0
	seg := 0
	for _, c := range token {
		switch {
		case c == '.':
			if seg == 0 && dots < 2 {
				return false
			}
			dots++
			seg = 0
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			seg++
		default:
			return false
		}
	}
	return dots == 2
}

// publicOnly drops the HS* algorithms from a JWKS's when the policy's secret
// verifies them: a symmetric key in the JWKS must never stand in for it.
func publicOnly(algs []string, both bool) []string {
	if !both {
		return algs
	}
	var out []string
	for _, a := range algs {
		if a[0] != 'H' {
			out = append(out, a)
		}
	}
	return out
}
