//go:build !linux

package engine

import (
	"errors"
	"net"
)

// reusePortSupported reports whether server.reuse_port can be honoured.
const reusePortSupported = false

func listenReusePort(string) (net.Listener, error) {
	return nil, errors.New("SO_REUSEPORT is not supported on this platform")
}
