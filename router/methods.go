package router

import (
	"sort"
	"strings"
)

// canonicalMethods come first in every Allow header, in this order; other
// methods follow, sorted. Their bit in a method mask is their index.
var canonicalMethods = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

const (
	numCanonical = len(canonicalMethods)
	bitGET       = 1 << 0
	bitHEAD      = 1 << 1
	idxHEAD      = 1
	maxMethods   = 64 // bits in a mask
)

// validMethod reports whether m is an HTTP token (RFC 9110 tchar).
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// methodUniverse orders every method named by the routes: the canonical ones,
// then the others sorted.
func methodUniverse(named map[string]bool) []string {
	u := append([]string(nil), canonicalMethods[:]...)
	var extra []string
	for m := range named {
		if methodIndex(u, m) < 0 {
			extra = append(extra, m)
		}
	}
	sort.Strings(extra)
	return append(u, extra...)
}

// methodIndex finds m in the universe u, or -1. Called per request: the
// string(b) comparison does not allocate.
func methodIndex[T string | []byte](u []string, m T) int {
	for i, name := range u {
		if string(m) == name {
			return i
		}
	}
	return -1
}

// allowFor builds the Allow header value for a mask over the universe u.
func allowFor(u []string, mask uint64) string {
	var b strings.Builder
	for i := 0; i < len(u) && i < maxMethods; i++ {
		if mask&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteString(u[i])
		}
	}
	return b.String()
}

// allowEntry is a precomputed Allow value for a mask with non-canonical methods.
type allowEntry struct {
	mask  uint64
	value string
}

// maxAllowEntries bounds the precomputed Allow values for unusual methods.
const maxAllowEntries = 4096

// allowTable precomputes the Allow value of every union of route method masks
// Lookup can meet, so a 405 allocates nothing. Masks of canonical methods
// only are indexed directly; the others are the union closure of the route
// masks (bounded; past the bound the answer is every method of the table).
type allowTable struct {
	canon [1 << numCanonical]string
	extra []allowEntry // sorted by mask
	all   string       // fallback: every method any route allows
}

func newAllowTable(u []string, masks []uint64) *allowTable {
	t := &allowTable{}
	for m := range t.canon {
		t.canon[m] = allowFor(u, uint64(m))
	}
	var all uint64
	for _, m := range masks {
		all |= m
	}
	t.all = allowFor(u, all)
	if all < 1<<numCanonical {
		return t // no unusual method: the direct index covers every union
	}
	seen := map[uint64]bool{0: true}
	closure := []uint64{0}
	for _, m := range masks {
		for _, c := range closure[:len(closure):len(closure)] {
			if v := c | m; !seen[v] && len(closure) < maxAllowEntries {
				seen[v] = true
				closure = append(closure, v)
			}
		}
	}
	sort.Slice(closure, func(i, j int) bool { return closure[i] < closure[j] })
	for _, m := range closure {
		if m >= 1<<numCanonical {
			t.extra = append(t.extra, allowEntry{m, allowFor(u, m)})
		}
	}
	return t
}

// lookup returns the Allow value for mask without allocating.
func (t *allowTable) lookup(mask uint64) string {
	if mask < 1<<numCanonical {
		return t.canon[mask]
	}
	lo, hi := 0, len(t.extra)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		switch m := t.extra[mid].mask; {
		case m == mask:
			return t.extra[mid].value
		case m < mask:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return t.all
}
