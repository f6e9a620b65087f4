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

// streamItems is an OrderedMap's feed of 0..n-1, failing with err after fail
// items when fail >= 0.
func streamItems(n, fail int, err error) func(ctx context.Context, emit func(int) error) error {
	return func(ctx context.Context, emit func(int) error) error {
		for i := range n {
			if i == fail {
				return err
			}
			if err := emit(i); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestOrderedMapDeliversInOrderOnBoundedWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const parallel = 3
		var inFlight, most atomic.Int32
		var busy [parallel]atomic.Bool
		var got []int
		var emitted, delivered atomic.Int32
		feed := func(ctx context.Context, emit func(int) error) error {
			return streamItems(30, -1, nil)(ctx, func(i int) error {
				if ahead := emitted.Add(1) - delivered.Load(); ahead > 2*parallel+2 {
					t.Errorf("%d items emitted and not delivered", ahead)
				}
				return emit(i)
			})
		}
		err := OrderedMap(context.Background(), parallel, feed,
			func(ctx context.Context, w, i int) (int, error) {
				if busy[w].Swap(true) {
					t.Errorf("worker %d runs two items at once", w)
				}
				defer busy[w].Store(false)
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(time.Duration(30-i) * time.Millisecond) // later items finish first
				return i * i, nil
			},
			func(r int) error {
				delivered.Add(1)
				got = append(got, r)
				return nil
			}, func(int) { t.Error("dropped a result with no error") })
		if err != nil {
			t.Fatal(err)
		}
		var want []int
		for i := range 30 {
			want = append(want, i*i)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("delivered %v\nwant %v", got, want)
		}
		if m := most.Load(); m != parallel {
			t.Errorf("at most %d items worked at once, want %d", m, parallel)
		}
	})
}

func TestOrderedMapStopsAtTheFirstError(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name               string
		feedFail, workFail int
		deliverFail        int
		wantErr            error
	}{
		{"feed", 5, -1, -1, boom},
		{"work", -1, 5, -1, boom},
		{"deliver", -1, -1, 5, boom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var delivered, dropped, worked atomic.Int32
				err := OrderedMap(context.Background(), 2, streamItems(20, tc.feedFail, boom),
					func(ctx context.Context, _, i int) (int, error) {
						time.Sleep(time.Duration(20-i) * time.Millisecond)
						if i == tc.workFail {
							return 0, boom
						}
						worked.Add(1)
						return i, nil
					},
					func(i int) error {
						delivered.Add(1)
						if i == tc.deliverFail {
							return boom
						}
						if tc.workFail >= 0 && i >= tc.workFail {
							t.Errorf("item %d delivered after item %d failed", i, tc.workFail)
						}
						return nil
					}, func(int) { dropped.Add(1) })
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				// Every result worked out is delivered or dropped, once.
				if d, w := delivered.Load()+dropped.Load(), worked.Load(); d != w {
					t.Errorf("%d delivered + %d dropped, %d worked out", delivered.Load(), dropped.Load(), w)
				}
				if n := delivered.Load(); n > 6 {
					t.Errorf("%d delivered, want at most the 5 before the failure (6 for deliver's own)", n)
				}
			})
		})
	}
}

func TestOrderedMapCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var delivered int
		err := OrderedMap(ctx, 2, streamItems(100, -1, nil),
			func(ctx context.Context, _, i int) (int, error) {
				time.Sleep(time.Millisecond)
				return i, nil
			},
			func(i int) error {
				if delivered++; delivered == 10 {
					cancel()
				}
				return nil
			}, func(int) {})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if delivered >= 100 {
			t.Fatalf("delivered all %d items after the cancel", delivered)
		}
	})
}
