package engine

import (
	"unsafe"

	"github.com/sluice-gw/sluice/engine/pipeline"
)

// owner returns the scratchExchange that embeds x. Every Exchange the engine
// hands to stages comes from its pool of scratchExchange values, whose first
// field is the Exchange, so the two share an address.
func owner(x *pipeline.Exchange) *scratchExchange {
	return (*scratchExchange)(unsafe.Pointer(x))
}

// b2s views b as a string without copying; b must not change while it is used.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
