package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"
)

// journal records, in order, what the sink committed and the state saved.
type journal struct {
	mu     sync.Mutex
	events []string
	state  map[string][]byte
}

func (j *journal) add(e string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, e)
}

func (j *journal) Load(context.Context, string) (map[string][]byte, error) { return j.state, nil }

func (j *journal) Save(_ context.Context, _ string, streams map[string][]byte) error {
	for k, v := range streams {
		j.add("state " + k + "=" + string(v))
	}
	return nil
}

type fakeSink struct {
	j       *journal
	rows    []int64
	buf     int64
	failing bool
}

func (s *fakeSink) Add(_ context.Context, b *Batch) error {
	for _, r := range b.Records {
		s.rows = append(s.rows, r.Record.NumRows())
		s.buf += r.Record.NumRows()
		r.Record.Release()
	}
	return nil
}

func (s *fakeSink) Buffered() int64 { return s.buf }

func (s *fakeSink) Commit(context.Context) (CommitStats, error) {
	if s.failing {
		return CommitStats{}, errors.New("disk full")
	}
	if len(s.rows) == 0 {
		return CommitStats{Rows: map[string]int64{}}, nil
	}
	s.j.add(fmt.Sprintf("commit %v", s.rows))
	st := CommitStats{Rows: map[string]int64{"t": s.buf}, Files: 1}
	s.rows, s.buf = nil, 0
	return st, nil
}

func (s *fakeSink) Close() {}

// scripted emits batches of n rows; a negative n means "no state" (held
// back), and the error ends the stream.
type scripted struct {
	mem   memory.Allocator
	sizes []int
	err   error
}

func (s *scripted) Name() string { return "s" }

func (s *scripted) Run(ctx context.Context, _ []byte, emit Emit) error {
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	for i, n := range s.sizes {
		b := array.NewRecordBuilder(s.mem, schema)
		for range max(n, -n) {
			b.Field(0).(*array.Int64Builder).Append(1)
		}
		batch := &Batch{Records: []Records{{Table: "t", Record: b.NewRecordBatch()}}}
		b.Release()
		if n > 0 {
			batch.State = []byte(fmt.Sprint(i))
		}
		if err := emit(ctx, batch); err != nil {
			return err
		}
	}
	return s.err
}

type oneSource struct{ st Stream }

func (o oneSource) Name() string      { return "src" }
func (o oneSource) Streams() []Stream { return []Stream{o.st} }

func TestRunnerCommitsBeforeState(t *testing.T) {
	cases := map[string]struct {
		sizes []int
		err   error
		want  []string
	}{
		"commits at checkpoints past the limit, state after": {
			sizes: []int{2, 2, 1, 3},
			want:  []string{"commit [2 2]", "state s=1", "commit [1 3]", "state s=3"},
		},
		"held batches join the next checkpoint": {
			sizes: []int{-2, -2, 1},
			want:  []string{"commit [2 2 1]", "state s=2"},
		},
		"failure keeps what checkpoints cover, drops the rest": {
			sizes: []int{2, 1, -5, -5},
			err:   errors.New("page broken"),
			want:  []string{"commit [2 1]", "state s=1"},
		},
		"a snapshot cut short commits nothing": {
			sizes: []int{-3, -3},
			err:   errors.New("page broken"),
			want:  nil,
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			j := &journal{}
			r := &Runner{
				Log: slog.New(slog.DiscardHandler), State: j, CommitBytes: 4,
				NewSink: func(string, string) Sink { return &fakeSink{j: j} },
			}
			res, err := r.Run(context.Background(), []Source{oneSource{&scripted{mem: mem, sizes: c.sizes, err: c.err}}})
			if (err != nil) != (c.err != nil) || (err != nil && !strings.Contains(err.Error(), "src/s: page broken")) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			if d := cmp.Diff(c.want, j.events); d != "" {
				t.Errorf("journal (-want +got):\n%s", d)
			}
			if len(res) != 1 {
				t.Fatalf("results = %+v", res)
			}
		})
	}
}

func TestRunnerCommitFailureSavesNoState(t *testing.T) {
	j := &journal{}
	r := &Runner{
		Log: slog.New(slog.DiscardHandler), State: j,
		NewSink: func(string, string) Sink { return &fakeSink{j: j, failing: true} },
	}
	_, err := r.Run(context.Background(), []Source{oneSource{&scripted{mem: memory.DefaultAllocator, sizes: []int{1, 1}}}})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
	if len(j.events) != 0 {
		t.Errorf("state saved though nothing was committed: %v", j.events)
	}
}

