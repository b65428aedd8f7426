package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckRefusesWhatRunRefuses checks that compiling (what `check` does)
// reports every file `run` would fail to open at start, with its path.
func TestCheckRefusesWhatRunRefuses(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "ok.log")
	if err := os.WriteFile(existing, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	base := `{"server": {"listen": "127.0.0.1:0", "access_log": %q %s},
  "services": {"s": {"targets": ["127.0.0.1:1"] %s}},
  "routes": [{"name": "r", "path": "/r", "service": "s" %s}]}`
	cases := []struct {
		name, log, server, service, route, want string
	}{
		{"log in a missing dir", filepath.Join(dir, "nope", "a.log"), "", "", "", "server.access_log: cannot create the file"},
		{"log is a dir", dir, "", "", "", "server.access_log: " + dir + " is a directory"},
		{"log under a file", filepath.Join(existing, "a.log"), "", "", "", "server.access_log: "},
		{"cert missing", "off", `, "tls": {"certificates": [{"cert_file": "` + dir + `/none.pem", "key_file": "` + dir + `/none.key"}]}`, "", "", "server.tls.certificates[0]"},
		{"schema missing", "off", "", "", `, "validate": {"json_schema_file": "` + dir + `/none.json"}`, "routes[0].validate.json_schema_file"},
		{"descriptor missing", "off", "", `, "protocol": "grpc", "descriptor_set": "` + dir + `/none.protoset"`, `, "grpc_method": "a.B/C"`, "services.s.descriptor_set"},
	}
	if os.Geteuid() != 0 { // root may write anywhere
		ro := filepath.Join(dir, "ro.log")
		os.WriteFile(ro, nil, 0o444)
		cases = append(cases, struct{ name, log, server, service, route, want string }{
			"log not writable", ro, "", "", "", "server.access_log: cannot open for appending"})
	}
	for _, c := range cases {
		errs := compileErrors(t, cfgf(base, c.log, c.server, c.service, c.route))
		if !strings.Contains(strings.Join(errs, "\n"), c.want) {
			t.Errorf("%s: errors %q, want %q", c.name, errs, c.want)
		}
	}
	if errs := compileErrors(t, cfgf(base, existing, "", "", "")); errs != nil {
		t.Errorf("a writable log file: %q", errs)
	}
	if errs := compileErrors(t, cfgf(base, filepath.Join(dir, "new.log"), "", "", "")); errs != nil {
		t.Errorf("a new log file in a writable directory: %q", errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.log")); err == nil {
		t.Error("compiling created the access log file")
	}
}
