package engine

import (
	"bytes"
	"sort"

	"github.com/VictoriaMetrics/metrics"
	json "github.com/goccy/go-json"
	"github.com/sluice-gw/sluice/engine/auth"
	"github.com/sluice-gw/sluice/engine/config"
)

// compileAuth compiles cfg.Auth into an auth.Set, its series in set (the
// engine's). It reports what only the config knows: a policy that is not an
// object, fields its type does not use, and "keys" of the wrong JSON shape;
// package auth reports the rest. A policy is added in file order so that
// problems come out in that order.
func compileAuth(cfg *config.Config, set *metrics.Set) (*auth.Set, config.Errors) {
	var errs config.Errors
	s := auth.New(set)
	clientCerts := cfg.Server.TLS != nil && (cfg.Server.TLS.ClientAuth == "request" || cfg.Server.TLS.ClientAuth == "require")
	for _, name := range authOrder(cfg) {
		a := cfg.Auth[name]
		path := config.Join("auth", name)
		if a == nil {
			errs.Add(path, "expected an object")
			continue
		}
		checkAuthFields(a, path, &errs)
		p := auth.Policy{Type: a.Type}
		n := len(errs)
		switch a.Type {
		case "jwt":
			p.JWT = auth.JWTOptions{
				Algorithms: a.Algorithms,
				JWKSFile:   a.JWKSFile, JWKSURL: a.JWKSURL, JWKSRefresh: a.JWKSRefresh.D(),
				Secret: a.Secret, SecretEnv: a.SecretEnv,
				Issuer: a.Issuer, Audience: a.Audience, Leeway: a.Leeway.D(),
				ForwardClaims: a.ForwardClaims,
			}
		case "api_key":
			p.APIKey = auth.APIKeyOptions{Header: a.Header, Keys: apiKeys(a.Keys, config.Join(path, "keys"), &errs)}
		case "hmac":
			p.HMAC = auth.HMACOptions{Keys: hmacKeys(a.Keys, config.Join(path, "keys"), &errs), MaxSkew: a.MaxSkew.D()}
		case "mtls":
			p.MTLS = auth.MTLSOptions{ClientCerts: clientCerts}
		}
		if len(errs) > n {
			continue // keys of the wrong shape: the policy cannot be built
		}
		errs.Merge(path, s.Add(name, p))
	}
	if len(errs) > 0 {
		s.Close()
	}
	return s, errs
}

// authOrder is the policies' names in file order (falling back to sorted
// names when Order was not filled, as in hand-built configs).
func authOrder(cfg *config.Config) []string {
	if len(cfg.Order.Auth) == len(cfg.Auth) {
		return cfg.Order.Auth
	}
	names := make([]string, 0, len(cfg.Auth))
	for n := range cfg.Auth {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// checkAuthFields reports the fields of a that its type does not use, so a
// misplaced setting (an api_key "header" on a jwt policy) is not silently
// ignored.
func checkAuthFields(a *config.Auth, path string, errs *config.Errors) {
	set := map[string]bool{
		"algorithms":     len(a.Algorithms) > 0,
		"jwks_file":      a.JWKSFile != "",
		"jwks_url":       a.JWKSURL != "",
		"jwks_refresh":   a.JWKSRefresh != 0,
		"secret":         a.Secret != "",
		"secret_env":     a.SecretEnv != "",
		"issuer":         a.Issuer != "",
		"audience":       len(a.Audience) > 0,
		"leeway":         a.Leeway != 0,
		"forward_claims": len(a.ForwardClaims) > 0,
		"header":         a.Header != "",
		"keys":           !keysAbsent(a.Keys),
		"max_skew":       a.MaxSkew != 0,
	}
	used, known := config.AuthFields[a.Type]
	if !known {
		return
	}
	names := make([]string, 0, len(set))
	for n, v := range set {
		if v && !authContains(used, n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		errs.Add(config.Join(path, n), "not used by auth type %q", a.Type)
	}
}

func authContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// keysAbsent reports whether a policy's "keys" is missing or null.
func keysAbsent(raw config.RawJSON) bool { return len(raw) == 0 || string(raw) == "null" }

// keysObject decodes a policy's "keys" into its entries. It returns nil
// without a problem when keys is absent (package auth says it is required)
// and reports a value that is not an object, describing what one holds.
func keysObject(raw config.RawJSON, path, holds string, errs *config.Errors) map[string]json.RawMessage {
	if keysAbsent(raw) {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		errs.Add(path, "expected an object of %s", holds)
		return nil
	}
	return m
}

// apiKeys decodes the "keys" of an api_key policy: key name to digest.
func apiKeys(raw config.RawJSON, path string, errs *config.Errors) map[string]string {
	m := keysObject(raw, path, `key name to "sha256:<hex>"`, errs)
	if m == nil {
		return nil
	}
	keys := make(map[string]string, len(m))
	for _, name := range authKeyNames(m) {
		var s string
		if name == "" {
			keys[name] = "" // package auth refuses the empty name, whatever its value
			continue
		}
		if json.Unmarshal(m[name], &s) != nil {
			errs.Add(config.Join(path, name), "expected a string \"sha256:<64 hex digits>\"")
			continue
		}
		keys[name] = s
	}
	return keys
}

// hmacKeys decodes the "keys" of an hmac policy: key id to secret.
func hmacKeys(raw config.RawJSON, path string, errs *config.Errors) map[string]auth.HMACKey {
	m := keysObject(raw, path, `key id to {"secret": ...} or {"secret_env": "VAR"}`, errs)
	if m == nil {
		return nil
	}
	keys := make(map[string]auth.HMACKey, len(m))
	for _, id := range authKeyNames(m) {
		var k config.HMACKey
		dec := json.NewDecoder(bytes.NewReader(m[id]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&k); err != nil {
			errs.Add(config.Join(path, id), "expected {\"secret\": ...} or {\"secret_env\": \"VAR\"}: %v", err)
			continue
		}
		keys[id] = auth.HMACKey{Secret: k.Secret, SecretEnv: k.SecretEnv}
	}
	return keys
}

func authKeyNames(m map[string]json.RawMessage) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
