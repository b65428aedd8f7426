package fielderr

import (
	"errors"
	"fmt"
	"testing"
)

func TestMerge(t *testing.T) {
	var stage List
	stage.Add("allow[2]", "invalid CIDR %q", "x")
	stage.Add("", "needs allow or deny entries")

	var l List
	l.Merge("routes[0].ip_filter", stage.Err())
	l.Merge("routes[1].ip_filter", nil)
	l.Merge("tracing", Errorf("otlp_endpoint", "required"))
	l.Merge("routes[2]", fmt.Errorf("wrapped: %w", List{Errorf("[1]", "bad")}))
	l.Merge("services.a", errors.New("plain"))

	want := []string{
		`routes[0].ip_filter.allow[2]: invalid CIDR "x"`,
		`routes[0].ip_filter: needs allow or deny entries`,
		`tracing.otlp_endpoint: required`,
		`routes[2][1]: bad`,
		`services.a: plain`,
	}
	if len(l) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(l), len(want), l)
	}
	for i, w := range want {
		if got := l[i].Error(); got != w {
			t.Errorf("[%d] = %q, want %q", i, got, w)
		}
	}
}

func TestErrNil(t *testing.T) {
	var l List
	if err := l.Err(); err != nil {
		t.Fatalf("empty list: Err() = %v, want nil", err)
	}
	l.Add("a", "b")
	if err := l.Err(); err == nil || err.Error() != "a: b" {
		t.Fatalf("Err() = %v, want a: b", err)
	}
}

func TestJoin(t *testing.T) {
	for _, c := range []struct{ path, key, want string }{
		{"", "a", "a"},
		{"a", "b", "a.b"},
		{"a", "", "a."},       // an empty map key, as written
		{"a", "[3]", "a.[3]"}, // a map key that looks like an index
	} {
		if got := Join(c.path, c.key); got != c.want {
			t.Errorf("Join(%q, %q) = %q, want %q", c.path, c.key, got, c.want)
		}
	}
	for _, c := range []struct{ prefix, rel, want string }{
		{"a", "", "a"},
		{"", "b", "b"},
		{"a", "[3]", "a[3]"},
		{"a", "b[1].c", "a.b[1].c"},
	} {
		if got := under(c.prefix, c.rel); got != c.want {
			t.Errorf("under(%q, %q) = %q, want %q", c.prefix, c.rel, got, c.want)
		}
	}
	if got := Index("keys", 4); got != "keys[4]" {
		t.Errorf("Index = %q", got)
	}
}
