package engine

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePortSupported reports whether server.reuse_port can be honoured.
const reusePortSupported = true

// listenReusePort binds addr with SO_REUSEPORT, so a new process can bind
// the same address beside this one, and makes the group's newest socket
// take every new connection (see steerToNewest).
func listenReusePort(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("SO_REUSEPORT: %w", serr)
		}
		return nil
	}}
	// A multipath TCP listener (Go's default where the kernel has it)
	// refuses reuseport BPF programs.
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	if err := steerToNewest(ln.(*net.TCPListener)); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// steerToNewest attaches a classic BPF program to the SO_REUSEPORT group
// that picks socket index 1. The kernel appends a socket to the group when it
// starts listening and, when one leaves, moves the last into its slot: while
// an old and a new process share the address, index 1 is the new one, so the
// old socket gets no new connections and its accept queue runs empty before
// it closes (the kernel resets whatever is still queued in a listening
// socket that closes). With one socket the index is out of range and the
// kernel falls back to its hash, i.e. that socket.
func steerToNewest(ln *net.TCPListener) error {
	rc, err := ln.SyscallConn()
	if err != nil {
		return err
	}
	prog := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 1}}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF,
			&unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]})
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("SO_ATTACH_REUSEPORT_CBPF: %w", serr)
	}
	return nil
}
