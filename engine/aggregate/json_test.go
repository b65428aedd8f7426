package aggregate

import (
	"bytes"
	stdjson "encoding/json"
	"reflect"
	"strings"
	"testing"

	json "github.com/goccy/go-json"
	"github.com/sluice-gw/sluice/engine/fielderr"
)

var jsonSamples = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1.5e+10`, `-12.25E-3`, `"a\"b\\c\u00e9\n"`,
	` {"a":[1,2,{"b":null}],"c":"d"} `, "\n[1,\t2]\r\n", `{"a":{"b":{"c":[[]]}}}`,
	`{"é":"ü"}`,
	// invalid
	``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `01`, `1.`, `.5`, `1e`, `-`, `+1`,
	`tru`, `nul`, `"abc`, `"\x"`, `"\u12g4"`, "\"a\tb\"", `{"a":1}{}`, `[1 2]`, `{"a":1 "b":2}`,
	`<html>`, `NaN`, `"\`, `[`, `{"a":`, `{"a"`,
}

func TestValidJSONMatchesStdlib(t *testing.T) {
	for _, s := range jsonSamples {
		if got, want := validJSON([]byte(s)), stdjson.Valid([]byte(s)); got != want {
			t.Errorf("validJSON(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestValidJSONDepth(t *testing.T) {
	deep := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	if !validJSON([]byte(deep)) {
		t.Errorf("depth %d rejected", maxDepth)
	}
	deeper := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	if validJSON([]byte(deeper)) {
		t.Errorf("depth %d accepted", maxDepth+1)
	}
	if validJSON([]byte(strings.Repeat("[", 1<<20))) {
		t.Error("unterminated deep input accepted")
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, s := range jsonSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := validJSON([]byte(s))
		want := stdjson.Valid([]byte(s))
		if got != want && !(want && strings.Count(s, "[")+strings.Count(s, "{") > maxDepth) {
			t.Fatalf("validJSON(%q) = %v, stdlib %v", s, got, want)
		}
	})
}

func allowTree(t testing.TB, list ...string) []*allowNode {
	t.Helper()
	var errs fielderr.List
	n := compileAllow(list, "allow", &errs)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return n
}

func TestFilter(t *testing.T) {
	cases := []struct {
		allow    []string
		in, want string
	}{
		{[]string{"id", "name"}, `{"id":1,"secret":"x","name":"a","extra":{"n":1}}`, `{"id":1,"name":"a"}`},
		{[]string{"name", "id"}, ` { "id" : 1 , "name" : "a" } `, `{"id":1,"name":"a"}`},
		{[]string{"none"}, `{"id":1}`, `{}`},
		{[]string{"a"}, `{}`, `{}`},
		{[]string{"profile.address.city", "profile.name"},
			`{"profile":{"name":"n","age":3,"address":{"city":"c","zip":"z"}},"other":1}`,
			`{"profile":{"name":"n","address":{"city":"c"}}}`},
		{[]string{"profile", "profile.name"}, `{"profile":{"name":"n","age":3}}`, `{"profile":{"name":"n","age":3}}`},
		{[]string{"profile.name", "profile"}, `{"profile":{"name":"n","age":3}}`, `{"profile":{"name":"n","age":3}}`},
		// Arrays are filtered element by element, scalars pass.
		{[]string{"id"}, `[{"id":1,"x":2},{"x":3},4,[{"id":5,"y":6}]]`, `[{"id":1},{},4,[{"id":5}]]`},
		{[]string{"items.id"}, `{"items":[{"id":1,"t":"a"},{"id":2}],"n":2}`, `{"items":[{"id":1},{"id":2}]}`},
		{[]string{"a.b"}, `{"a":"scalar","b":1}`, `{"a":"scalar"}`},
		{[]string{"a"}, `"text"`, `"text"`},
		// Escaped keys are compared decoded; the key is kept as sent.
		{[]string{"é", "q\"k"}, `{"\u00e9":1,"q\"k":2,"e":3}`, `{"\u00e9":1,"q\"k":2}`},
		// Strings holding JSON syntax do not confuse the scanner.
		{[]string{"a"}, `{"b":"},{\"a\":1","a":"[x]"}`, `{"a":"[x]"}`},
		{[]string{"a"}, `{"a":1,"a":2}`, `{"a":1,"a":2}`},
	}
	for _, c := range cases {
		got := filterJSON(nil, []byte(c.in), allowTree(t, c.allow...))
		if string(got) != c.want {
			t.Errorf("allow %v on %s:\n got  %s\n want %s", c.allow, c.in, got, c.want)
		}
	}
}

func TestCompileAllowErrors(t *testing.T) {
	var errs fielderr.List
	compileAllow([]string{"ok", "", "a..b", ".a", "a."}, "backends[1].allow", &errs)
	if len(errs) != 4 {
		t.Fatalf("errs = %v", errs)
	}
	if !strings.HasPrefix(errs[0].Error(), "backends[1].allow[1]: invalid field path") {
		t.Errorf("errs[0] = %v", errs[0])
	}
}

// refFilter is the obvious decode-filter reference for FuzzFilter.
func refFilter(v any, fields []*allowNode) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			if n := findNode(fields, k); n != nil {
				if n.all {
					out[k] = e
				} else {
					out[k] = refFilter(e, n.children)
				}
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = refFilter(e, fields)
		}
		return out
	}
	return v
}

func decodeNumber(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

func FuzzFilter(f *testing.F) {
	f.Add(`{"a":{"b":1,"c":[{"b":2,"d":3}]},"e":"f"}`, "a.b,e")
	f.Add(`[{"x":1},{"y":{"x":2}}]`, "y.x")
	f.Add(`{"\u0061":1,"b":{"a":[1,{"a":2}]}}`, "a,b.a")
	f.Fuzz(func(t *testing.T, in, allow string) {
		if !validJSON([]byte(in)) || strings.Contains(in, `\u0000`) {
			return
		}
		var list []string
		for _, a := range strings.Split(allow, ",") {
			if a != "" && !strings.HasPrefix(a, ".") && !strings.HasSuffix(a, ".") && !strings.Contains(a, "..") {
				list = append(list, a)
			}
		}
		if len(list) == 0 {
			return
		}
		tree := allowTree(t, list...)
		out := filterJSON(nil, []byte(in), tree)
		if !stdjson.Valid(out) {
			t.Fatalf("filter(%s, %v) = %s: invalid JSON", in, list, out)
		}
		orig, err := decodeNumber([]byte(in))
		if err != nil {
			return // goccy disagrees about exotic input (e.g. invalid UTF-8); skip
		}
		got, err := decodeNumber(out)
		if err != nil {
			t.Fatalf("decode output %s: %v", out, err)
		}
		if want := refFilter(orig, tree); !reflect.DeepEqual(got, want) {
			t.Fatalf("filter(%s, %v) = %s, want %v", in, list, out, want)
		}
	})
}

func BenchmarkValidJSON(b *testing.B) {
	body := []byte(`{"id":42,"name":"Alice Example","email":"alice@example.com","address":{"city":"Paris","zip":"75001"},"tags":["a","b","c"],"score":12.5,"active":true}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if !validJSON(body) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkFilter(b *testing.B) {
	body := []byte(`{"id":42,"name":"Alice Example","email":"alice@example.com","address":{"city":"Paris","zip":"75001"},"tags":["a","b","c"],"score":12.5,"active":true}`)
	tree := allowTree(b, "id", "name", "address.city")
	var out []byte
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		out = filterJSON(out[:0], body, tree)
	}
}
