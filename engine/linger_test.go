package engine_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// TestEarlyAnswerReachesUploader sends uploads over max_body_bytes, chunked
// and with a Content-Length, many times: each client must read the 413, not
// a reset or a broken pipe (the gateway answers while the client still sends,
// and closes lingering).
func TestEarlyAnswerReachesUploader(t *testing.T) {
	echo := startUpstream(t, "echo")
	for _, proxy := range []string{"off", "optional"} {
		earlyAnswers(t, echo, proxy)
	}
}

func earlyAnswers(t *testing.T, echo *upstream, proxy string) {
	g := startGateway(t, cfgf(`{
  "server": {"listen": "127.0.0.1:0", "access_log": "off", "max_body_bytes": 1024,
             "proxy_protocol": %q, "trusted_proxies": ["127.0.0.1/32"]},
  "services": {"echo": {"targets": [%q]}},
  "routes": [{"name": "r", "path": "/*", "service": "echo"}]
}`, proxy, echo.addr))
	payload := bytes.Repeat([]byte("x"), 256<<10)
	for i := 0; i < 40; i++ {
		for _, chunked := range []bool{true, false} {
			var body io.Reader = bytes.NewReader(payload)
			if chunked {
				body = io.MultiReader(bytes.NewReader(payload)) // unknown length: chunked
			}
			req, _ := http.NewRequest("POST", g.url+"/up", body)
			if !chunked {
				req.ContentLength = int64(len(payload))
			}
			// A new connection each time, as a one-off uploader would.
			req.Close = true
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("proxy_protocol %s, upload %d (chunked %v): %v", proxy, i, chunked, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 413 {
				t.Fatalf("upload %d (chunked %v): status %d, want 413", i, chunked, resp.StatusCode)
			}
		}
	}
	if n := echo.Hits.Load(); n != 0 {
		t.Errorf("the upstream got %d oversized uploads", n)
	}
}
