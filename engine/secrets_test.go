package engine_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/sluice-gw/sluice/engine/auth/hmacsign"
)

// The secrets planted in every config place that can hold one.
var planted = []string{
	"SECRET-JWT-INLINE-1", "SECRET-JWT-ENV-2", "SECRET-HMAC-INLINE-3", "SECRET-HMAC-ENV-4",
	"SECRET-UPSTREAM-TOKEN-5", "SECRET-RESP-HEADER-6", "SECRET-APIKEY-7",
}

func secretsConfig(echo, logPath string) string {
	apiKey := sha256.Sum256([]byte("SECRET-APIKEY-7"))
	return cfgf(`{
  "server": {"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0", "access_log": %q},
  "services": {"echo": {"targets": [%q]}},
  "auth": {
    "users": {"type": "jwt", "algorithms": ["HS256"], "secret": "SECRET-JWT-INLINE-1"},
    "users2": {"type": "jwt", "algorithms": ["HS256"], "secret_env": "SLUICE_TEST_JWT_SECRET"},
    "partners": {"type": "api_key", "header": "X-API-Key", "keys": {"acme": "sha256:%s"}},
    "signed": {"type": "hmac", "keys": {"svc-a": {"secret": "SECRET-HMAC-INLINE-3"},
                                        "svc-b": {"secret_env": "SLUICE_TEST_HMAC_SECRET"}}}
  },
  "routes": [
    {"name": "jwt", "path": "/jwt", "service": "echo", "auth": "users",
     "request_headers": {"set": {"Authorization": "Bearer SECRET-UPSTREAM-TOKEN-5"}},
     "response_headers": {"set": {"X-Internal": "SECRET-RESP-HEADER-6"}}},
    {"name": "jwt2", "path": "/jwt2", "service": "echo", "auth": "users2"},
    {"name": "key", "path": "/key", "service": "echo", "auth": "partners"},
    {"name": "signed", "path": "/signed", "service": "echo", "auth": "signed"}
  ]
}`, logPath, echo, hex.EncodeToString(apiKey[:]))
}

