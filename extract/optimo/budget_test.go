package optimo

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

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

// TestBudgetVendorRefusal: a quota answer from the vendor stops the run
// but spends nothing of our count; the next run sends one request (the
// probe) while its other calls wait, and goes on once the vendor accepts
// it, or stops again if it refuses.
func TestBudgetVendorRefusal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		clock := func() time.Time { return time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC) }
		store := &memQuota{}
		b, _ := NewBudget(ctx, store, time.UTC, 10, clock)
		for range 3 {
			if err := b.Wait(ctx); err != nil {
				t.Fatal(err)
			}
		}
		b.Exhaust(ctx)
		if err := b.Wait(ctx); !errors.Is(err, pipeline.ErrStopEarly) {
			t.Fatalf("a request after the vendor's refusal in the same run: %v, want a stop", err)
		}
		if want := (Quota{Day: "2026-06-01", Used: 3, VendorRefused: true}); store.q != want {
			t.Fatalf("saved %+v, want %+v (our own count untouched)", store.q, want)
		}

		// A later run the same day: one call probes, the others wait.
		for _, accepted := range []bool{false, true} {
			b, _ := NewBudget(ctx, store, time.UTC, 10, clock)
			done, err := b.Probe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			waited := make(chan error, 1)
			go func() {
				d, err := b.Probe(ctx)
				if err == nil {
					d(true)
				}
				waited <- err
			}()
			synctest.Wait()
			select {
			case err := <-waited:
				t.Fatalf("a second call went out while the probe was out (%v)", err)
			default:
			}
			if err := b.Wait(ctx); err != nil { // the probe's own attempt
				t.Fatal(err)
			}
			if !accepted {
				b.Exhaust(ctx)
				done(false)
				if err := <-waited; !errors.Is(err, pipeline.ErrStopEarly) {
					t.Fatalf("after a refused probe the waiting call got %v, want a stop", err)
				}
				continue
			}
			done(true)
			if err := <-waited; err != nil {
				t.Fatalf("after an accepted probe the waiting call got %v", err)
			}
			if store.q.VendorRefused {
				t.Error("the refusal is still recorded after the vendor accepted a request")
			}
		}
		if store.q.Used != 5 {
			t.Errorf("used = %d, want 5 (3, then one probe per later run)", store.q.Used)
		}
	})
}

// TestBudgetUnfinishedFirst: a stream whose pass finished waits until the
// unfinished ones let go of the budget.
func TestBudgetUnfinishedFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b, _ := NewBudget(ctx, &memQuota{}, time.UTC, 10, nil)
		r1, r2 := b.Hold(), b.Hold()
		var order []string
		var mu sync.Mutex
		note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := b.AwaitUnfinished(ctx); err != nil {
				t.Error(err)
			}
			note("routine")
		}()
		synctest.Wait()
		note("first done")
		r1()
		r1() // idempotent
		synctest.Wait()
		note("second done")
		r2()
		<-done
		if d := cmp.Diff([]string{"first done", "second done", "routine"}, order); d != "" {
			t.Errorf("order (-want +got):\n%s", d)
		}
	})
}
