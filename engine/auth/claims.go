package auth

import (
	"bytes"
	"math"
	"strings"

	json "github.com/goccy/go-json"
)

// entry is a verified token: its claims, decoded once, and everything the
// request path needs precomputed. Entries are immutable and shared between
// requests (x.Claims points at one).
type entry struct {
	policy *jwtPolicy
	gen    uint64 // key-set generation that verified it
	token  string
	exp    int64
	sub    []byte
	claims []claim
	scopes []string
	fwd    []forwardValue
}

type claim struct {
	name  string
	value []byte
}

type forwardValue struct {
	header string
	value  []byte
}

// Claim implements pipeline.Claims: strings verbatim, other JSON values as
// their compact JSON text.
func (e *entry) Claim(name string) ([]byte, bool) {
	for i := range e.claims {
		if e.claims[i].name == name {
			return e.claims[i].value, true
		}
	}
	return nil, false
}

func (e *entry) hasScope(s string) bool {
	for _, v := range e.scopes {
		if v == s {
			return true
		}
	}
	return false
}

func (e *entry) cost() int64 {
	n := entryOverhead + len(e.token) + len(e.sub)
	for _, c := range e.claims {
		n += len(c.name) + len(c.value) + 32
	}
	for _, s := range e.scopes {
		n += len(s) + 16
	}
	return int64(n)
}

// claimError is a token problem reported to the client as the 401 message.
type claimError string

func (e claimError) Error() string { return string(e) }

// buildEntry decodes a verified payload and checks exp/nbf/iat (with the
// policy's leeway), iss and aud at time now (Unix seconds).
func (p *jwtPolicy) buildEntry(token []byte, payload []byte, gen uint64, now int64) (*entry, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(payload, &raw); err != nil || raw == nil {
		return nil, claimError("malformed token claims")
	}
	e := &entry{policy: p, gen: gen, token: string(token)}

	exp, ok, err := numericClaim(raw, "exp")
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, claimError("token has no exp claim")
	case now >= exp+p.leeway:
		return nil, claimError("token expired")
	}
	e.exp = exp
	if nbf, ok, err := numericClaim(raw, "nbf"); err != nil {
		return nil, err
	} else if ok && nbf > now+p.leeway {
		return nil, claimError("token not valid yet (nbf)")
	}
	if iat, ok, err := numericClaim(raw, "iat"); err != nil {
		return nil, err
	} else if ok && iat > now+p.leeway {
		return nil, claimError("token issued in the future (iat)")
	}
	if p.issuer != "" {
		var iss string
		if v, ok := raw["iss"]; !ok || json.Unmarshal(v, &iss) != nil || iss != p.issuer {
			return nil, claimError("wrong issuer")
		}
	}
	if len(p.audience) > 0 && !p.audienceOK(raw["aud"]) {
		return nil, claimError("wrong audience")
	}
	if v, ok := raw["sub"]; ok {
		var sub string
		if json.Unmarshal(v, &sub) != nil {
			return nil, claimError("malformed sub claim")
		}
		e.sub = []byte(sub)
	}
	e.scopes = scopesOf(raw)

	e.claims = make([]claim, 0, len(raw))
	for name, v := range raw {
		e.claims = append(e.claims, claim{name: name, value: claimText(v)})
	}
	for _, f := range p.forward {
		if v, ok := e.Claim(f.claim); ok {
			e.fwd = append(e.fwd, forwardValue{header: f.header, value: headerSafe(v)})
		}
	}
	return e, nil
}

// numericClaim reads a NumericDate claim (seconds, possibly fractional).
func numericClaim(raw map[string]json.RawMessage, name string) (int64, bool, error) {
	v, ok := raw[name]
	if !ok {
		return 0, false, nil
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e15 {
		return 0, false, claimError("malformed " + name + " claim")
	}
	return int64(f), true, nil
}

// audienceOK reports whether aud (a string or an array of strings) names
// any of the policy's audiences.
func (p *jwtPolicy) audienceOK(aud json.RawMessage) bool {
	if aud == nil {
		return false
	}
	var list []string
	var one string
	if json.Unmarshal(aud, &one) == nil {
		list = []string{one}
	} else if json.Unmarshal(aud, &list) != nil {
		return false
	}
	for _, a := range list {
		if contains(p.audience, a) {
			return true
		}
	}
	return false
}

// scopesOf reads scopes from "scope" (space-separated) and "scp" (array, or
// a space-separated string as some issuers send).
func scopesOf(raw map[string]json.RawMessage) []string {
	var out []string
	for _, name := range [...]string{"scope", "scp"} {
		v, ok := raw[name]
		if !ok {
			continue
		}
		var s string
		var list []string
		if json.Unmarshal(v, &s) == nil {
			out = append(out, strings.Fields(s)...)
		} else if json.Unmarshal(v, &list) == nil {
			out = append(out, list...)
		}
	}
	return out
}

// claimText is a claim as text: a string unquoted, anything else compact JSON.
func claimText(v json.RawMessage) []byte {
	var s string
	if len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &s) == nil {
		return []byte(s)
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		return append([]byte(nil), v...)
	}
	return buf.Bytes()
}

// headerSafe replaces control characters so a claim can never split or
// inject a header line.
func headerSafe(v []byte) []byte {
	out := append([]byte(nil), v...)
	for i, c := range out {
		if c < 0x20 || c == 0x7f {
			out[i] = ' '
		}
	}
	return out
}
