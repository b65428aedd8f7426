package fault

import "testing"

func TestTableIsComplete(t *testing.T) {
	seen := map[int]bool{}
	for _, k := range Kinds() {
		if k.Status() < 400 || k.Status() > 599 || k.Code() == "" || k.Message() == "" {
			t.Errorf("kind %d: incomplete row %d %q %q", k, k.Status(), k.Code(), k.Message())
		}
		if seen[k.Status()] {
			t.Errorf("kind %d: status %d twice", k, k.Status())
		}
		seen[k.Status()] = true
	}
	if len(Kinds()) != int(numKinds)-1 {
		t.Errorf("Kinds() has %d rows, want %d", len(Kinds()), numKinds-1)
	}
}

// TestContractCodes pins the contract's status table.
func TestContractCodes(t *testing.T) {
	want := map[Kind]string{
		BadRequest: "400 bad_request", Unauthorized: "401 unauthorized", Forbidden: "403 forbidden",
		NotFound: "404 not_found", MethodNotAllowed: "405 method_not_allowed",
		PayloadTooLarge: "413 payload_too_large", RateLimited: "429 rate_limited",
		HeadersTooLarge: "431 headers_too_large", BadGateway: "502 bad_gateway",
		Unavailable: "503 unavailable", UpstreamTimeout: "504 upstream_timeout",
		RequestTimeout: "408 bad_request", VersionNotSupported: "505 bad_request",
	}
	for k, w := range want {
		if got := itoa(k.Status()) + " " + k.Code(); got != w {
			t.Errorf("kind %d = %q, want %q", k, got, w)
		}
	}
}

func itoa(n int) string {
	return string(rune('0'+n/100)) + string(rune('0'+n/10%10)) + string(rune('0'+n%10))
}
