package httpx

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestBucketPacing: with a burst of 100 at 1/s, 300 requests take 200 s of
// (fake) time, and no request goes faster than the bucket allows.
func TestBucketPacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBucket(1, 100, nil, nil)
		start := time.Now()
		var mu sync.Mutex
		var times []time.Duration
		var wg sync.WaitGroup
		for range 3 { // three workers share it
			wg.Go(func() {
				for range 100 {
					if err := b.Wait(context.Background()); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					times = append(times, time.Since(start))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if el := time.Since(start); el < 199*time.Second || el > 201*time.Second {
			t.Errorf("300 requests took %v, want ~200s", el)
		}
		// Check the vendor's rule on every window: at most burst + elapsed.
		for i, at := range times {
			if float64(i+1) > 100+at.Seconds()+1e-9 {
				t.Fatalf("request %d at %v exceeds 100 + %v", i+1, at, at)
			}
		}
	})
}

func TestBucketStateCarriesOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBucket(1, 100, nil, nil)
		for range 100 {
			b.Wait(context.Background())
		}
		saved := b.State()
		time.Sleep(10 * time.Second)
		next := NewBucket(1, 100, nil, nil)
		next.Restore(saved)
		start := time.Now()
		for range 15 {
			next.Wait(context.Background())
		}
		// 10 tokens refilled while idle; 5 more take 5 s.
		if el := time.Since(start); el != 5*time.Second {
			t.Errorf("took %v, want 5s", el)
		}
	})
}

func TestBucketDrainAndCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBucket(1, 100, nil, nil)
		b.Drain()
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		if err := b.Wait(ctx); err == nil {
			t.Fatal("Wait on an empty bucket returned before its context ended")
		}
		start := time.Now()
		if err := b.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el != 500*time.Millisecond {
			t.Errorf("after a cancelled wait, next token in %v, want 500ms", el)
		}
	})
}
