package auth

import (
	"github.com/sluice-gw/sluice/engine/fault"
	"github.com/sluice-gw/sluice/engine/pipeline"
)

// WWW-Authenticate values (RFC 6750 for bearer tokens). They are constants
// so that the request path never builds strings.
const (
	challengeBearer        = `Bearer realm="sluice"`
	challengeInvalidToken  = `Bearer error="invalid_token"`
	challengeInsufficient  = `Bearer error="insufficient_scope"`
	challengeAPIKeyPrefix  = `APIKey realm="sluice", header="` // + header + `"`
	challengeHMAC          = `SLUICE-HMAC-SHA256 realm="sluice"`
	challengeClientCert    = `ClientCertificate realm="sluice"`
	headerWWWAuthenticate  = "WWW-Authenticate"
	headerAuthorization    = "Authorization"
	defaultAPIKeyHeader    = "X-API-Key"
	messageMissingToken    = "missing bearer token"
	messageInsufficientFmt = "missing required scope"
)

// unauthorized fails x with 401 and queues challenge as WWW-Authenticate.
func unauthorized(x *pipeline.Exchange, challenge, msg string) bool {
	x.AddResponseHeaderString(headerWWWAuthenticate, challenge)
	return x.Fail(fault.Unauthorized, msg)
}

// forbidden fails x with 403 for a missing scope.
func forbidden(x *pipeline.Exchange) bool {
	x.AddResponseHeaderString(headerWWWAuthenticate, challengeInsufficient)
	return x.Fail(fault.Forbidden, messageInsufficientFmt)
}
