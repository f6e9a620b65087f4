// Package stream holds the small pieces the vendors' pipeline streams
// share: the lookup of a declared table, a stream state's JSON both ways,
// the batch of a decoded page and the fingerprint of a snapshot's records.
package stream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"

	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
	"github.com/athlake/athlake/transform"
)

// Table is the declared table name of source. A table not declared is a
// programming error, caught by every test that runs the stream: Table
// panics.
func Table(reg *schemas.Registry, source, name string) *schemas.Table {
	t, ok := reg.Lookup(source, name)
	if !ok {
		panic(source + ": table " + name + " not declared")
	}
	return t
}

// Batch flushes dec (a transform decoder) into a batch, with raw, the
// page's body, if keep: a page with nothing kept holds nothing to rebuild
// a table from, so a sync that finds nothing new writes no file.
func Batch(dec interface {
	Flush() ([]pipeline.Records, []pipeline.Reject)
}, raw pipeline.Raw, keep bool) *pipeline.Batch {
	recs, rejects := dec.Flush()
	b := &pipeline.Batch{Records: recs, Rejects: rejects}
	if keep {
		b.Raw = []pipeline.Raw{raw}
	}
	return b
}

// ReadState decodes a stream's state into v; nil (no state yet) leaves v
// as it is.
func ReadState(raw []byte, v any) error {
	if raw == nil {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("reading state: %w", err)
	}
	return nil
}

// JSON encodes a state (or a record built from plain fields); it panics
// if v cannot be encoded, which plain structs always can.
func JSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Fingerprint hashes a snapshot's records in the order read: a refresh
// whose fingerprint equals the one last committed writes nothing.
type Fingerprint struct{ h hash.Hash }

// NewFingerprint returns an empty fingerprint.
func NewFingerprint() *Fingerprint { return &Fingerprint{sha256.New()} }

// Group hashes records under a label (Plyomat's fingerprints label each
// page: "" for a list's, the group's id for its members).
func (f *Fingerprint) Group(label string, recs []json.RawMessage) {
	fmt.Fprintf(f.h, "%d:%s\n", len(label), label)
	f.Add(recs...)
}

// Add hashes records, each length-prefixed.
func (f *Fingerprint) Add(recs ...json.RawMessage) {
	for _, r := range recs {
		fmt.Fprintf(f.h, "%d:", len(r))
		f.h.Write(r)
	}
}

// Sum is the fingerprint in hex.
func (f *Fingerprint) Sum() string { return hex.EncodeToString(f.h.Sum(nil)) }

// ForgetFingerprint clears *fp, the fingerprint of the snapshot last
// committed, and when there was one emits state() (the stream's state,
// which holds *fp) as a synced batch before a changed snapshot is written:
// were the run killed between the snapshot's commit and its state, a
// vendor back at the old records would otherwise match the old
// fingerprint and leave the new snapshot in the views.
func ForgetFingerprint(ctx context.Context, emit pipeline.Emit, fp *string, state func() []byte) error {
	if *fp == "" {
		return nil
	}
	*fp = ""
	return emit(ctx, &pipeline.Batch{State: state(), Sync: true})
}

// RecordHash is a short digest of a record's bytes as the vendor sent
// them: an incremental stream keeps it per id to tell an edited record
// from one read again unchanged.
func RecordHash(r []byte) string {
	sum := sha256.Sum256(r)
	return hex.EncodeToString(sum[:8])
}

// Rows is what a plan learns from a sample of a list: the rows each table
// gets (child tables included, rejects not) when dec decodes records as
// the stream would. The records decoded are released.
func Rows(dec *transform.JSON, records []json.RawMessage) map[string]int64 {
	for _, r := range records {
		dec.Add(r, transform.Lineage{}, nil)
	}
	recs, _ := dec.Flush()
	out := map[string]int64{}
	for _, r := range recs {
		out[r.Table] += r.Record.NumRows()
		r.Record.Release()
	}
	return out
}

// Scale adds to e the rows of sample (Rows of n records) as many times as
// the rows the sync writes: of want records.
func Scale(e interface{ AddRows(string, int64) }, sample map[string]int64, n, want int) {
	if n == 0 {
		return
	}
	for t, r := range sample {
		e.AddRows(t, r*int64(want)/int64(n))
	}
}
