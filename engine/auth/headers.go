package auth

import "strings"

// isReservedHeader reports headers that framing or routing depend on and
// that a claim must never set.
func isReservedHeader(s string) bool {
	switch strings.ToLower(s) {
	case "host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer", "keep-alive":
		return true
	}
	return false
}
