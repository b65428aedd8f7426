package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// algorithm is one JWS algorithm the gateway accepts.
type algorithm struct {
	name string
	alg  jwa.SignatureAlgorithm
}

// knownAlgorithms are the algorithms a policy may list. The config's JSON
// Schema lists the same (config.Algorithms); an engine test keeps them equal.
var knownAlgorithms = []string{
	"HS256", "HS384", "HS512",
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "EdDSA",
}

// Algorithms returns the JWS algorithms a jwt policy may list.
func Algorithms() []string { return append([]string(nil), knownAlgorithms...) }

// keySet is an immutable set of verification keys. gen changes whenever a
// fetched JWKS differs from the previous one, which invalidates cached tokens.
type keySet struct {
	gen  uint64
	keys []verifyKey
}

// verifyKey is one public (or shared) key and the algorithms it may verify.
type verifyKey struct {
	kid    string
	hasKid bool
	raw    any
	algs   []string
}

func (k *verifyKey) allows(alg string) bool { return contains(k.algs, alg) }

// lookup returns the keys to try for a token's kid: the key with that kid,
// else the keys that have no kid. exact reports whether a kid matched.
func (s *keySet) lookup(kid string, hasKid bool, dst []*verifyKey) (_ []*verifyKey, exact bool) {
	if hasKid {
		for i := range s.keys {
			if s.keys[i].hasKid && s.keys[i].kid == kid {
				return append(dst, &s.keys[i]), true
			}
		}
	}
	for i := range s.keys {
		if !s.keys[i].hasKid || !hasKid {
			dst = append(dst, &s.keys[i])
		}
	}
	return dst, false
}

// algorithmsForKey lists the algorithms a raw public key can verify under
// RFC 7518, so an HS token can never be checked against an RSA key
// (algorithm confusion) and an EC key only verifies its own curve.
func algorithmsForKey(raw any) []string {
	switch k := raw.(type) {
	case []byte:
		return []string{"HS256", "HS384", "HS512"}
	case *rsa.PublicKey:
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return []string{"ES256"}
		case elliptic.P384():
			return []string{"ES384"}
		}
	case ed25519.PublicKey:
		return []string{"EdDSA"}
	}
	return nil
}

// parseKeySet turns a JWKS document into a keySet restricted to algs. Keys
// for other uses or algorithms are skipped; a set with no usable key is an
// error.
func parseKeySet(data []byte, algs []string) (*keySet, error) {
	set, err := jwk.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	ks := &keySet{}
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		if use, ok := k.KeyUsage(); ok && use != "sig" {
			continue
		}
		pub, err := jwk.PublicKeyOf(k)
		if err != nil {
			continue
		}
		var raw any
		if err := jwk.Export(pub, &raw); err != nil {
			continue
		}
		vk := verifyKey{raw: raw}
		vk.kid, vk.hasKid = k.KeyID()
		keyAlg, hasAlg := k.Algorithm()
		for _, a := range algorithmsForKey(raw) {
			if contains(algs, a) && (!hasAlg || keyAlg.String() == a) {
				vk.algs = append(vk.algs, a)
			}
		}
		if len(vk.algs) > 0 {
			ks.keys = append(ks.keys, vk)
		}
	}
	if len(ks.keys) == 0 {
		return nil, errors.New("JWKS has no key usable with the policy's algorithms")
	}
	return ks, nil
}

// secretKeySet is the key set of a shared-secret policy.
func secretKeySet(secret []byte, algs []string) *keySet {
	return &keySet{keys: []verifyKey{{raw: secret, algs: algs}}}
}
