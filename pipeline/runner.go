package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Runner drives streams into sinks and saves their state after each commit.
//
// It starts a run's goroutines: one per stream (Parallel at once) and one
// renewing the lock's lease, all ended before Run returns. The only others
// a sync starts are a stream's parallel fetches (Ordered, which waits for
// them) and the S3 store's part uploads (a writer's Commit or Abort waits).
// Besides, mirror copies objects in parallel; the demo, the sandbox and
// `athlake auth` serve HTTP on loopback; and `athlake auth` reads a pasted
// code in the background.
type Runner struct {
	Log    *slog.Logger
	State  StateStore
	Lock   Locker // nil: no locking
	Holder Holder
	// NewSink returns the sink for one stream of one source.
	NewSink func(source, stream string) Sink
	// Parallel bounds the streams that run at once (default 4).
	Parallel int
	// CommitBytes is how much a stream buffers before it commits at its next
	// checkpoint (default 64 MiB).
	CommitBytes int64
	// Progress, if set, is told about every committed batch.
	Progress func(source, stream string, st CommitStats)
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Recover, if set, runs once the lock is held and before any stream
	// starts: the output's clean-up after killed runs.
	Recover func(ctx context.Context) error
	// After, if set, runs once every stream has ended, unless the run
	// was cancelled, while the lock is still held: the output's upkeep
	// (compaction). Its error joins the streams'.
	After func(ctx context.Context) error
}

// StreamResult is what one stream did in a run.
type StreamResult struct {
	Source    string           `json:"source"`
	Stream    string           `json:"stream"`
	Rows      map[string]int64 `json:"rows"`
	Files     int              `json:"files"`
	Bytes     int64            `json:"bytes"`
	Rejects   int              `json:"rejects"`
	Anomalies []string         `json:"anomalies,omitempty"`
	Duration  time.Duration    `json:"duration_ns"`
	Error     string           `json:"error,omitempty"`
}

// Run runs every stream of the sources and returns one result per stream. The
// error joins the streams' errors; a stream's failure does not stop the
// others, and whatever a stream committed before failing stays committed.
func (r *Runner) Run(ctx context.Context, sources []Source) ([]StreamResult, error) {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Lock != nil {
		lease, err := r.Lock.Acquire(ctx, r.Holder)
		if err != nil {
			return nil, err
		}
		defer func() {
			if err := lease.Release(context.WithoutCancel(ctx)); err != nil {
				r.Log.Warn("releasing the lock", "err", err)
			}
		}()
		// Losing the lease (another run took it over) stops this run: two
		// writers must never work on one output.
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		stop := make(chan struct{})
		renewed := make(chan struct{})
		go func() {
			defer close(renewed)
			r.renew(ctx, lease, stop, cancel)
		}()
		defer func() { close(stop); <-renewed }()
	}
	if r.Recover != nil {
		if err := r.Recover(ctx); err != nil {
			return nil, fmt.Errorf("cleaning up after earlier runs: %w", err)
		}
	}

	var (
		mu      sync.Mutex
		results []StreamResult
		errs    []error
	)
	g := new(errgroup.Group)
	if r.Parallel > 0 {
		g.SetLimit(r.Parallel)
	} else {
		g.SetLimit(4)
	}
	// Every source's state is read before any stream starts, so a failure
	// here returns with nothing running.
	all := make([]*sourceState, len(sources))
	for i, src := range sources {
		states, err := r.State.Load(ctx, src.Name())
		if err != nil {
			return nil, fmt.Errorf("%s: loading state: %w", src.Name(), err)
		}
		all[i] = &sourceState{store: r.State, source: src.Name(), streams: states}
	}
	for i, src := range sources {
		ss := all[i]
		if p, ok := src.(Planner); ok {
			p.Plan(maps.Clone(ss.streams))
		}
		for _, st := range src.Streams() {
			g.Go(func() error {
				res, err := r.runStream(ctx, src.Name(), st, ss)
				mu.Lock()
				defer mu.Unlock()
				results = append(results, res)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s/%s: %w", src.Name(), st.Name(), err))
				}
				return nil
			})
		}
	}
	_ = g.Wait()
	if r.After != nil && ctx.Err() == nil {
		if err := r.After(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if cause := context.Cause(ctx); errors.Is(cause, ErrLockLost) {
		errs = append(errs, cause)
	}
	return results, errors.Join(errs...)
}

func (r *Runner) renew(ctx context.Context, lease Lease, stop <-chan struct{}, lost context.CancelCauseFunc) {
	ttl := lease.TTL()
	t := time.NewTicker(ttl / 3)
	defer t.Stop()
	// The lease runs from before the request that set it: renewedAt is
	// taken before each Renew, never after.
	renewedAt := r.Now()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			// Renew until the run is over, final commits included, even
			// after the run was cancelled; a renewal that hangs gives up
			// before the next one is due.
			sent := r.Now()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ttl/3)
			err := lease.Renew(rctx)
			cancel()
			switch {
			case err == nil:
				renewedAt = sent
			case errors.Is(err, ErrLockLost):
				lost(err)
				return
			case r.Now().Sub(renewedAt) >= ttl/2:
				// The lease could expire before the next renewal is due
				// (ticks come every third of it, give or take): another
				// run may take the lock then, so stop writing now.
				lost(fmt.Errorf("%w: the lease could not be renewed (%v) and expires at %s", ErrLockLost, err, renewedAt.Add(ttl).UTC().Format(time.RFC3339)))
				return
			default:
				r.Log.Warn("renewing the lock lease", "err", err)
			}
		}
	}
}

