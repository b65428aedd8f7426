//go:build !race

package engine

import "testing"

// TestH2BridgeAllocs guards what the HTTP/2 bridge adds per request on top
// of the engine (which allocates nothing): the answer's header strings for
// net/http. (Not under -race: its sync.Pool drops items on purpose.)
func TestH2BridgeAllocs(t *testing.T) {
	e, _, tc := bridgeFixture(t)
	bridge, req, w := bridgeRequest(e, tc)
	allocs := testing.AllocsPerRun(500, func() {
		bridge.ServeHTTP(w, req)
		clear(w.h)
	})
	if w.status != 404 {
		t.Fatalf("status %d", w.status)
	}
	if allocs > 8 {
		t.Fatalf("%v allocations per request through the bridge, want at most 8", allocs)
	}
}
