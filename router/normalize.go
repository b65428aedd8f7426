package router

import "errors"

// Errors from Normalize. The engine answers each of them with 400.
var (
	ErrNotAbsolute   = errors.New("router: path does not start with '/'")
	ErrInvalidEscape = errors.New("router: invalid percent escape")
	ErrNullByte      = errors.New("router: NUL byte in path")
	ErrEscapesRoot   = errors.New("router: path escapes its root")
)

// Normalize appends to dst the canonical form of raw, the path of a request
// URI as sent (without the query): percent escapes decoded (%2F too, so it
// separates segments), duplicate slashes collapsed, "." and ".." segments
// resolved as RFC 3986 does ("/a/." is "/a/", "/a/b/.." is "/a/"). A trailing
// slash is kept. A ".." above the root is ErrEscapesRoot. On error dst is
// returned unchanged. It allocates nothing when dst has room.
//
// Decoding is done once: Normalize of an output containing '%' decodes again,
// so Normalize(Escape(out)) == out is the round trip that holds, not
// Normalize(out) == out.
func Normalize(dst, raw []byte) ([]byte, error) {
	if len(raw) == 0 || raw[0] != '/' {
		return dst, ErrNotAbsolute
	}
	base := len(dst)
	dst = append(dst, '/')
	segStart := len(dst) // where the segment being written begins
	for i := 1; ; {
		end := i == len(raw)
		if !end {
			c := raw[i]
			i++
			if c == '%' {
				if i+1 >= len(raw) {
					return dst[:base], ErrInvalidEscape
				}
				hi, ok1 := unhex(raw[i])
				lo, ok2 := unhex(raw[i+1])
				if !ok1 || !ok2 {
					return dst[:base], ErrInvalidEscape
				}
				c = hi<<4 | lo
				i += 2
			}
			if c == 0 {
				return dst[:base], ErrNullByte
			}
			if c != '/' {
				dst = append(dst, c)
				continue
			}
		}
		// A segment ends here, at a slash or at the end of raw.
		switch seg := dst[segStart:]; {
		case len(seg) == 0:
			// Empty: duplicate slashes collapse; at the end it is the trailing slash.
		case len(seg) == 1 && seg[0] == '.':
			dst = dst[:segStart]
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			if segStart == base+1 {
				return dst[:base], ErrEscapesRoot
			}
			// Drop the previous segment: back to the slash before it.
			j := segStart - 2
			for dst[j] != '/' {
				j--
			}
			dst = dst[:j+1]
		default:
			if !end {
				dst = append(dst, '/')
			}
		}
		if end {
			return dst, nil
		}
		segStart = len(dst)
	}
}

// unhex decodes one hexadecimal digit.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// pathSafe marks the bytes Escape keeps as they are: RFC 3986 pchar
// (unreserved, sub-delims, ':' and '@') plus '/'.
var pathSafe = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~!$&'()*+,;=:@/" {
		t[c] = true
	}
	return t
}()

// Escape appends to dst a normalised path re-encoded for sending upstream:
// every byte outside RFC 3986's pchar set and '/' (space, '?', '#', '%',
// control characters, non-ASCII, ...) becomes %XX. It allocates nothing when
// dst has room.
func Escape(dst, path []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range path {
		if pathSafe[c] {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		}
	}
	return dst
}
