// Command gencert writes a self-signed ECDSA P-256 certificate and key for
// local TLS demos and tests: cert.pem and key.pem in -dir, valid for -hosts
// (localhost, 127.0.0.1 and ::1 by default). The certificate is its own CA, so
// clients can trust it with `curl --cacert cert.pem` or a service's ca_file.
//
//	go run ./cmd/gencert -dir configs/certs
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-gw/sluice/engine/tlsconf"
)

func main() {
	dir := flag.String("dir", "configs/certs", "directory to write cert.pem and key.pem into")
	hosts := flag.String("hosts", "localhost,127.0.0.1,::1", "comma-separated DNS names and IP addresses")
	days := flag.Int("days", 365, "validity in days")
	flag.Parse()
	if err := run(*dir, *hosts, *days); err != nil {
		fmt.Fprintln(os.Stderr, "gencert:", err)
		os.Exit(1)
	}
}

func run(dir, hostList string, days int) error {
	if days < 1 {
		return fmt.Errorf("-days must be at least 1, got %d", days)
	}
	var hosts []string
	for _, h := range strings.Split(hostList, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	certPEM, keyPEM, err := tlsconf.SelfSigned(hosts, time.Now().Add(time.Duration(days)*24*time.Hour))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return fmt.Errorf("write certificate: %w", err)
	}
	fmt.Printf("wrote %s and %s for %s (valid %d days)\n", certFile, keyFile, strings.Join(hosts, ", "), days)
	return nil
}
