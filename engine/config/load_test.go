package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseShapes(t *testing.T) {
	cfg, err := Parse([]byte(`{
  "server": {"listen": "127.0.0.1:1", "read_timeout": "250ms"},
  "services": {"b": {"targets": ["127.0.0.1:1", {"addr": "127.0.0.1:2", "weight": 3}]}, "a": {"targets": ["x:1"]}},
  "auth": {"k": {"type": "api_key", "keys": {"n": "sha256:00"}}},
  "routes": [{"name": "r", "path": "/", "service": "a", "headers": {"A": "1"}}]
}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.ReadTimeout.D() != 250*time.Millisecond {
		t.Errorf("duration %v", cfg.Server.ReadTimeout)
	}
	if got := cfg.Services["b"].Targets; len(got) != 2 || got[0].Addr != "127.0.0.1:1" || got[1].Weight != 3 {
		t.Errorf("targets %+v", got)
	}
	if strings.Join(cfg.Order.Services, ",") != "b,a" {
		t.Errorf("service order %v, want file order", cfg.Order.Services)
	}
	if string(cfg.Auth["k"].Keys) != `{"n": "sha256:00"}` {
		t.Errorf("raw keys %q", cfg.Auth["k"].Keys)
	}
	if len(cfg.SHA256) != 64 {
		t.Errorf("sha256 %q", cfg.SHA256)
	}
}

func TestParseErrorsNamePaths(t *testing.T) {
	_, err := Parse([]byte(`{
  "server": {"read_timeout": "-1s", "write_timeout": 5, "max_body_bytes": "big"},
  "services": {"a": {"targets": [7, {"addr": "x:1", "wieght": 2}], "retries": 1.5}},
  "routes": [{"name": "r", "methods": "GET"}, 3]
}`))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`server.read_timeout: duration "-1s" must not be negative`,
		`server.write_timeout: expected a duration string`,
		`server.max_body_bytes: expected an integer`,
		`services.a.targets[0]: expected "host:port"`,
		`services.a.targets[1].wieght: unknown key`,
		`services.a.retries: expected an integer`,
		`routes[0].methods: expected an array`,
		`routes[1]: expected an object`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestParseNotJSON(t *testing.T) {
	for _, in := range []string{``, `{`, `[1,2]`, `{"a":1}{}`} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"server":{"listen":"127.0.0.1:1"},"routes":[{"name":"a"}]}`))
	f.Add([]byte(`{"services":{"a":{"targets":["x:1",{"addr":"y:2"}]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err == nil && cfg == nil {
			t.Fatal("nil config without error")
		}
	})
}

func TestParseDuplicateKeys(t *testing.T) {
	_, err := Parse([]byte(`{
  "server": {"listen": "127.0.0.1:1", "listen": "127.0.0.1:2"},
  "services": {"a": {"targets": ["x:1"]}, "a": {"targets": ["x:2"]}},
  "auth": {"k": {"type": "api_key", "keys": {"acme": "sha256:00", "acme": "sha256:11"}}},
  "routes": [{"name": "r", "path": "/a"}, {"name": "s", "path": "/b", "name": "t"}]
}`))
	if err == nil {
		t.Fatal("duplicate keys accepted")
	}
	for _, want := range []string{
		`server.listen: duplicate key`,
		`services.a: duplicate key`,
		`auth.k.keys.acme: duplicate key`,
		`routes[1].name: duplicate key`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "routes[0].name") {
		t.Errorf("a key repeated in two objects is not a duplicate:\n%v", err)
	}
}
