package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluice-gw/sluice/bench/loadgen"
)

// benchSecret is the inline HS256 secret of bench/configs/pipeline.json.
const benchSecret = "sluice-bench-secret-not-for-production"

// benchToken returns an HS256 JWT the pipeline scenario accepts for subject
// "bench-user": issuer, audience and scope match the config, and it stays
// valid for a day.
func benchToken(now time.Time) string { return benchTokenFor(now, "bench-user") }

// benchTokenFor is benchToken for another subject (the rate limit's key).
func benchTokenFor(now time.Time, sub string) string {
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT"})
	claims, _ := json.Marshal(map[string]any{
		"sub":   sub,
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

// The realistic pipeline's client population.
const (
	// pipelineClients distinct tokens, one subject each, except the hot ones.
	pipelineClients = 10_000
	// Every hotEvery-th client (offset hotOffset) is one of hotSubjects
	// subjects: 200 tokens share 2 subjects, so each of those subjects sends
	// 100 clients' worth of traffic (1% of all requests) and its per-client
	// limit (5/s, burst 10 in pipeline.json) engages even when the machine
	// manages only ~1000 requests/s, while ordinary clients stay far below it.
	hotEvery, hotOffset, hotSubjects = 50, 25, 2
	// freshEvery: one request in freshEvery carries a token never sent
	// before, so the gateway verifies a signature at a known share of
	// requests instead of answering everything from its token cache.
	freshEvery = 100
	// freshTokens is the pool of never-sent tokens (it wraps when used up;
	// the measured verification share shows it).
	freshTokens = 8_000
)

// pipelineRotation builds the Authorization values of the realistic
// pipeline: pipelineClients distinct tokens in turn, every freshEvery-th
// request a fresh one.
func pipelineRotation(now time.Time) *loadgen.Rotation {
	vals := make([]string, pipelineClients)
	for i := range vals {
		sub := fmt.Sprintf("user-%05d", i)
		if i%hotEvery == hotOffset {
			sub = fmt.Sprintf("hot-%d", (i/hotEvery)%hotSubjects)
		}
		vals[i] = "Bearer " + benchTokenFor(now, sub)
	}
	fresh := make([]string, freshTokens)
	for i := range fresh {
		fresh[i] = "Bearer " + benchTokenFor(now, fmt.Sprintf("fresh-%05d", i))
	}
	return &loadgen.Rotation{Header: "Authorization", Values: vals, Fresh: fresh, FreshEvery: freshEvery}
}
