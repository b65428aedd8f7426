package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/sluice-gw/sluice/engine/auth/hmacsign"
	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/fielderr"
	"github.com/sluice-gw/sluice/engine/internal/httpbytes"
	"github.com/sluice-gw/sluice/engine/pipeline"
)

const defaultMaxSkew = 5 * time.Minute

// hmacPolicy verifies requests signed with the contract's SLUICE-HMAC-SHA256
// scheme (see package hmacsign for the canonical forms).
type hmacPolicy struct {
	keys    map[string]*hmacKey
	maxSkew time.Duration
	replay  *replayCache
	scratch sync.Pool // *hmacScratch
}

type hmacKey struct {
	id     []byte
	secret []byte
}

// hmacScratch holds a request's temporary buffers.
type hmacScratch struct {
	canon         []byte
	sig           []byte
	names, values [][]byte
}

func (p *hmacPolicy) hasScopes() bool { return false }

// HMACOptions are the options of an hmac policy.
type HMACOptions struct {
	// Keys maps a key id (the KeyId of the Authorization header, and the
	// consumer it identifies) to its secret. nil means none were given,
	// which is refused; so is an empty map.
	Keys map[string]HMACKey
	// MaxSkew bounds the difference between a request's date and the
	// gateway's clock; 0 means 5m.
	MaxSkew time.Duration
}

// HMACKey is one shared secret of an hmac policy: exactly one of Secret and
// SecretEnv (the name of an environment variable holding it) is set.
type HMACKey struct {
	Secret, SecretEnv string
}

func compileHMAC(o HMACOptions, errs *fielderr.List) *hmacPolicy {
	n := len(*errs)
	p := &hmacPolicy{keys: map[string]*hmacKey{}, maxSkew: o.MaxSkew}
	if p.maxSkew == 0 {
		p.maxSkew = defaultMaxSkew
	}
	p.replay = newReplayCache(p.maxSkew, defaultReplayEntries)
	p.scratch.New = func() any { return &hmacScratch{} }

	switch {
	case o.Keys == nil:
		errs.Add("keys", "required: an object of key id to {\"secret\": ...} or {\"secret_env\": \"VAR\"}")
		return nil
	case len(o.Keys) == 0:
		errs.Add("keys", "at least one key is required")
	}
	ids := make([]string, 0, len(o.Keys))
	for id := range o.Keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		kp := fielderr.Join("keys", id)
		if id == "" || !validKeyID(id) {
			errs.Add(kp, "key id must be non-empty visible ASCII without ',' or spaces")
			continue
		}
		k := o.Keys[id]
		secret := k.Secret
		switch {
		case (k.Secret == "") == (k.SecretEnv == ""):
			errs.Add(kp, "needs exactly one of secret or secret_env")
			continue
		case k.SecretEnv != "":
			v, ok := os.LookupEnv(k.SecretEnv)
			if !ok || v == "" {
				errs.Add(fielderr.Join(kp, "secret_env"), "environment variable %q is not set", k.SecretEnv)
				continue
			}
			secret = v
		}
		p.keys[id] = &hmacKey{id: []byte(id), secret: []byte(secret)}
	}
	if len(*errs) > n {
		return nil
	}
	return p
}

func validKeyID(id string) bool {
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == ',' || c == '=' {
			return false
		}
	}
	return true
}

// signedAuth is the parsed Authorization header of a signed request.
type signedAuth struct {
	keyID, signedHeaders, signature []byte
}

// parseSignedAuth parses "SLUICE-HMAC-SHA256 KeyId=.., SignedHeaders=.., Signature=..".
func parseSignedAuth(h []byte) (a signedAuth, present, ok bool) {
	const prefix = hmacsign.Scheme + " "
	if !bytes.HasPrefix(h, []byte(prefix)) {
		return a, false, false
	}
	rest := h[len(prefix):]
	for len(rest) > 0 {
		var part []byte
		part, rest = httpbytes.NextItem(rest)
		eq := bytes.IndexByte(part, '=')
		if eq <= 0 {
			return a, true, false
		}
		name, value := part[:eq], part[eq+1:]
		var dst *[]byte
		switch string(name) {
		case "KeyId":
			dst = &a.keyID
		case "SignedHeaders":
			dst = &a.signedHeaders
		case "Signature":
			dst = &a.signature
		default:
			return a, true, false
		}
		if *dst != nil || len(value) == 0 {
			return a, true, false
		}
		*dst = value
	}
	return a, true, a.keyID != nil && a.signedHeaders != nil && a.signature != nil
}

