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
	// VendorRefused says the vendor answered a request of this day with its
	// quota (a fail response or a 429). It forbids nothing: the vendor's
	// limit may have been raised, or its day may not start at our midnight,
	// so the next run probes with one request before it sends more.
	VendorRefused bool `json:"vendor_refused,omitempty"`
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
//
// It also decides who spends the day's requests first. A stream whose pass
// is unfinished (a first pass, or one the quota cut short on an earlier
// day) holds the budget (Hold) for as long as it runs; a stream whose last
// pass finished waits (AwaitUnfinished) before its first request until no
// hold is left. So routine incremental passes only get what the unfinished
// work leaves of the day, and a backfill finishes in as few days as its
// pages allow. The source starts its unfinished streams before the others
// (see Source.Plan), so a waiting stream never holds a runner slot that an
// unfinished stream needs: with one slot the unfinished streams simply run
// first. The price: a waiting stream does hold a slot, so other sources'
// streams started after it wait for a free one a little longer.
//
// A quota answer from the vendor (Exhaust) stops this run's requests but
// does not spend our own count: the next run sends one request (the probe)
// and, if the vendor accepts it, goes on within daily_request_budget.
type Budget struct {
	mu    sync.Mutex
	store QuotaStore
	loc   *time.Location
	limit int
	now   func() time.Time
	q     Quota

	// refused: the vendor refused a request in this run; every later
	// request of the run is refused without being sent.
	refused bool
	// probing: a request is out to learn whether the vendor accepts
	// requests again after an earlier refusal today.
	probing bool
	holds   int
	changed chan struct{} // closed and replaced when refused, probing or holds change
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
	return &Budget{store: store, loc: loc, limit: limit, now: now, q: q, changed: make(chan struct{})}, nil
}

// Zone names the zone the day is counted in.
func (b *Budget) Zone() string { return b.loc.String() }

func (b *Budget) roll() {
	if day := b.now().In(b.loc).Format(time.DateOnly); day != b.q.Day {
		b.q = Quota{Day: day}
	}
}

// broadcast wakes the waiters. Call with mu held.
func (b *Budget) broadcast() {
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *Budget) vendorStop() error {
	return pipeline.StopEarly(fmt.Sprintf("optimo: the vendor refused a request for its daily quota on %s (%s); run again later", b.q.Day, b.loc))
}

// Wait takes one request from the budget, or says the day's is spent.
func (b *Budget) Wait(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.roll()
	if b.refused {
		return b.vendorStop()
	}
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

// Probe is called before a call (its attempts each Wait). After a quota
// answer earlier in the day, only one call at a time goes out until the
// vendor accepts one: the others wait here for its answer. done reports
// whether the vendor accepted the call; a quota answer has called Exhaust
// before, and a call that got no answer (network errors) lets the next
// call probe.
func (b *Budget) Probe(ctx context.Context) (done func(accepted bool), err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		b.roll()
		switch {
		case b.refused:
			return nil, b.vendorStop()
		case !b.q.VendorRefused:
			return func(bool) {}, nil
		case !b.probing:
			b.probing = true
			return b.probed, nil
		}
		if err := b.waitChange(ctx); err != nil {
			return nil, err
		}
	}
}

// waitChange waits, with b.mu held, for the next broadcast (or ctx's end);
// it holds b.mu again when it returns.
func (b *Budget) waitChange(ctx context.Context) error {
	ch := b.changed
	b.mu.Unlock()
	defer b.mu.Lock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Budget) probed(accepted bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if accepted && b.q.VendorRefused {
		b.q.VendorRefused = false
		b.store.Save(context.Background(), b.q) // best effort: the next Wait saves it anyway
	}
	b.broadcast()
}

// Exhaust records that the vendor says the day's quota is spent: this run
// sends no more requests. Our own count is left as it is (see Quota).
func (b *Budget) Exhaust(ctx context.Context) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.roll()
	b.refused = true
	b.q.VendorRefused = true
	b.store.Save(ctx, b.q) // best effort: this run refuses from now on anyway
	b.broadcast()
}

// Hold marks unfinished work: until release is called, AwaitUnfinished
// blocks. Release is idempotent.
func (b *Budget) Hold() (release func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.holds++
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.holds--
			b.broadcast()
		})
	}
}

// AwaitUnfinished waits until no unfinished work holds the budget.
func (b *Budget) AwaitUnfinished(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.holds > 0 && !b.refused {
		if err := b.waitChange(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Left is what is left of the day's budget, and the time until the next
// day's.
func (b *Budget) Left() (int, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.roll()
	now := b.now().In(b.loc)
	y, m, d := now.Date()
	return max(b.limit-b.q.Used, 0), time.Date(y, m, d+1, 0, 0, 0, 0, b.loc).Sub(now)
}