// failingLocker grants a lease that renews ok times, then never again (the
// store unreachable), and records when the run stopped.
type failingLocker struct {
	ttl     time.Duration
	mu      sync.Mutex
	ok      int
	granted time.Time // when the lease last ran from
}

func (f *failingLocker) Acquire(context.Context, Holder) (Lease, error) {
	f.granted = time.Now()
	return f, nil
}
func (f *failingLocker) TTL() time.Duration { return f.ttl }
func (f *failingLocker) Renew(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ok > 0 {
		f.ok--
		f.granted = time.Now()
		return nil
	}
	return errors.New("connection refused")
}
func (f *failingLocker) Release(context.Context) error { return nil }

// blocking is a stream that runs until cancelled and notes when.
type blocking struct{ stopped *time.Time }

func (blocking) Name() string { return "b" }
func (b blocking) Run(ctx context.Context, _ []byte, _ Emit) error {
	<-ctx.Done()
	*b.stopped = time.Now()
	return context.Cause(ctx)
}

// A run that cannot renew its lease stops before the lease expires: another
// run may hold the lock after that.
func TestRunnerStopsBeforeAnUnrenewableLeaseExpires(t *testing.T) {
	t.Parallel()
	j := &journal{}
	lock := &failingLocker{ttl: 1500 * time.Millisecond, ok: 1} // stops ~1 s in, half a second early
	var stopped time.Time
	r := &Runner{
		Log: slog.New(slog.DiscardHandler), State: j, Lock: lock,
		NewSink: func(string, string) Sink { return &fakeSink{j: j} },
	}
	_, err := r.Run(context.Background(), []Source{oneSource{blocking{&stopped}}})
	if !errors.Is(err, ErrLockLost) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v, want ErrLockLost with the renewal's error", err)
	}
	lock.mu.Lock()
	expiry := lock.granted.Add(lock.ttl)
	lock.mu.Unlock()
	if !stopped.Before(expiry) {
		t.Fatalf("the run stopped %v after its lease expired", stopped.Sub(expiry))
	}
}

// planned is a source that records what Plan was told and when.
type planned struct {
	oneSource
	got    map[string][]byte
	before bool // Plan came before Streams
}

func (p *planned) Plan(states map[string][]byte) { p.got, p.before = states, true }

func (p *planned) Streams() []Stream {
	if p.got == nil {
		p.before = false
	}
	return p.oneSource.Streams()
}

func TestRunnerPlansBeforeStreams(t *testing.T) {
	j := &journal{state: map[string][]byte{"s": []byte(`7`)}}
	r := &Runner{
		Log: slog.New(slog.DiscardHandler), State: j,
		NewSink: func(string, string) Sink { return &fakeSink{j: j} },
	}
	src := &planned{oneSource: oneSource{&scripted{mem: memory.DefaultAllocator, sizes: []int{1}}}}
	if _, err := r.Run(context.Background(), []Source{src}); err != nil {
		t.Fatal(err)
	}
	if !src.before {
		t.Error("Streams was called before Plan")
	}
	if d := cmp.Diff(map[string][]byte{"s": []byte(`7`)}, src.got); d != "" {
		t.Errorf("Plan was told (-want +got):\n%s", d)
	}
}

// syncing emits a Sync state, then a batch that fails the stream.
type syncing struct{}

func (syncing) Name() string { return "s" }

func (syncing) Run(ctx context.Context, _ []byte, emit Emit) error {
	if err := emit(ctx, &Batch{State: []byte(`"forgotten"`), Sync: true}); err != nil {
		return err
	}
	if err := emit(ctx, &Batch{State: []byte(`"later"`)}); err != nil {
		return err
	}
	return errors.New("killed")
}

func TestRunnerSavesASyncStateAtOnce(t *testing.T) {
	j := &journal{}
	r := &Runner{
		Log: slog.New(slog.DiscardHandler), State: j,
		NewSink: func(string, string) Sink { return &fakeSink{j: j} },
		// A commit only at the end unless a batch asks for one.
		CommitBytes: 1 << 40,
	}
	r.Run(context.Background(), []Source{oneSource{syncing{}}})
	if len(j.events) == 0 || j.events[0] != `state s="forgotten"` {
		t.Errorf("events %q: want the Sync state saved first, on its own", j.events)
	}
}
