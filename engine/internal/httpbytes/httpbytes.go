// Package httpbytes holds the small HTTP byte helpers every stage needs:
// the RFC 9110 token check used to validate configured header names, ASCII
// case folding, and comma-separated list splitting. They work on []byte
// views of fasthttp headers and never allocate, so they are safe on the
// request path; every function is safe for concurrent use.
package httpbytes

// tokenChars marks the bytes allowed in an RFC 9110 token (section 5.6.2):
// ALPHA, DIGIT and !#$%&'*+-.^_`|~.
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// IsTokenChar reports whether c may appear in an RFC 9110 token.
func IsTokenChar(c byte) bool { return tokenChars[c] }

// ValidToken reports whether s is a non-empty RFC 9110 token, which is what
// a header field name must be. Every configured header name is checked with
// it, so a name valid in one part of the config is valid in all.
func ValidToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenChars[s[i]] {
			return false
		}
	}
	return true
}

// ValidTokenBytes is ValidToken for a byte slice (a header name as sent).
func ValidTokenBytes(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return true
}

// Lower returns c with ASCII upper case mapped to lower case.
func Lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// EqualFold reports whether b and s are equal ignoring ASCII case.
func EqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if Lower(b[i]) != Lower(s[i]) {
			return false
		}
	}
	return true
}

// HasPrefixFold reports whether b begins with s, ignoring ASCII case.
func HasPrefixFold(b []byte, s string) bool {
	return len(b) >= len(s) && EqualFold(b[:len(s)], s)
}

// HasSuffixFold reports whether b ends with s, ignoring ASCII case.
func HasSuffixFold(b []byte, s string) bool {
	return len(b) >= len(s) && EqualFold(b[len(b)-len(s):], s)
}

// ContainsFold reports whether s occurs in b, ignoring ASCII case.
func ContainsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if EqualFold(b[i:i+len(s)], s) {
			return true
		}
	}
	return false
}

// TrimOWS returns b without leading and trailing optional white space
// (spaces and tabs, RFC 9110 section 5.6.3).
func TrimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// NextItem splits the comma-separated list at its first comma: item is
// the first element without surrounding white space (possibly empty),
// rest what follows the comma (nil after the last element). Both are views
// of list. Loop with `for len(list) > 0 { item, list = NextItem(list) … }`.
func NextItem(list []byte) (item, rest []byte) {
	for i, c := range list {
		if c == ',' {
			return TrimOWS(list[:i]), list[i+1:]
		}
	}
	return TrimOWS(list), nil
}

// HasToken reports whether the comma-separated list holds token, ignoring
// ASCII case and the white space around each element.
func HasToken(list []byte, token string) bool {
	for len(list) > 0 {
		var item []byte
		item, list = NextItem(list)
		if EqualFold(item, token) {
			return true
		}
	}
	return false
}
