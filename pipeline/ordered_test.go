package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// pages produces k results "i.0", "i.1", ... for item i, after a delay
// that makes later items finish first.
func pages(k int, inFlight, most *atomic.Int32) func(ctx context.Context, i int, send func(string) error) error {
	return func(ctx context.Context, i int, send func(string) error) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(time.Duration(20-i) * time.Millisecond)
		for j := range k {
			if err := send(fmt.Sprintf("%d.%d", i, j)); err != nil {
				return err
			}
		}
		return nil
	}
}

func ints(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestOrderedDeliversInOrderWithBoundedProducers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var inFlight, most atomic.Int32
		var got, want []string
		var doneItems []int
		err := Ordered(context.Background(), OrderedOptions{Parallel: 3, Ahead: 2}, ints(20), pages(5, &inFlight, &most),
			func(i int, r string) error {
				got = append(got, r)
				return nil
			}, func(i int) error {
				doneItems = append(doneItems, i)
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			for j := range 5 {
				want = append(want, fmt.Sprintf("%d.%d", i, j))
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("delivered %v\nwant %v", got, want)
		}
		if fmt.Sprint(doneItems) != fmt.Sprint(ints(20)) {
			t.Fatalf("done %v", doneItems)
		}
		if m := most.Load(); m != 3 {
			t.Errorf("at most %d producers at once, want 3", m)
		}
	})
}

func TestOrderedStopsAtTheFirstError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("boom")
		var delivered []int
		var started atomic.Int32
		err := Ordered(context.Background(), OrderedOptions{Parallel: 2}, ints(8), func(ctx context.Context, i int, send func(int) error) error {
			started.Add(1)
			if i == 3 {
				return boom
			}
			select {
			case <-time.After(time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
			return send(i)
		}, func(i, _ int) error {
			delivered = append(delivered, i)
			return nil
		}, func(int) error { return nil })
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want boom", err)
		}
		for k, i := range delivered {
			if i != k || i >= 3 {
				t.Fatalf("delivered %v: only items before the failing one, in order", delivered)
			}
		}
		if n := started.Load(); n > 6 {
			t.Errorf("%d producers started after an error at item 3 with 2 at once", n)
		}
	})
}

func TestOrderedReturnsTheConsumerErrorOverCancelledProducers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stop := errors.New("stop")
		for _, where := range []string{"deliver", "done"} {
			err := Ordered(context.Background(), OrderedOptions{Parallel: 3}, ints(5), func(ctx context.Context, i int, send func(int) error) error {
				if i == 0 {
					return send(i)
				}
				<-ctx.Done() // still producing when item 0 fails downstream
				return ctx.Err()
			}, func(i, _ int) error {
				if where == "deliver" {
					return stop
				}
				return nil
			}, func(i int) error {
				if i > 0 {
					t.Errorf("%s: item %d done after an error", where, i)
				}
				return stop
			})
			if !errors.Is(err, stop) {
				t.Fatalf("%s: err = %v, want stop", where, err)
			}
		}
	})
}

func TestOrderedCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Ordered(ctx, OrderedOptions{Parallel: 2}, ints(2), func(ctx context.Context, i int, send func(int) error) error { return send(i) },
		func(int, int) error { return nil }, func(int) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if err := Ordered[int, int](context.Background(), OrderedOptions{}, []int{}, nil, nil, func(int) error { return nil }); err != nil {
		t.Fatalf("no items: %v", err)
	}
}
