package auth

import (
	"sort"

	"github.com/sluice-gw/sluice/engine/config"
)

// checkFields reports the fields of a that its type does not use, so a
// misplaced setting (an api_key "header" on a jwt policy) is not silently
// ignored.
func checkFields(a *config.Auth, path string, errs *config.Errors) {
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
		"keys":           len(a.Keys) > 0 && string(a.Keys) != "null",
		"max_skew":       a.MaxSkew != 0,
	}
	ok, known := config.AuthFields[a.Type]
	if !known {
		return
	}
	names := make([]string, 0, len(set))
	for n, v := range set {
		if v && !contains(ok, n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		errs.Add(config.Join(path, n), "not used by auth type %q", a.Type)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func sortStrings(s []string) { sort.Strings(s) }
