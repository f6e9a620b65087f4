package jobs

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/athlake/athlake/extract/connector"
)

// Every record a run builds is released by whoever holds it last: after
// syncs of all three vendors, complete or cut off, no Arrow memory is
// outstanding.
func TestSyncsReleaseArrowMemory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("FullThenIncremental", func(t *testing.T) {
		t.Parallel()
		s := newSeason(t, 61)
		mem, used := checkedAllocator(t)
		s.env.Mem = mem
		sum, err := Run(ctx, s.env, s.cfg, RunOptions{Command: "sync"})
		if err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"plyomat_reps", "teampro_samples", "optimo_workouts"} {
			if sum.Rows[table] == 0 {
				t.Errorf("the full sync wrote no %s: %v", table, sum.Rows)
			}
		}
		mem.AssertSize(t, 0)
		before := used.Load()
		if before == 0 {
			t.Error("the sync allocated nothing from Env.Mem")
		}
		s.day()
		mem.AssertSize(t, 0)
		if used.Load() == before {
			t.Error("the incremental sync allocated nothing from Env.Mem")
		}
	})
	t.Run("CutOff", func(t *testing.T) {
		t.Parallel()
		s := newSeason(t, 62)
		mem, used := checkedAllocator(t)
		s.env.Mem = mem
		cut := &failAfter{next: http.DefaultTransport}
		cut.left.Store(60)
		s.env.Transport = cut
		if _, err := Run(ctx, s.env, s.cfg, RunOptions{Command: "sync", Run: connector.Run{Backoff: time.Millisecond}}); err == nil {
			t.Fatal("a sync cut off by the network succeeded")
		}
		mem.AssertSize(t, 0)
		if used.Load() == 0 {
			t.Error("the sync allocated nothing from Env.Mem before it was cut off")
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		t.Parallel()
		s := newSeason(t, 63)
		mem, used := checkedAllocator(t)
		s.env.Mem = mem
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		s.env.Transport = &cancelAfter{next: http.DefaultTransport, n: 60, cancel: cancel}
		if _, err := Run(ctx, s.env, s.cfg, RunOptions{Command: "sync"}); err == nil {
			t.Fatal("a cancelled sync succeeded")
		}
		mem.AssertSize(t, 0)
		if used.Load() == 0 {
			t.Error("the sync allocated nothing from Env.Mem before it was cancelled")
		}
	})
}

// checkedAllocator is a leak-checking allocator and the count of its
// allocations (which show that a run allocates from it at all).
func checkedAllocator(t *testing.T) (*memory.CheckedAllocator, *atomic.Int64) {
	t.Helper()
	c := &countingAllocator{Allocator: memory.NewGoAllocator()}
	return memory.NewCheckedAllocator(c), &c.n
}

type countingAllocator struct {
	memory.Allocator
	n atomic.Int64
}

func (c *countingAllocator) Allocate(size int) []byte {
	c.n.Add(1)
	return c.Allocator.Allocate(size)
}

// cancelAfter cancels the run at its nth request, as a SIGTERM would.
type cancelAfter struct {
	next   http.RoundTripper
	mu     sync.Mutex
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n--
	if c.n == 0 {
		c.cancel()
	}
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}
