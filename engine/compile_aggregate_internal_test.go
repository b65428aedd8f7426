package engine

import "testing"

// TestCompileAggregateNil: an aggregate that is not an object is refused at
// its path (the route compiles one only when it is set, but the compile step
// does not rely on that).
func TestCompileAggregateNil(t *testing.T) {
	e := &Engine{}
	if _, errs := e.compileAggregate(nil, nil, "routes[2].aggregate"); len(errs) != 1 || errs[0].Error() != "routes[2].aggregate: expected an object" {
		t.Fatalf("errs = %v", errs)
	}
}
