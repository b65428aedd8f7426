package upstream

import "time"

// Retry budget (contract): retries may reach 20% of a service's requests plus
// 3 a second, counted over the last 10 seconds.
const (
	budgetWindow    = 10 * time.Second
	budgetPercent   = 20
	budgetPerSecond = 3
)

// budgetReserve is the retries allowed in a window regardless of traffic:
// 3 a second over 10 seconds. As in Finagle's RetryBudget (the model for this
// rule), the reserve is whole from the start, so a gateway that has just
// started can still retry a few requests.
const budgetReserve = budgetPerSecond * int64(budgetWindow/time.Second)

// retryBudget counts a service's first attempts (a) and retries (b) over
// budgetWindow in one-second buckets.
type retryBudget struct {
	counts ring
}

func (r *retryBudget) init() { r.counts.init(budgetWindow) }

// request counts a first attempt.
func (r *retryBudget) request(now int64) { r.counts.add(now, 1, 0) }

// allow takes one retry from the budget, or reports that none is left. The
// retry is counted before the check, so concurrent callers cannot overdraw.
func (r *retryBudget) allow(now int64) bool {
	r.counts.add(now, 0, 1)
	reqs, retries := r.counts.sum(now)
	if retries*100 <= reqs*budgetPercent+budgetReserve*100 {
		return true
	}
	r.counts.add(now, 0, -1)
	return false
}