// runStream runs one stream. A batch without State is held back until a
// batch with State covers it, then handed to the sink; the sink commits when
// it holds more than CommitBytes at such a checkpoint, and at the end. When the
// stream fails or is cancelled, what a checkpoint covers is still committed
// and its state saved; batches no checkpoint covers (a half-read snapshot) are
// dropped.
func (r *Runner) runStream(ctx context.Context, source string, st Stream, ss *sourceState) (StreamResult, error) {
	res := StreamResult{Source: source, Stream: st.Name(), Rows: map[string]int64{}}
	start := r.Now()
	log := r.Log.With("source", source, "stream", st.Name())
	sink := r.NewSink(source, st.Name())
	defer sink.Close()

	limit := r.CommitBytes
	if limit <= 0 {
		limit = 64 << 20
	}
	var (
		held    []*Batch // not yet covered by a checkpoint
		pending []byte   // state covered by what the sink buffers
	)
	defer func() { releaseBatches(held) }()
	commit := func(ctx context.Context) error {
		cs, err := sink.Commit(ctx)
		res.Files += cs.Files
		res.Bytes += cs.Bytes
		res.Rejects += cs.Rejects
		for t, n := range cs.Rows {
			res.Rows[t] += n
		}
		if err != nil {
			return fmt.Errorf("committing: %w", err)
		}
		if r.Progress != nil {
			r.Progress(source, st.Name(), cs)
		}
		if pending != nil {
			if err := ss.save(ctx, st.Name(), pending); err != nil {
				return fmt.Errorf("saving state: %w", err)
			}
			pending = nil
		}
		return nil
	}
	release := func(ctx context.Context) error {
		for i, b := range held {
			held[i] = nil
			if err := sink.Add(ctx, b); err != nil {
				releaseBatches(held[i+1:])
				held = nil
				return err
			}
		}
		held = held[:0]
		return nil
	}
	emit := func(ctx context.Context, b *Batch) error {
		res.Anomalies = append(res.Anomalies, b.Anomalies...)
		for _, a := range b.Anomalies {
			log.Warn("anomaly", "what", a)
		}
		held = append(held, b)
		if b.State == nil {
			return nil
		}
		if err := release(ctx); err != nil {
			return err
		}
		pending = b.State
		if b.Sync || sink.Buffered() >= limit {
			return commit(ctx)
		}
		return nil
	}

	runErr := st.Run(ctx, ss.get(st.Name()), emit)
	// Commit even after a failure or cancellation: what a checkpoint covers is
	// complete, and its state is saved only once it is durable.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	var addErr, commitErr error
	if errors.Is(context.Cause(ctx), ErrLockLost) {
		// Another run holds the output now: write nothing more.
		commitErr = context.Cause(ctx)
	} else {
		if runErr == nil {
			addErr = release(cctx)
		}
		commitErr = commit(cctx)
	}
	res.Duration = r.Now().Sub(start)
	err := errors.Join(runErr, addErr, commitErr)
	if err != nil {
		res.Error = err.Error()
	}
	log.Debug("stream done", "rows", res.Rows, "files", res.Files, "duration", res.Duration.String(), "err", err)
	return res, err
}

func releaseBatches(bs []*Batch) {
	for _, b := range bs {
		ReleaseBatch(b)
	}
}

// ReleaseBatch releases the records of a batch no one will add.
func ReleaseBatch(b *Batch) {
	if b == nil {
		return
	}
	for _, r := range b.Records {
		r.Record.Release()
	}
}

// sourceState serialises the state updates of one source's streams.
type sourceState struct {
	mu      sync.Mutex
	store   StateStore
	source  string
	streams map[string][]byte
}

func (s *sourceState) get(stream string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[stream]
}

func (s *sourceState) save(ctx context.Context, stream string, state []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams == nil {
		s.streams = map[string][]byte{}
	}
	s.streams[stream] = state
	return s.store.Save(ctx, s.source, s.streams)
}
