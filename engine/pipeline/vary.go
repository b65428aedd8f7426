package pipeline

import "github.com/valyala/fasthttp"

// AddVary adds token to the response's Vary header unless it is already
// listed (case-insensitively) or Vary is "*", keeping the values already
// there (the upstream's Vary: Accept-Language stays). token must be a
// constant.
func AddVary(h *fasthttp.ResponseHeader, token string) {
	cur := h.Peek(fasthttp.HeaderVary)
	if len(cur) == 0 {
		h.Set(fasthttp.HeaderVary, token)
		return
	}
	if listsToken(cur, token) || listsToken(cur, "*") {
		return
	}
	var arr [256]byte
	buf := append(arr[:0], cur...)
	buf = append(buf, ", "...)
	buf = append(buf, token...)
	h.SetBytesV(fasthttp.HeaderVary, buf)
}

// listsToken reports whether the comma-separated list holds token
// (case-insensitive, surrounding spaces ignored).
func listsToken(list []byte, token string) bool {
	for len(list) > 0 {
		end := 0
		for end < len(list) && list[end] != ',' {
			end++
		}
		item := list[:end]
		for len(item) > 0 && (item[0] == ' ' || item[0] == '\t') {
			item = item[1:]
		}
		for len(item) > 0 && (item[len(item)-1] == ' ' || item[len(item)-1] == '\t') {
			item = item[:len(item)-1]
		}
		if equalFold(item, token) {
			return true
		}
		if end == len(list) {
			break
		}
		list = list[end+1:]
	}
	return false
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}
