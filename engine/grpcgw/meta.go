package grpcgw

import (
	"slices"
	"sort"
	"strings"

	"github.com/sluice-gw/sluice/engine/forward"
)

// metaHeader is a request header forwarded as gRPC metadata under key (its
// lower-case name).
type metaHeader struct {
	name, key string
}

// metaHeaders lists the headers every grpc route forwards: the request id,
// the trace context, the X-Forwarded-* set and claims, the headers auth
// policies fill from token claims (which the gateway has already set or
// stripped).
func metaHeaders(claims []string) []metaHeader {
	names := []string{
		forward.HeaderRequestID, forward.HeaderTraceparent, "tracestate",
		forward.HeaderXFF, forward.HeaderXFProto, forward.HeaderXFHost,
	}
	claims = slices.Clone(claims)
	sort.Strings(claims)
	names = append(names, claims...)
	seen := map[string]bool{}
	var out []metaHeader
	for _, n := range names {
		key := strings.ToLower(n)
		// grpc- keys are reserved by gRPC itself.
		if n == "" || seen[key] || strings.HasPrefix(key, "grpc-") || !validMetadataKey(key) {
			continue
		}
		seen[key] = true
		out = append(out, metaHeader{name: n, key: key})
	}
	return out
}

func validMetadataKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// validMetadataValue reports whether v may be sent as an ASCII metadata
// value (gRPC fails the whole call otherwise).
func validMetadataValue(v []byte) bool {
	for _, c := range v {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
