package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func schemaWrite(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func schemaConfig(target, file string) string {
	return cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"shop": {"targets": [%q], "timeout": "2s"}},
  "routes": [
    {"name": "checkout", "path": "/checkout", "methods": ["POST", "PUT", "GET"], "service": "shop",
     "validate": {"json_schema_file": %q}}
  ]
}`, target, file)
}

// TestSchemaValidation runs the demo's checkout schema through the gateway.
func TestSchemaValidation(t *testing.T) {
	up := startUpstream(t, "shop")
	g := startGateway(t, schemaConfig(up.addr, "../configs/schemas/checkout.schema.json"))
	ct := map[string]string{"Content-Type": "application/json"}

	valid := `{"items":[{"sku":"tea-1","qty":2},{"sku":"mug","qty":1}],"coupon":"X"}`
	r := do(t, "POST", g.url+"/checkout", ct, valid)
	var e echoed
	r.json(t, &e)
	if r.status != 200 || e.Body != valid {
		t.Fatalf("valid order: status %d, upstream body %q", r.status, e.Body)
	}

	cases := []struct{ name, body, want string }{
		{"qty below minimum", `{"items":[{"sku":"tea-1","qty":0}]}`, "/items/0/qty: minimum"},
		{"qty not integer", `{"items":[{"sku":"tea-1","qty":1.5}]}`, "/items/0/qty: got number, want integer"},
		{"sku missing", `{"items":[{"sku":"a","qty":1},{"qty":1}]}`, "/items/1: missing property 'sku'"},
		{"items missing", `{"coupon":"X"}`, "missing property 'items'"},
		{"unknown field", `{"items":[{"sku":"a","qty":1}],"price":1}`, "additional properties 'price' not allowed"},
		{"not an object", `[1,2]`, "got array, want object"},
		{"not JSON", `{"items":`, "not valid JSON"},
		{"empty POST", ``, "not valid JSON"},
	}
	before := up.Hits.Load()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, "POST", g.url+"/checkout", ct, c.body)
			r.wantError(t, 400, "bad_request")
			var eb errorBody
			r.json(t, &eb)
			if !strings.Contains(eb.Error.Message, c.want) || len(eb.Error.Message) > 300 {
				t.Fatalf("message %q, want a short one containing %q", eb.Error.Message, c.want)
			}
		})
	}
	if n := up.Hits.Load() - before; n != 0 {
		t.Fatalf("%d rejected bodies reached the upstream", n)
	}
	// A GET without a body carries nothing to validate.
	if r := get(t, g.url+"/checkout"); r.status != 200 {
		t.Fatalf("GET without body: %d %s", r.status, r.body)
	}
}

func TestSchemaDraft07AndRefs(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "item.json"), []byte(`{
	  "$schema": "http://json-schema.org/draft-07/schema#",
	  "type": "object", "required": ["sku"], "properties": {"sku": {"type": "string", "pattern": "^[a-z]+-[0-9]+$"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	order := filepath.Join(dir, "order.json")
	if err := os.WriteFile(order, []byte(`{
	  "$schema": "http://json-schema.org/draft-07/schema#",
	  "type": "array", "items": {"$ref": "item.json"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	up := startUpstream(t, "shop")
	g := startGateway(t, schemaConfig(up.addr, order))
	if r := do(t, "PUT", g.url+"/checkout", nil, `[{"sku":"tea-1"}]`); r.status != 200 {
		t.Fatalf("valid: %d %s", r.status, r.body)
	}
	r := do(t, "PUT", g.url+"/checkout", nil, `[{"sku":"tea-1"},{"sku":"TEA"}]`)
	r.wantError(t, 400, "bad_request")
	if !strings.Contains(string(r.body), "/1/sku") {
		t.Fatalf("body %s, want the failing location /1/sku", r.body)
	}
}

func TestSchemaConfigErrors(t *testing.T) {
	const path = "routes[0].validate.json_schema_file"
	missing := filepath.Join(t.TempDir(), "missing.json")
	cases := []struct{ name, file, want string }{
		{"missing", missing, "file not found"},
		{"invalid JSON", schemaWrite(t, "broken.json", `{"type": "object",}`), "invalid JSON"},
		{"invalid schema", schemaWrite(t, "bad.json", `{"type": "object", "properties": {"qty": {"minimum": "one"}}}`), "not a valid JSON Schema"},
		{"dangling ref", schemaWrite(t, "ref.json", `{"$ref": "other.json"}`), "other.json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := compileErrors(t, schemaConfig("127.0.0.1:9", c.file))
			if len(errs) != 1 {
				t.Fatalf("errors %q, want exactly one", errs)
			}
			if !strings.HasPrefix(errs[0], path+": ") || !strings.Contains(errs[0], c.file) || !strings.Contains(errs[0], c.want) {
				t.Fatalf("error %q, want %s naming %s and %q", errs[0], path, c.file, c.want)
			}
		})
	}
}

func BenchmarkSchemaValidatedPost(b *testing.B) {
	up := startUpstream(b, "shop")
	g := startGateway(b, schemaConfig(up.addr, "../configs/schemas/checkout.schema.json"))
	body := `{"items":[{"sku":"tea-1","qty":2},{"sku":"mug","qty":1}]}`
	b.ReportAllocs()
	for b.Loop() {
		if r := do(b, "POST", g.url+"/checkout", nil, body); r.status != 200 {
			b.Fatalf("status %d", r.status)
		}
	}
}
