package schema

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/engine/fielderr"
)

const orderSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["items"],
  "properties": {
    "items": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/item"}},
    "email": {"type": "string", "format": "email"}
  },
  "$defs": {
    "item": {
      "type": "object",
      "required": ["sku", "qty"],
      "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}}
    }
  }
}`

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustCompile(t testing.TB, schema string) *Validator {
	t.Helper()
	file := writeFile(t, t.TempDir(), "s.json", schema)
	v, err := New(file)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return v
}

func TestValidateOrder(t *testing.T) {
	v := mustCompile(t, orderSchema)
	cases := []struct {
		body string
		want string // "" = valid, else a substring of the error
	}{
		{`{"items":[{"sku":"a","qty":1}]}`, ""},
		{`{"items":[{"sku":"a","qty":12345678901234567890123}]}`, ""},
		{`{"items":[{"sku":"a","qty":0}]}`, "/items/0/qty: minimum"},
		{`{"items":[{"sku":"a","qty":1.5}]}`, "/items/0/qty: got number, want integer"},
		{`{"items":[{"sku":"a"}]}`, "/items/0: missing property 'qty'"},
		{`{"items":[]}`, "/items: minItems"},
		{`{}`, "/: missing property 'items'"},
		{`[]`, "/: got array, want object"},
		{`{"items":[{"sku":"a","qty":1}],"email":"nope"}`, "/email: "},
		{`{"items":[{"sku":"a","qty":1}],"email":"a@b.example"}`, ""},
		{`{"items":`, "not valid JSON"},
		{`{} {}`, "not valid JSON"},
	}
	for _, c := range cases {
		err := v.Validate([]byte(c.body))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", c.body, err)
		case c.want != "" && err == nil:
			t.Errorf("%s: accepted, want error containing %q", c.body, c.want)
		case c.want != "" && !strings.Contains(err.Error(), c.want):
			t.Errorf("%s: error %q, want it to contain %q", c.body, err, c.want)
		}
	}
}

func TestDraft07(t *testing.T) {
	v := mustCompile(t, `{
	  "$schema": "http://json-schema.org/draft-07/schema#",
	  "type": "object",
	  "properties": {"n": {"type": "number", "exclusiveMaximum": 10}},
	  "dependencies": {"a": ["b"]}
	}`)
	if err := v.Validate([]byte(`{"n": 9.5}`)); err != nil {
		t.Fatal(err)
	}
	if err := v.Validate([]byte(`{"n": 10}`)); err == nil || !strings.Contains(err.Error(), "/n: ") {
		t.Fatalf("exclusiveMaximum: %v", err)
	}
	if err := v.Validate([]byte(`{"a": 1}`)); err == nil {
		t.Fatal("draft-07 dependencies not enforced")
	}
}

func TestRelativeRef(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "item.json", `{"type":"object","required":["sku"]}`)
	file := writeFile(t, dir, "order.json", `{"type":"array","items":{"$ref":"item.json"}}`)
	v, err := New(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate([]byte(`[{"sku":"x"},{}]`)); err == nil || !strings.HasPrefix(err.Error(), "/1: ") {
		t.Fatalf("got %v, want an error at /1", err)
	}
}

func TestMessageIsShort(t *testing.T) {
	long := strings.Repeat("x", 5000)
	v := mustCompile(t, `{"oneOf":[{"const":"`+long+`"},{"const":"`+long+`y"}]}`)
	err := v.Validate([]byte(`"z"`))
	if err == nil {
		t.Fatal("accepted")
	}
	if n := len(err.Error()); n > maxMessage+len("…") {
		t.Fatalf("message is %d bytes", n)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("multi-line message %q", err)
	}
}

func TestPointerEscaping(t *testing.T) {
	v := mustCompile(t, `{"properties":{"a/b~c":{"type":"string"}}}`)
	err := v.Validate([]byte(`{"a/b~c": 1}`))
	if err == nil || !strings.HasPrefix(err.Error(), "/a~1b~0c: ") {
		t.Fatalf("got %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	unreadable := writeFile(t, dir, "locked.json", `{}`)
	if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, file, want string
	}{
		{"missing", filepath.Join(dir, "nope.json"), "file not found"},
		{"directory", dir, "cannot read"},
		{"invalid JSON", writeFile(t, dir, "bad.json", `{"type": `), "invalid JSON"},
		{"trailing data", writeFile(t, dir, "trail.json", `{} x`), "invalid JSON"},
		{"invalid schema", writeFile(t, dir, "type.json", `{"type": "integr"}`), "not a valid JSON Schema"},
		{"bad minimum", writeFile(t, dir, "min.json", `{"minimum": "one"}`), "not a valid JSON Schema"},
		{"bad regex", writeFile(t, dir, "re.json", `{"pattern": "("}`), "not a valid JSON Schema"},
		{"dangling ref", writeFile(t, dir, "ref.json", `{"$ref": "#/$defs/none"}`), "not found"},
		{"unknown draft", writeFile(t, dir, "draft.json", `{"$schema": "https://example.com/no-such-draft"}`), "schema"},
	}
	if os.Geteuid() != 0 { // root reads anything
		cases = append(cases, struct{ name, file, want string }{"unreadable", unreadable, "cannot read"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := New(c.file)
			var errs fielderr.List
			if v != nil || !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("got %v, %v; want one error", v, err)
			}
			msg := errs.Error()
			if errs[0].Path != "" || !strings.HasPrefix(msg, "schema ") || !strings.Contains(msg, c.file) || !strings.Contains(msg, c.want) {
				t.Fatalf("error %q: want no path, file %s and %q", msg, c.file, c.want)
			}
			if strings.Contains(msg, "\n") {
				t.Fatalf("multi-line error %q", msg)
			}
		})
	}
}

func TestConcurrentValidate(t *testing.T) {
	v := mustCompile(t, orderSchema)
	done := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			var err error
			for i := 0; i < 200 && err == nil; i++ {
				err = v.Validate([]byte(`{"items":[{"sku":"a","qty":2}]}`))
				if err == nil && v.Validate([]byte(`{"items":[{"sku":"a","qty":0}]}`)) == nil {
					err = os.ErrInvalid
				}
			}
			done <- err
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	v := mustCompile(b, orderSchema)
	valid := []byte(`{"items":[{"sku":"abc-1","qty":2},{"sku":"abc-2","qty":1}],"email":"a@b.example"}`)
	invalid := []byte(`{"items":[{"sku":"abc-1","qty":0}]}`)
	b.Run("valid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := v.Validate(valid); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("invalid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := v.Validate(invalid); err == nil {
				b.Fatal("accepted")
			}
		}
	})
}

func FuzzValidate(f *testing.F) {
	v := mustCompile(f, orderSchema)
	f.Add([]byte(`{"items":[{"sku":"a","qty":1}]}`))
	f.Add([]byte(`{"items":[{"sku":"a","qty":-1e400}]}`))
	f.Add([]byte(`[[[[[[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if err := v.Validate(body); err != nil && len(err.Error()) > maxMessage+len("…") {
			t.Fatalf("message too long: %d", len(err.Error()))
		}
	})
}
