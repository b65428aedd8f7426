package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"
)

// benchSecret is the inline HS256 secret of bench/configs/pipeline.json.
const benchSecret = "sluice-bench-secret-not-for-production"

// benchToken returns an HS256 JWT the pipeline scenario accepts: issuer,
// audience and scope match the config, and it stays valid for a day, so the
// gateway verifies it once and then serves it from its token cache.
func benchToken(now time.Time) string {
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT"})
	claims, _ := json.Marshal(map[string]any{
		"sub":   "bench-user",
		"iss":   "https://bench.sluice.invalid",
		"aud":   "bench",
		"scope": "products:read",
		"iat":   now.Unix(),
		"exp":   now.Add(24 * time.Hour).Unix(),
	})
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(benchSecret))
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}
