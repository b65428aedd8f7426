package pipeline

import (
	"encoding/json"
	"testing"

	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/valyala/fasthttp"
)

func TestFailAndQueuedHeaders(t *testing.T) {
	var x Exchange
	if _, failed := x.Rejected(); failed {
		t.Fatal("fresh exchange rejected")
	}
	if x.Fail(fault.RateLimited, "slow down") {
		t.Fatal("Fail returned true")
	}
	if rej, failed := x.Rejected(); !failed || rej.Status != 429 || rej.Code != fault.RateLimited.Code() {
		t.Fatalf("rejected %+v %v", rej, failed)
	}
	x.ClearReject()
	if _, failed := x.Rejected(); failed {
		t.Fatal("ClearReject kept the rejection")
	}
	x.AddResponseHeader("RateLimit-Limit", []byte("10"))
	x.AddResponseHeaderString("X-Cache", "HIT")
	var h fasthttp.ResponseHeader
	x.ApplyResponseHeaders(&h)
	if string(h.Peek("RateLimit-Limit")) != "10" || string(h.Peek("X-Cache")) != "HIT" {
		t.Fatalf("headers %s", h.String())
	}
	x.Reset()
	var h2 fasthttp.ResponseHeader
	x.ApplyResponseHeaders(&h2)
	if len(h2.Peek("X-Cache")) != 0 {
		t.Fatal("Reset kept queued headers")
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `quo"te`, `back\slash`, "tab\tnew\nline\x01", "ünïcode"} {
		var got string
		if err := json.Unmarshal(AppendJSONString(nil, s), &got); err != nil || got != s {
			t.Errorf("%q -> %s (%v)", s, AppendJSONString(nil, s), err)
		}
	}
}