func (p *hmacPolicy) check(x *pipeline.Exchange, _ *Route) bool {
	req := &x.Ctx.Request
	a, present, ok := parseSignedAuth(req.Header.Peek(headerAuthorization))
	if !present {
		return unauthorized(x, challengeHMAC, "missing "+hmacsign.Scheme+" authorization")
	}
	if !ok {
		return unauthorized(x, challengeHMAC, "malformed "+hmacsign.Scheme+" authorization")
	}
	key := p.keys[string(a.keyID)]
	if key == nil {
		return unauthorized(x, challengeHMAC, "unknown key id")
	}
	var sig [sha256.Size]byte
	if len(a.signature) != 2*sha256.Size || !isLowerHex(a.signature) {
		return unauthorized(x, challengeHMAC, "malformed signature")
	}
	_, _ = hex.Decode(sig[:], a.signature)

	s := p.scratch.Get().(*hmacScratch)
	defer p.scratch.Put(s)
	if msg := p.signedValues(req.Header.Peek, req.Header.Host(), a.signedHeaders, s); msg != "" {
		return unauthorized(x, challengeHMAC, msg)
	}

	dateValue := req.Header.Peek(hmacsign.HeaderDate)
	date, err := time.Parse(hmacsign.DateFormat, string(dateValue))
	if err != nil {
		return unauthorized(x, challengeHMAC, "malformed "+hmacsign.HeaderDate)
	}
	now := time.Now()
	if d := now.Sub(date); d > p.maxSkew || d < -p.maxSkew {
		return unauthorized(x, challengeHMAC, hmacsign.HeaderDate+" outside the allowed clock skew")
	}

	contentSHA := req.Header.Peek(hmacsign.HeaderContentSHA256)
	sum := sha256.Sum256(req.Body())
	var sumHex [2 * sha256.Size]byte
	hex.Encode(sumHex[:], sum[:])
	if !bytes.Equal(contentSHA, sumHex[:]) {
		return unauthorized(x, challengeHMAC, hmacsign.HeaderContentSHA256+" does not match the body")
	}

	path, query := splitURI(req.Header.RequestURI())
	s.canon, err = hmacsign.AppendCanonicalRequest(s.canon[:0], req.Header.Method(), path, query,
		s.names, s.values, a.signedHeaders, contentSHA)
	if err != nil {
		return unauthorized(x, challengeHMAC, "malformed query string")
	}
	s.sig = hmacsign.AppendSignature(s.sig[:0], key.secret, dateValue, s.canon)
	if !hmac.Equal(s.sig, a.signature) {
		return unauthorized(x, challengeHMAC, "bad signature")
	}
	switch p.replay.add(sig, date.Add(p.maxSkew).UnixNano(), now.UnixNano()) {
	case replaySeen:
		return unauthorized(x, challengeHMAC, "replayed signature")
	case replayFull:
		return x.Fail(fault.Unavailable, "too many signed requests in flight; retry later")
	}
	x.Consumer = append(x.Consumer[:0], key.id...)
	return true
}

// signedValues checks SignedHeaders (lower-case, sorted, unique, including
// host, x-sluice-content-sha256 and x-sluice-date) and collects each
// header's value into s. It returns a message on failure.
func (p *hmacPolicy) signedValues(peek func(string) []byte, host, signed []byte, s *hmacScratch) string {
	s.names, s.values = s.names[:0], s.values[:0]
	var prev []byte
	haveHost, haveSHA, haveDate := false, false, false
	for rest := signed; ; {
		var name []byte
		if i := bytes.IndexByte(rest, ';'); i >= 0 {
			name, rest = rest[:i], rest[i+1:]
		} else {
			name, rest = rest, nil
		}
		if len(name) == 0 || !isLowerToken(name) {
			return "malformed SignedHeaders"
		}
		if prev != nil && bytes.Compare(prev, name) >= 0 {
			return "SignedHeaders must be sorted and unique"
		}
		prev = name
		var v []byte
		switch string(name) {
		case "host":
			haveHost, v = true, host
		case "x-sluice-content-sha256":
			haveSHA, v = true, peek(hmacsign.HeaderContentSHA256)
		case "x-sluice-date":
			haveDate, v = true, peek(hmacsign.HeaderDate)
		default:
			v = peek(string(name))
		}
		if len(v) == 0 {
			return "signed header " + string(name) + " is missing"
		}
		s.names = append(s.names, name)
		s.values = append(s.values, v)
		if rest == nil {
			break
		}
	}
	if !haveHost || !haveSHA || !haveDate {
		return "SignedHeaders must include host, x-sluice-content-sha256 and x-sluice-date"
	}
	return ""
}

// splitURI splits a request URI as sent into its raw path and raw query.
// An absolute-form URI ("http://h/p") loses its scheme and authority.
func splitURI(uri []byte) (path, query []byte) {
	if i := bytes.Index(uri, []byte("://")); i > 0 && bytes.IndexByte(uri[:i], '/') < 0 {
		rest := uri[i+3:]
		if j := bytes.IndexByte(rest, '/'); j >= 0 {
			uri = rest[j:]
		} else if j := bytes.IndexByte(rest, '?'); j >= 0 {
			uri = rest[j:]
		} else {
			uri = nil
		}
	}
	if i := bytes.IndexByte(uri, '#'); i >= 0 {
		uri = uri[:i]
	}
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		return uri[:i], uri[i+1:]
	}
	return uri, nil
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func isLowerToken(b []byte) bool {
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
