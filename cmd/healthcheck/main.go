// Command healthcheck asks a sluice admin endpoint whether the gateway is
// ready and exits 0 when it answers 200, 1 otherwise.
//
// It exists for container images without a shell or curl (distroless,
// scratch): the Dockerfile's HEALTHCHECK runs it.
//
//	healthcheck [URL]    default http://127.0.0.1:9901/readyz
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

const defaultURL = "http://127.0.0.1:9901/readyz"

func main() {
	url := defaultURL
	switch len(os.Args) {
	case 1:
	case 2:
		url = os.Args[1]
	default:
		fmt.Fprintln(os.Stderr, "usage: healthcheck [URL]   (default "+defaultURL+")")
		os.Exit(2)
	}
	if err := check(url, 2*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

// check GETs url and succeeds only on a 200 answer within timeout.
func check(url string, timeout time.Duration) error {
	c := &http.Client{Timeout: timeout}
	resp, err := c.Get(url)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	return nil
}
