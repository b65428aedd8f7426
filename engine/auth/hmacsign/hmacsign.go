// Package hmacsign implements the client side of sluice's HMAC request
// signing scheme (SLUICE-HMAC-SHA256) and the canonical forms the gateway
// recomputes when it verifies a request. Both sides share this code, so a
// request signed with Sign verifies at the gateway.
package hmacsign

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Scheme is the Authorization scheme and the first line of the string to sign.
const Scheme = "SLUICE-HMAC-SHA256"

// DateFormat is the layout of X-Sluice-Date (UTC, basic ISO 8601).
const DateFormat = "20060102T150405Z"

// Header names of the scheme.
const (
	HeaderDate          = "X-Sluice-Date"
	HeaderContentSHA256 = "X-Sluice-Content-SHA256"
)

// ErrBadQuery reports a query string with an invalid percent escape.
var ErrBadQuery = errors.New("hmacsign: invalid percent-encoding in query")

// Sign signs req for keyID with secret at time now: it sets X-Sluice-Date,
// X-Sluice-Content-SHA256 and Authorization. body is the exact request body
// (nil when empty). extra names further headers to sign besides host,
// x-sluice-content-sha256 and x-sluice-date; they must already be set on req.
func Sign(req *http.Request, body []byte, keyID string, secret []byte, now time.Time, extra ...string) error {
	date := now.UTC().Format(DateFormat)
	sum := sha256.Sum256(body)
	contentSHA := hex.EncodeToString(sum[:])
	req.Header.Set(HeaderDate, date)
	req.Header.Set(HeaderContentSHA256, contentSHA)

	host := req.Host
	if host == "" && req.URL != nil {
		host = req.URL.Host
	}
	names := []string{"host", "x-sluice-content-sha256", "x-sluice-date"}
	for _, n := range extra {
		n = strings.ToLower(n)
		if !contains(names, n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	values := make([][]byte, len(names))
	for i, n := range names {
		if n == "host" {
			values[i] = []byte(host)
			continue
		}
		v, ok := req.Header[http.CanonicalHeaderKey(n)]
		if !ok || len(v) == 0 {
			return errors.New("hmacsign: signed header " + n + " is not set")
		}
		values[i] = []byte(v[0])
	}
	nameBytes := make([][]byte, len(names))
	for i, n := range names {
		nameBytes[i] = []byte(n)
	}
	signed := strings.Join(names, ";")
	canon, err := AppendCanonicalRequest(nil, []byte(req.Method), []byte(req.URL.EscapedPath()),
		[]byte(req.URL.RawQuery), nameBytes, values, []byte(signed), []byte(contentSHA))
	if err != nil {
		return err
	}
	sig := AppendSignature(nil, secret, []byte(date), canon)
	req.Header.Set("Authorization", Scheme+" KeyId="+keyID+", SignedHeaders="+signed+", Signature="+string(sig))
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// AppendCanonicalRequest appends the canonical request to dst: method, the
// raw path, the canonical query, one "name:value" line per signed header
// (value trimmed), the SignedHeaders value and the body hash, joined by '\n'.
func AppendCanonicalRequest(dst, method, rawPath, rawQuery []byte, names, values [][]byte, signedHeaders, contentSHA []byte) ([]byte, error) {
	dst = append(dst, method...)
	dst = append(dst, '\n')
	dst = append(dst, rawPath...)
	dst = append(dst, '\n')
	var err error
	if dst, err = AppendCanonicalQuery(dst, rawQuery); err != nil {
		return dst, err
	}
	dst = append(dst, '\n')
	for i := range names {
		dst = append(dst, names[i]...)
		dst = append(dst, ':')
		dst = append(dst, bytes.TrimSpace(values[i])...)
		dst = append(dst, '\n')
	}
	dst = append(dst, signedHeaders...)
	dst = append(dst, '\n')
	dst = append(dst, contentSHA...)
	return dst, nil
}

// AppendSignature appends the lower-case hex HMAC-SHA256 of the string to
// sign ("SLUICE-HMAC-SHA256\n" + date + "\n" + hex(SHA-256(canonical))).
func AppendSignature(dst, secret, date, canonical []byte) []byte {
	h := sha256.Sum256(canonical)
	var hx [64]byte
	hex.Encode(hx[:], h[:])
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(Scheme + "\n"))
	mac.Write(date)
	mac.Write([]byte{'\n'})
	mac.Write(hx[:])
	return hex.AppendEncode(dst, mac.Sum(nil))
}

type pair struct{ name, value []byte }

// AppendCanonicalQuery appends the canonical form of rawQuery: each
// name=value pair percent-decoded ('+' stays '+'), re-encoded keeping only
// A-Z a-z 0-9 - . _ ~, sorted by name then value and joined with '&'.
// Empty pairs ("a=1&&b=2") are skipped.
func AppendCanonicalQuery(dst, rawQuery []byte) ([]byte, error) {
	if len(rawQuery) == 0 {
		return dst, nil
	}
	pairs := make([]pair, 0, 8)
	for len(rawQuery) > 0 {
		var part []byte
		if i := bytes.IndexByte(rawQuery, '&'); i >= 0 {
			part, rawQuery = rawQuery[:i], rawQuery[i+1:]
		} else {
			part, rawQuery = rawQuery, nil
		}
		if len(part) == 0 {
			continue
		}
		name, value := part, []byte(nil)
		if i := bytes.IndexByte(part, '='); i >= 0 {
			name, value = part[:i], part[i+1:]
		}
		n, ok1 := encode(name)
		v, ok2 := encode(value)
		if !ok1 || !ok2 {
			return dst, ErrBadQuery
		}
		pairs = append(pairs, pair{n, v})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if c := bytes.Compare(pairs[i].name, pairs[j].name); c != 0 {
			return c < 0
		}
		return bytes.Compare(pairs[i].value, pairs[j].value) < 0
	})
	for i, p := range pairs {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, p.name...)
		dst = append(dst, '=')
		dst = append(dst, p.value...)
	}
	return dst, nil
}

// encode percent-decodes s and re-encodes it canonically.
func encode(s []byte) ([]byte, bool) {
	out := make([]byte, 0, len(s))
	const hexUpper = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return nil, false
			}
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 2
		}
		if isUnreserved(c) {
			out = append(out, c)
		} else {
			out = append(out, '%', hexUpper[c>>4], hexUpper[c&15])
		}
	}
	return out, true
}

func isUnreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
