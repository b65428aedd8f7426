package config_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/engine/config"
)

func compiledSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(config.JSONSchema()))
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	// The meta-schema check runs here: an invalid schema fails to compile.
	if err := c.AddResource("sluice.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("sluice.schema.json")
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return sch
}

func schemaAccepts(t testing.TB, sch *jsonschema.Schema, data string) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(data))
	if err != nil {
		t.Fatalf("test config is not JSON: %v\n%s", err, data)
	}
	return sch.Validate(v)
}

// TestSchemaValidatesShippedConfigs: every example config, and every config
// of the deploy kit when there is one, is valid against the schema.
func TestSchemaValidatesShippedConfigs(t *testing.T) {
	sch := compiledSchema(t)
	files, _ := filepath.Glob("../../configs/*.json")
	_ = filepath.WalkDir("../../deploy", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		t.Fatal("no config files found")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := schemaAccepts(t, sch, string(data)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestSchemaKnowsEveryKey walks the decoder's struct types and the schema
// together: every json key the decoder accepts is a property of the schema at
// the same place, and every object in the schema refuses other keys.
func TestSchemaKnowsEveryKey(t *testing.T) {
	var root map[string]any
	if err := json.Unmarshal(config.JSONSchema(), &root); err != nil {
		t.Fatal(err)
	}
	if root["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Fatalf("$schema %v", root["$schema"])
	}
	keys := 0
	var walk func(path string, typ reflect.Type, s map[string]any)
	walk = func(path string, typ reflect.Type, s map[string]any) {
		switch typ {
		case reflect.TypeFor[config.Duration](), reflect.TypeFor[config.RawJSON]():
			return
		case reflect.TypeFor[config.Target]():
			for _, alt := range s["anyOf"].([]any) {
				if a := alt.(map[string]any); a["properties"] != nil {
					s = a
				}
			}
		}
		switch typ.Kind() {
		case reflect.Pointer:
			walk(path, typ.Elem(), s)
		case reflect.Slice:
			items, ok := s["items"].(map[string]any)
			if !ok {
				t.Errorf("%s: array without items", path)
				return
			}
			walk(path+"[]", typ.Elem(), items)
		case reflect.Map:
			elem, ok := s["additionalProperties"].(map[string]any)
			if !ok {
				t.Errorf("%s: map without additionalProperties schema", path)
				return
			}
			walk(path+".*", typ.Elem(), elem)
		case reflect.Struct:
			props, _ := s["properties"].(map[string]any)
			if s["additionalProperties"] != false {
				t.Errorf("%s: object does not refuse unknown keys", path)
			}
			n := 0
			for i := 0; i < typ.NumField(); i++ {
				name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
				if name == "" || name == "-" {
					continue
				}
				n++
				keys++
				p, ok := props[name].(map[string]any)
				if !ok {
					t.Errorf("%s: key %q missing from the schema", path, name)
					continue
				}
				walk(config.Join(path, name), typ.Field(i).Type, p)
			}
			if len(props) != n {
				t.Errorf("%s: schema has %d properties, the decoder %d keys", path, len(props), n)
			}
		}
	}
	walk("", reflect.TypeFor[config.Config](), root)
	if keys < 100 {
		t.Fatalf("walked only %d keys", keys)
	}
}

const base = `"services": {"s": {"targets": ["127.0.0.1:9"]}}, "routes": [{"name": "r", "path": "/r", "service": "s"}]`

// loadErrors returns the messages sluice check would print for cfg.
func loadErrors(cfg string) []string {
	e, errs := engine.Load([]byte(cfg))
	if e != nil {
		e.Close()
	}
	if len(errs) == 0 {
		return nil
	}
	return strings.Split(errs.Error(), "\n")
}

// errorAt reports a message about path or a value below it.
func errorAt(msgs []string, path string) bool {
	for _, m := range msgs {
		if strings.HasPrefix(m, path+": ") || strings.HasPrefix(m, path+".") || strings.HasPrefix(m, path+"[") {
			return true
		}
	}
	return false
}

// TestSchemaAgreesWithLoader: for the shapes the schema describes (keys,
// durations, targets, enums, patterns, ranges), a value the schema refuses is
// one the loader refuses at the same path, and a value it accepts is one the
// loader accepts there.
func TestSchemaAgreesWithLoader(t *testing.T) {
	sch := compiledSchema(t)
	logFile := filepath.Join(t.TempDir(), "access.log")
	type cse struct {
		path, tmpl string
		good, bad  []string
	}
	var cases []cse
	cases = append(cases,
		cse{"$schema", `{"$schema": %s, ` + base + `}`, []string{`"./sluice.schema.json"`, `"https://example.com/s.json"`}, []string{`1`}},
		cse{"server.read_timeout", `{"server": {"read_timeout": %s}, ` + base + `}`,
			[]string{`"250ms"`, `"1h30m"`, `"0"`, `"1.5s"`, `"+2s"`, `"0s"`}, []string{`"10"`, `"-1s"`, `"1d"`, `10`, `""`, `null`}},
		cse{"services.s.targets[0]", `{"services": {"s": {"targets": [%s]}}, "routes": [{"name": "r", "path": "/r", "service": "s"}]}`,
			[]string{`"127.0.0.1:9"`, `{"addr": "127.0.0.1:9", "weight": 2}`}, []string{`{"addr": "127.0.0.1:9", "port": 1}`, `9`, `null`}},
		cse{"server.access_log", `{"server": {"access_log": %s}, ` + base + `}`,
			[]string{`"stdout"`, `"off"`, `"` + logFile + `"`}, []string{`"stderr"`, `"access.log"`}},
		cse{"server.tls.client_auth", `{"server": {"tls": {"client_auth": %s}}, ` + base + `}`,
			[]string{`"none"`, `"request"`, `"require"`}, []string{`"optional"`}},
		cse{"services.s.protocol", `{"services": {"s": {"targets": ["127.0.0.1:9"], "protocol": %s}}, "routes": [{"name": "r", "path": "/r", "service": "s"}]}`,
			[]string{`"http"`, `"https"`, `"grpc"`}, []string{`"h2c"`}},
		cse{"services.s.balancer", `{"services": {"s": {"targets": ["127.0.0.1:9"], "balancer": %s}}, "routes": [{"name": "r", "path": "/r", "service": "s"}]}`,
			[]string{`"round_robin"`, `"weighted"`, `"least_conn"`, `"p2c"`}, []string{`"random"`}},
		cse{"auth.a.type", `{"auth": {"a": {"type": %s}}, ` + base + `}`,
			[]string{`"jwt"`, `"api_key"`, `"hmac"`, `"mtls"`}, []string{`"basic"`}},
		cse{"rate_limits.p.key", `{"rate_limits": {"p": {"key": %s, "requests": 1, "per": "1s"}}, ` + base + `}`,
			[]string{`"ip"`, `"consumer"`, `"route"`, `"header:X-Key"`, `"claim:sub"`}, []string{`"header:"`, `"cookie:x"`, `"header:a b"`}},
		cse{"rate_limits.p.scope", `{"rate_limits": {"p": {"key": "ip", "requests": 1, "per": "1s", "scope": %s}}, ` + base + `}`,
			[]string{`"instance"`, `"cluster"`}, []string{`"global"`}},
		cse{"server.proxy_protocol", `{"server": {"proxy_protocol": %s, "trusted_proxies": ["127.0.0.1"]}, ` + base + `}`,
			[]string{`"off"`, `"optional"`, `"required"`}, []string{`"on"`, `"v2"`}},
		cse{"routes[0].split.by", `{"services": {"s": {"targets": ["127.0.0.1:9"]}, "t": {"targets": ["127.0.0.1:9"]}}, "routes": [{"name": "r", "path": "/r", "service": "s", "split": {"by": %s, "services": [{"service": "t", "percent": 5}]}}]}`,
			[]string{`"random"`, `"ip"`, `"header:X-User"`}, []string{`"cookie"`, `"header:"`}},
		cse{"tracing.sample_ratio", `{"tracing": {"otlp_endpoint": "http://127.0.0.1:4318", "sample_ratio": %s}, ` + base + `}`,
			[]string{`0`, `0.25`, `1`}, []string{`1.5`, `-0.1`, `"1"`}},
		cse{"tracing.otlp_endpoint", `{"tracing": {"otlp_endpoint": %s}, ` + base + `}`,
			[]string{`"http://127.0.0.1:4318/v1/traces"`, `"https://otel.example"`}, []string{`"127.0.0.1:4318"`, `"grpc://x:4317"`}},
	)
	var algs []string
	for _, a := range config.Algorithms {
		algs = append(algs, `"`+a+`"`)
	}
	cases = append(cases, cse{"auth.a.algorithms[0]",
		`{"auth": {"a": {"type": "jwt", "algorithms": [%s], "secret": "0123456789abcdef0123456789abcdef", "jwks_file": "/nonexistent"}}, ` + base + `}`,
		algs, []string{`"none"`, `"HS1"`}})

	for _, c := range cases {
		for _, v := range c.good {
			cfg := strings.Replace(c.tmpl, "%s", v, 1)
			if err := schemaAccepts(t, sch, cfg); err != nil {
				t.Errorf("%s = %s: schema refuses a value the loader takes: %v", c.path, v, err)
			}
			if msgs := loadErrors(cfg); errorAt(msgs, c.path) {
				t.Errorf("%s = %s: loader refuses it: %q", c.path, v, msgs)
			}
		}
		for _, v := range c.bad {
			cfg := strings.Replace(c.tmpl, "%s", v, 1)
			if err := schemaAccepts(t, sch, cfg); err == nil {
				t.Errorf("%s = %s: schema accepts a value the loader refuses", c.path, v)
			}
			if msgs := loadErrors(cfg); !errorAt(msgs, c.path) {
				t.Errorf("%s = %s: loader does not refuse it at %s: %q", c.path, v, c.path, msgs)
			}
		}
	}
}

// TestSchemaUnknownKeys: the schema, like the loader, refuses an unknown key
// anywhere and "$schema" below the top level.
func TestSchemaUnknownKeys(t *testing.T) {
	sch := compiledSchema(t)
	for path, cfg := range map[string]string{
		"colour":                     `{"colour": "blue", ` + base + `}`,
		"server.$schema":             `{"server": {"$schema": "x"}, ` + base + `}`,
		"routes[0].cache.ttls":       `{"services": {"s": {"targets": ["127.0.0.1:9"]}}, "routes": [{"name": "r", "path": "/r", "service": "s", "cache": {"ttls": "1s"}}]}`,
		"services.s.targets[0].port": `{"services": {"s": {"targets": [{"addr": "127.0.0.1:9", "port": 1}]}}, "routes": [{"name": "r", "path": "/r", "service": "s"}]}`,
		"auth.a.keys.k":              `{"auth": {"a": {"type": "hmac", "keys": {"k": {"secrets": "x"}}}}, ` + base + `}`,
	} {
		if err := schemaAccepts(t, sch, cfg); err == nil {
			t.Errorf("%s: schema accepts an unknown key", path)
		}
		if msgs := loadErrors(cfg); !errorAt(msgs, path) {
			t.Errorf("%s: loader messages %q", path, msgs)
		}
	}
}

// TestSchemaFileCurrent: the schema kept in docs/ for editors is the one the
// code generates.
func TestSchemaFileCurrent(t *testing.T) {
	got, err := os.ReadFile("../../docs/config.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, config.JSONSchema()) {
		t.Fatal("docs/config.schema.json is stale: go run ./cmd/sluice schema > docs/config.schema.json")
	}
}

// TestSchemaAuthFieldsByType: an auth policy's keys that its type does not
// use are refused by the schema exactly when the loader refuses them.
func TestSchemaAuthFieldsByType(t *testing.T) {
	sch := compiledSchema(t)
	values := map[string]string{
		"algorithms": `["HS256"]`, "jwks_file": `"/x.json"`, "jwks_url": `"https://x.example/jwks"`,
		"jwks_refresh": `"5m"`, "secret": `"s"`, "secret_env": `"E"`, "issuer": `"i"`, "audience": `["a"]`,
		"leeway": `"1s"`, "forward_claims": `{"sub": "X-Sub"}`, "header": `"X-Key"`,
		"keys": `{"k": "sha256:00"}`, "max_skew": `"5m"`,
	}
	if len(values) != reflect.TypeFor[config.Auth]().NumField()-1 {
		t.Fatalf("values cover %d auth keys, the decoder has %d besides type", len(values), reflect.TypeFor[config.Auth]().NumField()-1)
	}
	for typ := range config.AuthFields {
		for key, v := range values {
			if typ == "hmac" && key == "keys" {
				v = `{"k": {"secret": "s"}}`
			}
			cfg := `{"auth": {"a": {"type": "` + typ + `", "` + key + `": ` + v + `}}, ` + base + `}`
			schemaRefuses := schemaAccepts(t, sch, cfg) != nil
			loaderRefuses := false
			for _, m := range loadErrors(cfg) {
				loaderRefuses = loaderRefuses || m == `auth.a.`+key+`: not used by auth type "`+typ+`"`
			}
			if schemaRefuses != loaderRefuses {
				t.Errorf("%s with %s: schema refuses %v, loader refuses %v", typ, key, schemaRefuses, loaderRefuses)
			}
		}
	}
}
