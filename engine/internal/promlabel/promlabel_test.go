package promlabel

import "testing"

func TestValue(t *testing.T) {
	for in, want := range map[string]string{"": "", "users": "users", `a"b`: `a\"b`, `a\b`: `a\\b`, "a\nb": `a\nb`} {
		if got := Value(in); got != want {
			t.Errorf("Value(%q) = %q, want %q", in, got, want)
		}
	}
}
