// Package pipeline holds the small contracts between extraction and loading
// (source, stream, batch, sink, state store, lock) and the runner that drives
// streams through them. It imports only the standard library and Arrow.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// Source is one vendor account: a named set of streams.
type Source interface {
	Name() string
	Streams() []Stream
}

// Planner is a source that is told its streams' states before they run,
// e.g. to start unfinished work first and give it a shared budget first.
// The runner calls Plan once per run, before Streams, with a copy of the
// states (by stream name; a stream never run has none).
type Planner interface {
	Plan(states map[string][]byte)
}

// Stream extracts one kind of data. Run starts from state (nil on the first
// run) and hands every batch to emit, synchronously. A batch's State is the
// stream's position once that batch and all before it are committed; the
// runner saves it only after the sink has made them durable.
type Stream interface {
	Name() string
	Run(ctx context.Context, state []byte, emit Emit) error
}

// Emit receives a batch. It may commit buffered data before it returns.
type Emit func(ctx context.Context, b *Batch) error

// Batch is extracted data on its way to the sink.
type Batch struct {
	Records []Records
	Raw     []Raw
	Rejects []Reject
	// Anomalies counts oddities that lost no data but deserve a look
	// (a page total that disagrees with the rows received, ...).
	Anomalies []string
	// State is the stream position after this batch; nil leaves it as is.
	State []byte
	// Sync commits what is buffered and saves State at once, before the
	// stream goes on (a state that must be durable before what follows).
	Sync bool
	// Snapshots names the snapshot tables whose fresh snapshot this batch
	// completes: every record of them has been emitted since the last
	// state. A table named here with no rows is recorded as empty, so
	// records deleted at the vendor leave the views even when none is
	// left. Set it with State.
	Snapshots []string
}

// Records is an Arrow record for one partition of one table. The sink takes
// ownership and releases it.
type Records struct {
	Table     string // table name within the source
	Partition string // partition value ("" when the table is not partitioned)
	Record    arrow.RecordBatch
}

// Raw is an API response as received, kept so tables can be rebuilt without
// re-fetching (`athlake rebuild`), with what decoding it took besides the
// body.
type Raw struct {
	Endpoint  string
	FetchedAt time.Time
	Body      []byte
	// Skip lists, by position in the body's list, the records the stream
	// did not decode (read again unchanged, outside a backfill's window).
	Skip []int
	// With holds what the stream knew besides the body and decoded it
	// with: a field of the list the record was fetched through (a Team Pro
	// session's player and timezone offset), the parent of a membership.
	With map[string]string
}

// Reject is a record that could not be transformed, with the reason.
type Reject struct {
	Table    string
	Endpoint string
	Key      string // the record's primary key, as far as it could be read
	Reason   string
	Record   []byte // the record as received
	At       time.Time
}

// Sink makes batches durable. Add buffers; Commit writes everything buffered
// so that each file appears only once complete; Close drops what was not
// committed.
type Sink interface {
	Add(ctx context.Context, b *Batch) error
	Buffered() int64
	Commit(ctx context.Context) (CommitStats, error)
	Close()
}

// CommitStats is what one commit wrote.
type CommitStats struct {
	Rows    map[string]int64 // by table
	Keys    []string         // the files written
	Files   int
	Bytes   int64
	Rejects int
}

// StateStore keeps each source's stream positions.
type StateStore interface {
	Load(ctx context.Context, source string) (map[string][]byte, error)
	Save(ctx context.Context, source string, streams map[string][]byte) error
}

// Locker grants one run at a time the right to write an output.
type Locker interface {
	Acquire(ctx context.Context, h Holder) (Lease, error)
}

// Lease is a held lock; it expires unless renewed.
type Lease interface {
	Renew(ctx context.Context) error
	Release(ctx context.Context) error
	TTL() time.Duration
}

// Holder describes who holds a lock.
type Holder struct {
	RunID     string    `json:"run_id"`
	Command   string    `json:"command"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// LockedError says another run holds the lock.
type LockedError struct{ Holder Holder }

func (e *LockedError) Error() string {
	h := e.Holder
	return fmt.Sprintf("output is locked by run %s (%s, pid %d on %s, started %s); its lease expires at %s",
		h.RunID, h.Command, h.PID, h.Host, h.StartedAt.UTC().Format(time.RFC3339), h.ExpiresAt.UTC().Format(time.RFC3339))
}

// ErrLockLost is returned by Lease.Renew when another run took the lock
// over (the lease had expired).
var ErrLockLost = errors.New("the run lock was taken over by another run")

// ErrStopEarly marks a run that stopped before finishing with its state
// saved: a quota or time budget ran out. Running again later continues.
var ErrStopEarly = errors.New("stopped early")

// StopEarly wraps a reason as an ErrStopEarly.
func StopEarly(reason string) error { return fmt.Errorf("%w: %s", ErrStopEarly, reason) }

// RequestStats counts what a source's HTTP client did.
type RequestStats struct {
	Requests       int64 `json:"requests"`
	Retries        int64 `json:"retries"`
	RateLimitWaits int64 `json:"rate_limit_waits"`
	BytesRead      int64 `json:"bytes_read"`
}
