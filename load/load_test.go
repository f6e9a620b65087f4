package load

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/load/store/storetest"
	"github.com/athlake/athlake/pipeline"
)

var update = flag.Bool("update", false, "rewrite golden files")

func newStore(t *testing.T) *store.Local { return storetest.NewLocal(t, t.TempDir()) }

// TestStateFormat pins the state file format: a change must bump
// StateVersion and keep reading old files.
func TestStateFormat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	ss := &StateStore{Store: st, Now: func() time.Time { return time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC) }}
	streams := map[string][]byte{
		"sets":     []byte(`{"watermark":"2026-06-01T00:00:00Z"}`),
		"athletes": []byte(`{"refreshed_at":"2026-06-01T00:00:00Z"}`),
	}
	if err := ss.Save(ctx, "plyomat", streams); err != nil {
		t.Fatal(err)
	}
	got, _, err := st.Get(ctx, "_state/plyomat.json")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "state-v1.json")
	if *update {
		os.WriteFile(golden, got, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("state file (-golden +got):\n%s", d)
	}
	back, err := ss.Load(ctx, "plyomat")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(streams, back); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	if none, err := ss.Load(ctx, "optimo"); err != nil || len(none) != 0 {
		t.Errorf("Load of a source never run = %v, %v", none, err)
	}
	st.Put(ctx, "_state/future.json", []byte(`{"version":99,"streams":{}}`))
	if _, err := ss.Load(ctx, "future"); err == nil {
		t.Error("a future state version was accepted")
	}
}

func TestLock(t *testing.T) {
	t.Parallel()
	inEachStore(t, testLock)
}

func testLock(t *testing.T, st store.Store) {
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a := &Lock{Store: st, TTL: time.Minute, Now: clock}
	host, _ := os.Hostname()
	me := pipeline.Holder{RunID: "run-a", Command: "sync", Host: host, PID: os.Getpid(), StartedAt: now}

	lease, err := a.Acquire(ctx, me)
	if err != nil {
		t.Fatal(err)
	}
	// A second run is refused at once, and told who holds the lock.
	other := me
	other.RunID = "run-b"
	_, err = a.Acquire(ctx, other)
	var locked *pipeline.LockedError
	if !errors.As(err, &locked) || locked.Holder.RunID != "run-a" || !locked.Holder.ExpiresAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("second Acquire = %v, want LockedError naming run-a", err)
	}
	// Renewing extends the lease.
	now = now.Add(50 * time.Second)
	if err := lease.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.Add(50 * time.Second)
	if _, err := a.Acquire(ctx, other); !errors.As(err, &locked) {
		t.Fatalf("Acquire within a renewed lease = %v", err)
	}
	// An expired lease is taken over; the old holder then loses its lease.
	now = now.Add(2 * time.Minute)
	lb, err := a.Acquire(ctx, other)
	if err != nil {
		t.Fatalf("taking over an expired lock: %v", err)
	}
	if err := lease.Renew(ctx); !errors.Is(err, pipeline.ErrLockLost) {
		t.Errorf("the old holder's renewal of a lock taken over: %v, want ErrLockLost", err)
	}
	if err := lease.Release(ctx); err == nil {
		t.Error("the old holder released a lock taken over")
	}
	if err := lb.Release(ctx); err != nil {
		t.Fatal(err)
	}
	// A released lock is an expired lease: the next run takes it at once,
	// even from another host.
	next := me
	next.RunID, next.Host = "run-c", "elsewhere"
	if _, err := a.Acquire(ctx, next); err != nil {
		t.Errorf("Acquire after release: %v", err)
	}
}

// TestLockOfDeadProcess: a run killed with SIGKILL leaves its lock behind;
// the next run on the same host takes it over at once.
func TestLockOfDeadProcess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	st := newStore(t)
	host, _ := os.Hostname()
	l := &Lock{Store: st, TTL: time.Hour}
	if _, err := l.Acquire(ctx, pipeline.Holder{RunID: "killed", Host: host, PID: dead}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(ctx, pipeline.Holder{RunID: "next", Host: host, PID: os.Getpid()}); err != nil {
		t.Fatalf("lock of a dead process on this host not taken over: %v", err)
	}
	// On another host the same lock is respected until it expires.
	if _, err := l.Acquire(ctx, pipeline.Holder{RunID: "pod", Host: "elsewhere", PID: 1}); err == nil {
		t.Fatal("a live lease was taken over from another host")
	}
}
