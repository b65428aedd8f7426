package upstream

import "time"

// Retry budget (contract): retries may reach 20% of a service's requests plus
// 3 a second, counted over the last 10 seconds.
const (
	budgetWindow    = 10 * time.Second
	budgetPercent   = 20
	budgetPerSecond = 3
)

// retryBudget counts a service's first attempts (a) and retries (b) over
// budgetWindow in one-second buckets.
type retryBudget struct {
	counts ring
	start  int64 // nanotime at compile; the window is shorter before it fills
}

func (r *retryBudget) init() {
	r.counts.init(budgetWindow)
	r.start = nanotime()
}

// request counts a first attempt.
func (r *retryBudget) request(now int64) { r.counts.add(now, 1, 0) }

// allow takes one retry from the budget, or reports that none is left. The
// retry is counted before the check, so concurrent callers cannot overdraw.
func (r *retryBudget) allow(now int64) bool {
	r.counts.add(now, 0, 1)
	reqs, retries := r.counts.sum(now)
	// The per-second allowance covers only the seconds the window has seen.
	secs := min((now-r.start)/int64(time.Second)+1, int64(budgetWindow/time.Second))
	if retries*100 <= reqs*budgetPercent+secs*budgetPerSecond*100 {
		return true
	}
	r.counts.add(now, 0, -1)
	return false
}
