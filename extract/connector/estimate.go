package connector

import (
	"context"
	"math"
	"time"
)

// Estimator is a section that can say, from a few cheap requests and the
// streams' states, what its next sync would do (`athlake plan`). It writes
// nothing to the lake, but for what the vendor counts (a day's quota).
type Estimator interface {
	Estimate(ctx context.Context, env *Env, states map[string][]byte) (*Estimate, error)
}

// Estimate is what a source's next sync would do.
type Estimate struct {
	// Requests is the requests the sync would send.
	Requests int `json:"requests"`
	// Seconds is the sync's wall time under the vendor's limits: the
	// rate limit's floor, the days a quota needs, or, with no limit, the
	// requests at the latency the estimate's own requests met.
	Seconds float64 `json:"seconds"`
	// Days is the calendar days of a daily quota the sync spans (1: it
	// fits in what is left today); 0 for a vendor without one.
	Days int `json:"days,omitempty"`
	// Rows is the rows the sync would write, by table (without the
	// source's prefix).
	Rows map[string]int64 `json:"rows"`
	// Asked is the requests the estimate itself sent.
	Asked int `json:"asked"`
	// Notes say what the figures assume.
	Notes []string `json:"notes,omitempty"`
}

// AddRows adds n rows of table.
func (e *Estimate) AddRows(table string, n int64) {
	if e.Rows == nil {
		e.Rows = map[string]int64{}
	}
	e.Rows[table] += max(n, 0)
}

// TotalRows is the rows of every table.
func (e *Estimate) TotalRows() int64 {
	var n int64
	for _, r := range e.Rows {
		n += r
	}
	return n
}

// Pages is the requests a paged list of total rows takes at size rows a
// page: one at least, as an empty list is asked for too.
func Pages(total, size int) int {
	if total <= 0 || size <= 0 {
		return 1
	}
	return (total + size - 1) / size
}

// Latency is the mean time of a request: d spent on n requests sent one
// after another.
func Latency(d time.Duration, n int) time.Duration {
	if n <= 0 {
		return 0
	}
	return d / time.Duration(n)
}

// UnlimitedSeconds is the wall time of n requests at latency each, conc of
// them in flight at once.
func UnlimitedSeconds(n int, latency time.Duration, conc int) float64 {
	return math.Round(float64(n)*latency.Seconds()/float64(max(conc, 1))*10) / 10
}
