// Package ipfilter is the ip_filter stage: it admits or rejects a request by
// its client address against a route's allow and deny CIDR lists.
//
// Each list is compiled into sorted, merged, non-overlapping address ranges
// (one slice for IPv4, one for IPv6), so a lookup is a binary search:
// O(log n) with no allocation, whether a list holds ten entries or ten
// thousand. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are treated as the
// IPv4 address, both in the lists and for the client.
package ipfilter

import (
	"fmt"
	"net/netip"
	"sort"
	"unsafe"

	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/fielderr"
	"github.com/sluice-gw/sluice/engine/pipeline"
)

// Filter is a route's compiled ip_filter.
type Filter struct {
	allow, deny set
}

// Options are a route's ip_filter lists. Each entry is a CIDR
// ("10.0.0.0/8", "2001:db8::/32") or a bare address.
type Options struct {
	Allow, Deny []string
}

// New compiles o. Its problems are a fielderr.List with paths relative to
// o ("allow[2]"); a filter with neither list is refused.
func New(o Options) (*Filter, error) {
	var errs fielderr.List
	f := &Filter{}
	f.allow = compileList(o.Allow, "allow", &errs)
	f.deny = compileList(o.Deny, "deny", &errs)
	if len(o.Allow) == 0 && len(o.Deny) == 0 {
		errs.Add("", "needs allow or deny entries")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return f, nil
}

func compileList(entries []string, path string, errs *fielderr.List) set {
	var s set
	for j, e := range entries {
		p, err := parsePrefix(e)
		if err != nil {
			errs.Add(fielderr.Index(path, j), "%v", err)
			continue
		}
		s.add(p)
	}
	s.finish()
	return s
}

// parsePrefix parses a CIDR or a bare address; a prefix inside ::ffff:0:0/96
// becomes its IPv4 prefix. Host bits are ignored (10.1.2.3/8 is 10.0.0.0/8).
func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR or address %q", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	a := p.Addr()
	if a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q: an IPv4-mapped prefix needs at least /96", s)
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// Allowed reports whether addr passes the filter: not in deny and, when
// allow is not empty, in allow. An invalid address passes only a filter
// with neither list, which New does not produce: it fails closed.
func (f *Filter) Allowed(addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	addr = addr.Unmap()
	if f.deny.contains(addr) {
		return false
	}
	return f.allow.empty() || f.allow.contains(addr)
}

// Name is the stage's name in GET /routes.
func (f *Filter) Name() string { return "ip_filter" }

// Handle is Check as a pipeline stage.
func (f *Filter) Handle(x *pipeline.Exchange) pipeline.Verdict {
	if f.Check(x) {
		return pipeline.Next
	}
	return pipeline.Replied
}

// Check runs the stage for x: it fails x with 403 forbidden when the client
// address (x.ClientIP, after trusted proxies and the PROXY protocol) is not
// allowed. A nil Filter admits everything.
func (f *Filter) Check(x *pipeline.Exchange) bool {
	if f == nil {
		return true
	}
	addr, err := netip.ParseAddr(b2s(x.ClientIP))
	if err == nil && f.Allowed(addr) {
		return true
	}
	return x.Fail(fault.Forbidden, "client address not allowed")
}

// b2s views b as a string for parsing; the string does not outlive the call.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// u128 is an IPv6 address as a number.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

func (a u128) next() (u128, bool) {
	lo := a.lo + 1
	hi := a.hi
	if lo == 0 {
		hi++
	}
	return u128{hi, lo}, a.hi == ^uint64(0) && a.lo == ^uint64(0)
}

type range4 struct{ first, last uint32 }
type range6 struct{ first, last u128 }

// set is one compiled list: sorted, disjoint, non-adjacent ranges.
type set struct {
	v4 []range4
	v6 []range6
}

func (s *set) empty() bool { return len(s.v4) == 0 && len(s.v6) == 0 }

func (s *set) add(p netip.Prefix) {
	a := p.Addr()
	if a.Is4() {
		b := a.As4()
		first := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		host := uint32(0)
		if p.Bits() < 32 {
			host = ^uint32(0) >> p.Bits()
		}
		s.v4 = append(s.v4, range4{first, first | host})
		return
	}
	first := to128(a)
	var hostHi, hostLo uint64
	switch bits := p.Bits(); {
	case bits == 0:
		hostHi, hostLo = ^uint64(0), ^uint64(0)
	case bits < 64:
		hostHi, hostLo = ^uint64(0)>>bits, ^uint64(0)
	case bits < 128:
		hostLo = ^uint64(0) >> (bits - 64)
	}
	s.v6 = append(s.v6, range6{first, u128{first.hi | hostHi, first.lo | hostLo}})
}

func to128(a netip.Addr) u128 {
	b := a.As16()
	var hi, lo uint64
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[i+8])
	}
	return u128{hi, lo}
}

// finish sorts the ranges and merges overlapping and adjacent ones, so that
// a lookup needs only the last range starting at or below the address.
func (s *set) finish() {
	sort.Slice(s.v4, func(i, j int) bool { return s.v4[i].first < s.v4[j].first })
	out4 := s.v4[:0]
	for _, r := range s.v4 {
		if n := len(out4); n > 0 && (r.first <= out4[n-1].last || out4[n-1].last != ^uint32(0) && r.first == out4[n-1].last+1) {
			out4[n-1].last = max(out4[n-1].last, r.last)
			continue
		}
		out4 = append(out4, r)
	}
	s.v4 = out4
	sort.Slice(s.v6, func(i, j int) bool { return s.v6[i].first.less(s.v6[j].first) })
	out6 := s.v6[:0]
	for _, r := range s.v6 {
		if n := len(out6); n > 0 {
			prev := &out6[n-1]
			nxt, overflow := prev.last.next()
			if !prev.last.less(r.first) || (!overflow && nxt == r.first) {
				if prev.last.less(r.last) {
					prev.last = r.last
				}
				continue
			}
		}
		out6 = append(out6, r)
	}
	s.v6 = out6
}

// contains reports whether a (unmapped) is inside one of the ranges.
func (s *set) contains(a netip.Addr) bool {
	if a.Is4() {
		b := a.As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		r := s.v4
		// The first range starting above v; the one before it may hold v.
		lo, hi := 0, len(r)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if r[m].first <= v {
				lo = m + 1
			} else {
				hi = m
			}
		}
		return lo > 0 && v <= r[lo-1].last
	}
	v := to128(a)
	r := s.v6
	lo, hi := 0, len(r)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if !v.less(r[m].first) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo > 0 && !r[lo-1].last.less(v)
}

// Len returns the number of merged ranges (for tests and /routes).
func (f *Filter) Len() (allow, deny int) {
	return len(f.allow.v4) + len(f.allow.v6), len(f.deny.v4) + len(f.deny.v6)
}
