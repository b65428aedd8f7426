// Package tlstest issues throw-away certificates for tests: a CA, server
// leaves for given hosts and client certificates, written as PEM files into
// the test's temporary directory. It is for tests only; production code uses
// real files (or tlsconf.SelfSigned for demos).
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a test certificate authority.
type CA struct {
	Cert    *x509.Certificate
	Key     *ecdsa.PrivateKey
	CertPEM []byte
	// CertFile is CertPEM written to a file, for ca_file / client_ca_file.
	CertFile string
	// Pool holds just this CA, for tls.Config.RootCAs / ClientCAs.
	Pool *x509.CertPool
}

// Pair is an issued certificate with its key, in memory and on disk.
type Pair struct {
	Cert     *x509.Certificate
	CertPEM  []byte
	KeyPEM   []byte
	CertFile string
	KeyFile  string
	// TLS is the pair ready for tls.Config.Certificates.
	TLS tls.Certificate
}

// Options tunes an issued certificate; zero values give a year of validity.
type Options struct {
	NotBefore time.Time
	NotAfter  time.Time
}

// NewCA creates a CA named cn.
func NewCA(t testing.TB, cn string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("tlstest: create CA: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("tlstest: parse CA: %v", err)
	}
	ca := &CA{Cert: cert, Key: key, CertPEM: pemCert(der), Pool: x509.NewCertPool()}
	ca.Pool.AddCert(cert)
	ca.CertFile = write(t, cn+"-ca.pem", ca.CertPEM)
	return ca
}

// Server issues a server certificate for hosts (DNS names, wildcards, IPs).
func (ca *CA) Server(t testing.TB, hosts []string, opt Options) *Pair {
	t.Helper()
	tmpl := leafTemplate(t, hosts[0], opt)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.issue(t, tmpl)
}

// Client issues a client certificate whose subject CN is cn.
func (ca *CA) Client(t testing.TB, cn string, opt Options) *Pair {
	t.Helper()
	tmpl := leafTemplate(t, cn, opt)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return ca.issue(t, tmpl)
}

func leafTemplate(t testing.TB, cn string, opt Options) *x509.Certificate {
	if opt.NotBefore.IsZero() {
		opt.NotBefore = time.Now().Add(-time.Hour)
	}
	if opt.NotAfter.IsZero() {
		opt.NotAfter = time.Now().Add(365 * 24 * time.Hour)
	}
	return &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    opt.NotBefore,
		NotAfter:     opt.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
}

func (ca *CA) issue(t testing.TB, tmpl *x509.Certificate) *Pair {
	t.Helper()
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatalf("tlstest: create certificate: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("tlstest: marshal key: %v", err)
	}
	p := &Pair{CertPEM: pemCert(der), KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})}
	if p.Cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatalf("tlstest: parse certificate: %v", err)
	}
	if p.TLS, err = tls.X509KeyPair(p.CertPEM, p.KeyPEM); err != nil {
		t.Fatalf("tlstest: key pair: %v", err)
	}
	name := p.Cert.SerialNumber.Text(16)
	p.CertFile = write(t, name+"-cert.pem", p.CertPEM)
	p.KeyFile = write(t, name+"-key.pem", p.KeyPEM)
	return p
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("tlstest: generate key: %v", err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatalf("tlstest: serial: %v", err)
	}
	return n
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// write stores data in a fresh file under the test's temporary directory.
func write(t testing.TB, name string, data []byte) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "*-"+filepath.Base(name))
	if err != nil {
		t.Fatalf("tlstest: %v", err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatalf("tlstest: write %s: %v", f.Name(), err)
	}
	return f.Name()
}
