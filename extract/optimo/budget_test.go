package optimo

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/athlake/athlake/pipeline"
)

type memQuota struct{ q Quota }

func (m *memQuota) Load(context.Context) (Quota, error)   { return m.q, nil }
func (m *memQuota) Save(_ context.Context, q Quota) error { m.q = q; return nil }

func TestBudgetAcrossRunsAndMidnight(t *testing.T) {
	ctx := context.Background()
	cph, _ := time.LoadLocation("Europe/Copenhagen")
	now := time.Date(2026, 6, 1, 21, 30, 0, 0, time.UTC) // 23:30 in Copenhagen
	clock := func() time.Time { return now }
	store := &memQuota{}
	spend := func() (n int, err error) {
		b, err := NewBudget(ctx, store, cph, 10, clock)
		if err != nil {
			return 0, err
		}
		for {
			if err := b.Wait(ctx); err != nil {
				return n, err
			}
			n++
		}
	}
	// First run of the day spends 4, then stops for another reason.
	b, _ := NewBudget(ctx, store, cph, 10, clock)
	for range 4 {
		if err := b.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A second run the same day gets only the remaining 6, then stops early.
	n, err := spend()
	if n != 6 || !errors.Is(err, pipeline.ErrStopEarly) {
		t.Fatalf("second run spent %d (%v), want 6 and a stop", n, err)
	}
	if store.q != (Quota{Day: "2026-06-01", Used: 10}) {
		t.Errorf("saved %+v", store.q)
	}
	// 00:10 in Copenhagen (22:10 UTC): a new day, a new budget.
	now = now.Add(40 * time.Minute)
	if n, _ := spend(); n != 10 {
		t.Errorf("after midnight (account zone) spent %d, want 10", n)
	}
	if store.q.Day != "2026-06-02" {
		t.Errorf("day = %s", store.q.Day)
	}
}
