package optimo

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/athlake/athlake/pipeline"
)

// Quota is what was spent of a day's requests.
type Quota struct {
	Day  string `json:"day"` // YYYY-MM-DD in the account's zone
	Used int    `json:"used"`
}

// QuotaStore keeps the quota beside the lake's state, so runs on the same
// day share one budget.
type QuotaStore interface {
	Load(ctx context.Context) (Quota, error)
	Save(ctx context.Context, q Quota) error
}

// Budget counts the day's requests against the configured limit. A request
// is counted, and the count saved, before it is sent: a crash can only
// over-count, never let a later run exceed the budget.
type Budget struct {
	mu    sync.Mutex
	store QuotaStore
	loc   *time.Location
	limit int
	now   func() time.Time
	q     Quota
}

// NewBudget loads the day's count.
func NewBudget(ctx context.Context, store QuotaStore, loc *time.Location, limit int, now func() time.Time) (*Budget, error) {
	if now == nil {
		now = time.Now
	}
	q, err := store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the request budget: %w", err)
	}
	return &Budget{store: store, loc: loc, limit: limit, now: now, q: q}, nil
}

// Zone names the zone the day is counted in.
func (b *Budget) Zone() string { return b.loc.String() }

func (b *Budget) roll() {
	if day := b.now().In(b.loc).Format(time.DateOnly); day != b.q.Day {
		b.q = Quota{Day: day}
	}
}

// Wait takes one request from the budget, or says the day's is spent.
func (b *Budget) Wait(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.roll()
	if b.q.Used >= b.limit {
		return pipeline.StopEarly(fmt.Sprintf("optimo: the daily request budget of %d is spent for %s (%s); run again tomorrow", b.limit, b.q.Day, b.loc))
	}
	b.q.Used++
	if err := b.store.Save(ctx, b.q); err != nil {
		b.q.Used--
		return fmt.Errorf("saving the request budget: %w", err)
	}
	return nil
}

// Exhaust records that the vendor says the day's quota is spent.
func (b *Budget) Exhaust(ctx context.Context) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.roll()
	b.q.Used = max(b.q.Used, b.limit)
	b.store.Save(ctx, b.q) // best effort: Wait refuses from now on anyway
}
