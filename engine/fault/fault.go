// Package fault is the one table of the answers sluice makes itself: each
// Kind pairs an HTTP status with the contract's error code and a default
// message, so no call site pairs a number with a code string by hand.
//
// The first rows are the contract's status table (CONTRACT.md, "Pipeline and
// status codes"); the rest are the few answers the contract leaves open
// (408, 415, 426, 499), each mapped to a contract code where one fits.
// Kind is a small integer: passing one costs nothing on the request path.
package fault

// Kind is one row of the table. The zero Kind is not a fault.
type Kind uint8

// The rows, in status order.
const (
	_                Kind = iota
	BadRequest            // 400 bad_request: malformed path, header or body
	Unauthorized          // 401 unauthorized: credentials missing or invalid
	Forbidden             // 403 forbidden: identity or address not allowed
	NotFound              // 404 not_found: no route
	MethodNotAllowed      // 405 method_not_allowed: path exists, method does not
	// RequestTimeout is 408 with the contract's bad_request code: the client
	// did not send its request in time, a client fault the contract has no
	// separate code for.
	RequestTimeout
	PayloadTooLarge      // 413 payload_too_large: body over max_body_bytes
	UnsupportedMediaType // 415 unsupported_media_type: gRPC pass-through without application/grpc
	UpgradeRequired      // 426 upgrade_required: gRPC pass-through over HTTP/1
	RateLimited          // 429 rate_limited: over a limit
	HeadersTooLarge      // 431 headers_too_large: headers over max_header_bytes
	ClientClosed         // 499 client_closed: the client went away (logged, never read)
	BadGateway           // 502 bad_gateway: upstream refused, reset or answered garbage
	Unavailable          // 503 unavailable: no healthy target, circuit open, overload
	UpstreamTimeout      // 504 upstream_timeout: upstream did not answer within timeout
	// VersionNotSupported is 505 with the contract's bad_request code: a
	// request line naming an HTTP major version other than 1.
	VersionNotSupported
	numKinds
)

type row struct {
	status  int
	code    string
	message string
}

var table = [numKinds]row{
	BadRequest:           {400, "bad_request", "bad request"},
	Unauthorized:         {401, "unauthorized", "credentials missing or invalid"},
	Forbidden:            {403, "forbidden", "forbidden"},
	NotFound:             {404, "not_found", "no route for this request"},
	MethodNotAllowed:     {405, "method_not_allowed", "method not allowed on this route"},
	RequestTimeout:       {408, "bad_request", "request not received in time"},
	PayloadTooLarge:      {413, "payload_too_large", "request body too large"},
	UnsupportedMediaType: {415, "unsupported_media_type", "unsupported Content-Type"},
	UpgradeRequired:      {426, "upgrade_required", "protocol upgrade required"},
	RateLimited:          {429, "rate_limited", "rate limit exceeded"},
	HeadersTooLarge:      {431, "headers_too_large", "request headers too large"},
	ClientClosed:         {499, "client_closed", "client closed the request"},
	BadGateway:           {502, "bad_gateway", "upstream answered badly"},
	Unavailable:          {503, "unavailable", "service unavailable"},
	UpstreamTimeout:      {504, "upstream_timeout", "upstream did not answer in time"},
	VersionNotSupported:  {505, "bad_request", "HTTP version not supported"},
}

// Status is the HTTP status of k.
func (k Kind) Status() int { return table[k].status }

// Code is the error code of k for the JSON error body.
func (k Kind) Code() string { return table[k].code }

// Message is the default message of k, for call sites with nothing to add.
func (k Kind) Message() string { return table[k].message }

// Kinds lists every row of the table, for tests and documentation.
func Kinds() []Kind {
	out := make([]Kind, 0, numKinds-1)
	for k := Kind(1); k < numKinds; k++ {
		out = append(out, k)
	}
	return out
}
