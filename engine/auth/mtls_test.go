package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/tlsconf/tlstest"
)

// mtlsServer serves the "machines" policy over TLS with the given client
// auth mode, trusting ca for client certificates.
func mtlsServer(t *testing.T, ca *tlstest.CA, mode tls.ClientAuthType) string {
	s := compile(t, "machines", Policy{Type: "mtls", MTLS: MTLSOptions{ClientCerts: true}})
	srvPair := ca.Server(t, []string{"127.0.0.1"}, tlstest.Options{})
	tc := &tls.Config{Certificates: []tls.Certificate{srvPair.TLS}, ClientCAs: ca.Pool, ClientAuth: mode}
	return "https://" + serve(t, s, route(t, s, "machines"), tc)
}

func tlsClient(ca *tlstest.CA, certs ...tls.Certificate) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool, Certificates: certs}}}
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/x", nil)
	return do2(t, c, req)
}

func do2(t *testing.T, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 512)
	n, _ := resp.Body.Read(buf)
	if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatal("401 without WWW-Authenticate")
	}
	return resp.StatusCode, string(buf[:n])
}

func TestMTLSConsumerFromCN(t *testing.T) {
	ca := tlstest.NewCA(t, "test-ca")
	url := mtlsServer(t, ca, tls.VerifyClientCertIfGiven)
	client := ca.Client(t, "billing-service", tlstest.Options{})
	st, b := get(t, tlsClient(ca, client.TLS), url)
	expectStatus(t, st, b, 200, "consumer=billing-service")
}

func TestMTLSConsumerFromFirstSAN(t *testing.T) {
	ca := tlstest.NewCA(t, "test-ca")
	url := mtlsServer(t, ca, tls.VerifyClientCertIfGiven)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames: []string{"worker-7.internal", "worker.internal"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	st, b := get(t, tlsClient(ca, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}), url)
	expectStatus(t, st, b, 200, "consumer=worker-7.internal")
}

func TestMTLSNoClientCertificate(t *testing.T) {
	ca := tlstest.NewCA(t, "test-ca")
	url := mtlsServer(t, ca, tls.VerifyClientCertIfGiven)
	st, b := get(t, tlsClient(ca), url)
	expectStatus(t, st, b, 401, "client certificate")
}

func TestMTLSUnverifiedCertificate(t *testing.T) {
	// A listener that asks for but does not verify certificates leaves no
	// verified chain: an untrusted certificate is not an identity.
	ca := tlstest.NewCA(t, "test-ca")
	rogue := tlstest.NewCA(t, "rogue-ca")
	url := mtlsServer(t, ca, tls.RequestClientCert)
	st, b := get(t, tlsClient(ca, rogue.Client(t, "admin", tlstest.Options{}).TLS), url)
	expectStatus(t, st, b, 401, "client certificate")
}

func TestMTLSPlainConnection(t *testing.T) {
	s := compile(t, "machines", Policy{Type: "mtls", MTLS: MTLSOptions{ClientCerts: true}})
	expect401(t, run(route(t, s, "machines"), exchange()), "client certificate")
}
