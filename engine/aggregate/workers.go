package aggregate

import "time"

// workerIdle is how long an idle worker waits for a call before it exits.
const workerIdle = 30 * time.Second

// workers runs backend calls on a pool of goroutines that grows on demand
// and shrinks when idle. A call is handed straight to a worker waiting on
// the unbuffered channel; only when none is waiting does a new goroutine
// start. In steady state dispatching a call allocates nothing.
type workers struct {
	calls chan *call
}

// pool is shared by every plan: the work is I/O-bound, so one pool sized by
// the concurrency actually reached serves all aggregate routes.
var pool = workers{calls: make(chan *call)}

// run starts c on a worker.
func (w *workers) run(c *call) {
	select {
	case w.calls <- c:
	default:
		go w.work(c)
	}
}

func (w *workers) work(c *call) {
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		c.run()
		t.Reset(workerIdle)
		select {
		case c = <-w.calls:
		case <-t.C:
			return
		}
	}
}
