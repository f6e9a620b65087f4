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
		s, mem, used := memSeason(t, 61)
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
		s, mem, used := memSeason(t, 62)
		cut := &failAfter{next: http.DefaultTransport}
		cut.left.Store(60)
		s.env.Transport = cut
		syncFailsReleasing(ctx, t, s, mem, used, RunOptions{Command: "sync", Run: connector.Run{Backoff: time.Millisecond}}, "cut off by the network")
	})
	t.Run("Cancelled", func(t *testing.T) {
		t.Parallel()
		s, mem, used := memSeason(t, 63)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		s.env.Transport = &cancelAfter{next: http.DefaultTransport, n: 60, cancel: cancel}
		syncFailsReleasing(ctx, t, s, mem, used, RunOptions{Command: "sync"}, "cancelled")
	})
}

// syncFailsReleasing runs a sync of s that must fail (how says why) and
// checks that it allocated from mem before it stopped, and released it all.
func syncFailsReleasing(ctx context.Context, t *testing.T, s *season, mem *memory.CheckedAllocator, used *atomic.Int64, o RunOptions, how string) {
	t.Helper()
	if _, err := Run(ctx, s.env, s.cfg, o); err == nil {
		t.Fatalf("a sync %s succeeded", how)
	}
	mem.AssertSize(t, 0)
	if used.Load() == 0 {
		t.Errorf("the sync allocated nothing from Env.Mem before it was %s", how)
	}
}

// memSeason is a season whose runs allocate from mem, a leak-checking
// allocator; used counts its allocations (which show that a run allocates
// from it at all).
func memSeason(t *testing.T, seed int64) (s *season, mem *memory.CheckedAllocator, used *atomic.Int64) {
	t.Helper()
	s = newSeason(t, seed)
	c := &countingAllocator{Allocator: memory.NewGoAllocator()}
	mem = memory.NewCheckedAllocator(c)
	s.env.Mem = mem
	return s, mem, &c.n
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
