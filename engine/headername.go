package engine

// tokenChar marks the bytes of an RFC 9110 token (tchar), the only bytes a
// header field name may hold.
var tokenChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		t[c] = true
	}
	return t
}()

// tokenHeaderName reports whether name is a non-empty token. fasthttp takes
// names such as "Bad Name" that other servers split or refuse; forwarding
// them would let a client smuggle a header past a stricter upstream, so the
// request is a 400 instead.
func tokenHeaderName(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if !tokenChar[c] {
			return false
		}
	}
	return true
}
