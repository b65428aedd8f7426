package auth

import (
	"encoding/base64"

	json "github.com/goccy/go-json"
)

// joseHeader is the part of a protected header the gateway looks at.
type joseHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

// parseHeader decodes a token's protected header. A "crit" header is always
// rejected: the gateway understands no JWS extension (RFC 7515 §4.1.11).
func parseHeader(seg []byte) (joseHeader, error) {
	var h joseHeader
	buf := make([]byte, base64.RawURLEncoding.DecodedLen(len(seg)))
	n, err := base64.RawURLEncoding.Decode(buf, seg)
	if err != nil {
		return h, claimError("malformed token header")
	}
	if err := json.Unmarshal(buf[:n], &h); err != nil {
		return h, claimError("malformed token header")
	}
	if h.Crit != nil {
		return h, claimError("unsupported critical header")
	}
	if h.Alg == "" {
		return h, claimError("token header has no alg")
	}
	return h, nil
}
