package engine

import (
	"net"
	"testing"
	"time"
)

// TestReusePortSteersToNewest: two listeners share an address; once the
// second listens, every new connection goes to it, so the first one's accept
// queue stays empty and it can close without resetting a client. When the
// newest leaves, the older one gets the connections again.
func TestReusePortSteersToNewest(t *testing.T) {
	old, err := listenReusePort("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	addr := old.Addr().String()
	newer, err := listenReusePort(addr)
	if err != nil {
		t.Fatalf("second bind of %s: %v", addr, err)
	}

	count := func(ln net.Listener, n int) int {
		got := make(chan struct{}, n)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
				got <- struct{}{}
			}
		}()
		for range n {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			c.Close()
		}
		accepted := 0
		for {
			select {
			case <-got:
				accepted++
			case <-time.After(500 * time.Millisecond):
				return accepted
			}
		}
	}
	// Connections queue in the newest socket: nothing for the old one.
	const n = 200
	if got := count(newer, n); got != n {
		t.Errorf("newest socket accepted %d of %d connections", got, n)
	}
	if err := newer.Close(); err != nil {
		t.Fatal(err)
	}
	if got := count(old, 20); got != 20 {
		t.Errorf("after the newest left, the old socket accepted %d of 20", got)
	}
}