// TestSecretsNeverShown plants a secret in every place of the config that
// can hold one and checks that none shows in /routes, /metrics, the access
// log, the process log or config error messages.
func TestSecretsNeverShown(t *testing.T) {
	t.Setenv("SLUICE_TEST_JWT_SECRET", "SECRET-JWT-ENV-2")
	t.Setenv("SLUICE_TEST_HMAC_SECRET", "SECRET-HMAC-ENV-4")
	var logs bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	defer slog.SetDefault(old)

	echo := startUpstream(t, "echo")
	logPath := filepath.Join(t.TempDir(), "access.log")
	g := startGateway(t, secretsConfig(echo.addr, logPath))

	// Traffic through every policy, so that each secret is used.
	tok := func(secret string) string {
		now := time.Now().Unix()
		payload, _ := json.Marshal(map[string]any{"sub": "alice", "iat": now, "exp": now + 600})
		s, err := jws.Sign(payload, jws.WithKey(jwa.HS256(), []byte(secret)))
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + string(s)
	}
	if r := do(t, "GET", g.url+"/jwt", map[string]string{"Authorization": tok("SECRET-JWT-INLINE-1")}, ""); r.status != 200 ||
		r.header.Get("X-Internal") != "SECRET-RESP-HEADER-6" {
		t.Fatalf("/jwt: %d %v", r.status, r.header)
	}
	if r := do(t, "GET", g.url+"/jwt2", map[string]string{"Authorization": tok("SECRET-JWT-ENV-2")}, ""); r.status != 200 {
		t.Fatalf("/jwt2: %d", r.status)
	}
	if r := do(t, "GET", g.url+"/key", map[string]string{"X-API-Key": "SECRET-APIKEY-7"}, ""); r.status != 200 {
		t.Fatalf("/key: %d", r.status)
	}
	do(t, "GET", g.url+"/key", map[string]string{"X-API-Key": "wrong"}, "")
	for id, secret := range map[string]string{"svc-a": "SECRET-HMAC-INLINE-3", "svc-b": "SECRET-HMAC-ENV-4"} {
		req, _ := http.NewRequest("GET", g.url+"/signed", nil)
		if err := hmacsign.Sign(req, nil, id, []byte(secret), time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/signed %s: %d", id, resp.StatusCode)
		}
	}

	routes := get(t, g.admin+"/routes").body
	var doc struct {
		SHA    string `json:"config_sha256"`
		Routes []struct {
			Name           string   `json:"name"`
			Stages         []string `json:"stages"`
			RequestHeaders struct {
				Set map[string]string `json:"set"`
			} `json:"request_headers"`
		} `json:"routes"`
	}
	if err := json.Unmarshal(routes, &doc); err != nil || len(doc.SHA) != 64 || len(doc.Routes) != 4 {
		t.Fatalf("/routes %s: %v", routes, err)
	}
	if r := doc.Routes[0]; r.RequestHeaders.Set["Authorization"] != "[redacted]" ||
		strings.Join(r.Stages, ",") != "auth,request_headers,proxy,response_headers" {
		t.Errorf("/routes route %+v: want the set value redacted and the stages in order", r)
	}
	g.engine.Close() // flushes the access log
	accessLog, _ := os.ReadFile(logPath)

	// Config errors next to the secrets must not echo them either.
	var checkOut []string
	checkOut = append(checkOut, compileErrors(t, strings.Replace(secretsConfig(echo.addr, logPath),
		`"sha256:`, `"sha256:SECRET-APIKEY-7`, 1))...)
	checkOut = append(checkOut, compileErrors(t, strings.Replace(secretsConfig(echo.addr, logPath),
		`"secret": "SECRET-JWT-INLINE-1"`, `"secret": "SECRET-JWT-INLINE-1", "secret": "SECRET-JWT-INLINE-1"`, 1))...)
	checkOut = append(checkOut, compileErrors(t, strings.Replace(secretsConfig(echo.addr, logPath),
		`"secret": "SECRET-HMAC-INLINE-3"}`, `"secret": "SECRET-HMAC-INLINE-3",}`, 1))...)
	checkOut = append(checkOut, compileErrors(t, strings.Replace(secretsConfig(echo.addr, logPath),
		`"secret": "SECRET-HMAC-INLINE-3"`, `"secret": ["SECRET-HMAC-INLINE-3"]`, 1))...)
	if len(checkOut) < 4 {
		t.Fatalf("want an error from each broken config, got %q", checkOut)
	}

	places := map[string]string{
		"/routes": string(routes), "/metrics": string(get(t, g.admin+"/metrics").body),
		"access log": string(accessLog), "process log": logs.String(), "check output": strings.Join(checkOut, "\n"),
	}
	for place, text := range places {
		for _, s := range planted {
			if strings.Contains(text, s) {
				t.Errorf("%s shows the secret %s", place, s)
			}
		}
		if sum := sha256.Sum256([]byte("SECRET-APIKEY-7")); strings.Contains(text, hex.EncodeToString(sum[:])) {
			t.Errorf("%s shows the API key's hash", place)
		}
	}
}

// TestPprofOnlyWhenEnabled checks that /debug/pprof/ is a 404 unless
// server.admin_pprof is true.
func TestPprofOnlyWhenEnabled(t *testing.T) {
	echo := startUpstream(t, "echo")
	for _, on := range []bool{false, true} {
		g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0", "access_log": "off", "admin_pprof": %v},
  "services": {"echo": {"targets": [%q]}},
  "routes": [{"name": "r", "path": "/r", "service": "echo"}]
}`, on, echo.addr))
		for _, p := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline"} {
			r := get(t, g.admin+p)
			if on && r.status != 200 || !on && r.status != 404 {
				t.Errorf("admin_pprof %v: %s answered %d", on, p, r.status)
			}
		}
	}
}

// TestAdminErrorsUseTheContractBody checks that the admin listener's errors
// have the client listener's JSON body, request_id included.
func TestAdminErrorsUseTheContractBody(t *testing.T) {
	echo := startUpstream(t, "echo")
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0", "access_log": "off"},
  "services": {"echo": {"targets": [%q]}},
  "routes": [{"name": "r", "path": "/r", "service": "echo"}]
}`, echo.addr))
	get(t, g.admin+"/nope").wantError(t, 404, "not_found")
	get(t, g.admin+"/debug/pprof/").wantError(t, 404, "not_found")
}
