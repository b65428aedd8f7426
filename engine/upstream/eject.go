package upstream

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Passive ejection (outlier detection) settings. They are fixed: the config
// has no keys for them.
const (
	// ejectAfter consecutive failures (connect errors, timeouts, bad
	// answers, 5xx) eject a target.
	ejectAfter = 5
	// ejectBase is the first ejection's length; each ejection that follows
	// the previous one within ejectMax doubles it, up to ejectMax.
	ejectBase = time.Second
	ejectMax  = 30 * time.Second
)

// ejector is one target's passive ejection state. A target is ejected while
// nanotime() < until; re-admission needs no event, so none can stay out.
type ejector struct {
	failures atomic.Int32 // consecutive failures
	until    atomic.Int64 // ejected until this nanotime (0: never ejected)
	level    int32        // doublings of ejectBase; guarded by mu
	mu       sync.Mutex
	count    *metrics.Counter // sluice_upstream_ejections_total
}

// ejected reports whether the target is out of rotation at now.
func (e *ejector) ejected(now int64) bool { return now < e.until.Load() }

// record counts one outcome and ejects the target after ejectAfter
// consecutive failures.
func (e *ejector) record(now int64, failed bool) {
	if !failed {
		if e.failures.Load() != 0 {
			e.failures.Store(0)
		}
		return
	}
	if e.failures.Add(1) < ejectAfter || e.ejected(now) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	last := e.until.Load()
	if now < last {
		return // another request ejected it meanwhile
	}
	switch {
	case last == 0 || now-last >= int64(ejectMax):
		e.level = 0 // first ejection, or healthy long enough to start over
	case ejectBase<<e.level < ejectMax:
		e.level++
	}
	d := min(ejectBase<<e.level, ejectMax)
	e.until.Store(now + int64(d))
	e.failures.Store(0)
	if e.count != nil {
		e.count.Inc()
	}
}

// readmit ends an ejection early (an active health check saw the target
// recover); the back-off level is kept for the next ejection.
func (e *ejector) readmit(now int64) {
	e.mu.Lock()
	if now < e.until.Load() {
		e.until.Store(now)
	}
	e.failures.Store(0)
	e.mu.Unlock()
}
