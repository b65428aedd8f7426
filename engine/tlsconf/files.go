package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/sluice-gw/sluice/engine/fielderr"
)

// loadPair reads a certificate chain and its private key. certPath and keyPath
// are the paths of the two file names relative to the options, so each
// problem is reported against the file it is about; logPath is the options'
// own path, prefixed to them in warnings. It returns false when it added
// errors.
func loadPair(certFile, keyFile, certPath, keyPath, logPath string, errs *fielderr.List) (tls.Certificate, bool) {
	ok := true
	if certFile == "" {
		errs.Add(certPath, "required")
		ok = false
	}
	if keyFile == "" {
		errs.Add(keyPath, "required")
		ok = false
	}
	if !ok {
		return tls.Certificate{}, false
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		errs.Add(certPath, "%v", err)
		ok = false
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		errs.Add(keyPath, "%v", err)
		ok = false
	}
	if !ok {
		return tls.Certificate{}, false
	}
	// Parse the chain ourselves first so that certificate problems are blamed
	// on cert_file; whatever tls.X509KeyPair still rejects is about the key.
	chain, err := parseCerts(certPEM)
	if err != nil {
		errs.Add(certPath, "%s: %v", certFile, err)
		return tls.Certificate{}, false
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			errs.Add(keyPath, "%s: private key does not match the certificate in %s", keyFile, certFile)
		} else {
			errs.Add(keyPath, "%s: %v", keyFile, strings.TrimPrefix(err.Error(), "tls: "))
		}
		return tls.Certificate{}, false
	}
	warnValidity(fielderr.Join(logPath, certPath), certFile, chain, time.Now())
	return pair, true
}

// loadPool reads a PEM bundle of CA certificates into a pool. Unlike
// x509.CertPool.AppendCertsFromPEM it reports a malformed certificate instead
// of skipping it. path and logPath are as for loadPair.
func loadPool(file, path, logPath string, errs *fielderr.List) *x509.CertPool {
	data, err := os.ReadFile(file)
	if err != nil {
		errs.Add(path, "%v", err)
		return nil
	}
	certs, err := parseCerts(data)
	if err != nil {
		errs.Add(path, "%s: %v", file, err)
		return nil
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	warnValidity(fielderr.Join(logPath, path), file, certs, time.Now())
	return pool
}

// parseCerts decodes every CERTIFICATE block of a PEM file; other block types
// (a key bundled in the same file) are ignored. No certificate at all is an error.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs), err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}

// warnValidity logs certificates that are expired or not yet valid. This is a
// warning, not an error: refusing to start would turn an expired certificate
// into a full outage instead of a client-side warning.
func warnValidity(path, file string, certs []*x509.Certificate, now time.Time) {
	for i, c := range certs {
		switch {
		case now.After(c.NotAfter):
			slog.Warn("tls: certificate expired", "path", path, "file", file, "index", i,
				"subject", c.Subject.String(), "not_after", c.NotAfter.UTC().Format(time.RFC3339))
		case now.Before(c.NotBefore):
			slog.Warn("tls: certificate not yet valid", "path", path, "file", file, "index", i,
				"subject", c.Subject.String(), "not_before", c.NotBefore.UTC().Format(time.RFC3339))
		}
	}
}
