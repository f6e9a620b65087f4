package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/klauspost/compress/zstd"

	"github.com/athlake/athlake/load/internal/pqwriter"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
)

// Lake folders besides the tables.
const (
	RawDir     = "_raw"
	RejectsDir = "_rejects"
	StateDir   = "_state"
	RunsDir    = "_runs"
)

// Sink buffers one stream's batches and commits them as files, then a
// marker that says the commit is complete:
//
//	<source>/<table>/<partition>/<run>-<stream>-<seq>.parquet
//	_raw/<source>/<stream>/<run>-<stream>-<seq>.jsonl.zst
//	_rejects/<source>/<table>/<run>-<stream>-<seq>.jsonl
//	_commits/<source>/<run>-<stream>-<seq>.json
//
// Names are deterministic within a run, so a retried commit overwrites rather
// than duplicates. Each file appears only once complete (store.Writer).
type Sink struct {
	store  store.Store
	reg    *schemas.Registry
	mem    memory.Allocator
	source string
	stream string
	runID  string

	recs      map[tablePart][]arrow.RecordBatch
	merged    map[tablePart]int // recs[k][merged[k]:] are small records not merged yet
	rows      map[tablePart]int64
	files     map[tablePart]*tableFile // begun: a row group or more written
	streamed  int64                    // the size of the records written to files begun
	failed    error                    // a write under way failed: nothing more commits
	raw       []pipeline.Raw
	rejects   []pipeline.Reject
	snapshots []string // completed snapshot tables
	bytes     int64    // the size of the records buffered
	rawBytes  int64    // the size of the raw responses buffered
	seq       int
	redo      int          // the seq of the commit the next one rewrites (Redo)
	limit     int64        // what the records buffered may reach before the largest partition is written (Buffer)
	keep      []markerFile // files of that commit left as they are
}

type tablePart struct{ table, part string }

// marker is the content of a commit marker: what the commit wrote.
type marker struct {
	RunID  string           `json:"run_id"`
	Source string           `json:"source"`
	Stream string           `json:"stream"`
	Seq    int              `json:"seq"`
	Files  []markerFile     `json:"files"`
	Rows   map[string]int64 `json:"rows,omitempty"`
	// Adopted marks a commit of a lake written before markers existed.
	Adopted bool `json:"adopted,omitempty"`
	// Replaces lists the files a compaction's files take the place of:
	// from the moment the marker exists, no view reads them, and a later
	// run deletes them once ReplacedGrace has passed.
	Replaces []string `json:"replaces,omitempty"`
}

type markerFile struct {
	Key   string `json:"key"`
	Bytes int64  `json:"bytes"`
}

// NewSink returns the sink of one stream.
func NewSink(st store.Store, reg *schemas.Registry, mem memory.Allocator, source, stream, runID string) *Sink {
	return &Sink{store: st, reg: reg, mem: mem, source: source, stream: stream, runID: runID,
		recs: map[tablePart][]arrow.RecordBatch{}, merged: map[tablePart]int{}, rows: map[tablePart]int64{},
		files: map[tablePart]*tableFile{}}
}

// tableFile is a table partition's file in the commit under way. It is
// begun once a whole row group of the partition is buffered: a big table
// (10 Hz samples) is written a row group at a time, so a commit holds at
// most a row group of each partition in memory, whatever its size.
type tableFile struct {
	key  string
	w    store.Writer
	cw   *countingWriter
	pw   *pqwriter.Writer
	rows int64 // written so far
}

// Add buffers a batch, writing the whole row groups a table partition
// holds; the sink owns its records from now on, and releases those it does
// not keep when it fails.
func (s *Sink) Add(ctx context.Context, b *pipeline.Batch) error {
	if s.failed != nil {
		for _, r := range b.Records {
			r.Record.Release()
		}
		return s.failed
	}
	for i, r := range b.Records {
		if _, ok := s.reg.Lookup(s.source, r.Table); !ok {
			for _, r := range b.Records[i:] {
				r.Record.Release()
			}
			return fmt.Errorf("sink: table %s/%s is not declared", s.source, r.Table)
		}
		if r.Record.NumRows() == 0 {
			r.Record.Release()
			continue
		}
		k := tablePart{r.Table, r.Partition}
		s.recs[k] = append(s.recs[k], r.Record)
		s.rows[k] += r.Record.NumRows()
		s.bytes += recordSize(r.Record)
		err := s.merge(k)
		if err == nil && s.rows[k] >= RowGroupRows {
			err = s.writeRowGroups(ctx, k, false)
		}
		for before := s.bytes; err == nil && s.limit > 0 && s.bytes > s.limit; before = s.bytes {
			if err = s.writeRowGroups(ctx, s.largest(), true); s.bytes >= before {
				break // nothing left to write
			}
		}
		if err != nil {
			s.failed = err
			for _, r := range b.Records[i+1:] {
				r.Record.Release()
			}
			return err
		}
	}
	for _, r := range b.Raw {
		s.raw = append(s.raw, r)
		s.rawBytes += int64(len(r.Body))
	}
	s.rejects = append(s.rejects, b.Rejects...)
	for _, table := range b.Snapshots {
		t, ok := s.reg.Lookup(s.source, table)
		if !ok || t.Mode != schemas.Snapshot {
			return fmt.Errorf("sink: %s/%s is not a declared snapshot table", s.source, table)
		}
		if !slices.Contains(s.snapshots, table) {
			s.snapshots = append(s.snapshots, table)
		}
	}
	return nil
}

// Redo makes the next commit a rewrite of the run's commit seq (`athlake
// rebuild`): it takes that commit's name, so its files replace the old
// ones key for key, and its marker also lists keep, the files of that
// commit left as they are.
func (s *Sink) Redo(seq int, keep []store.Object) {
	s.redo, s.keep = seq, nil
	for _, o := range keep {
		s.keep = append(s.keep, markerFile{Key: o.Key, Bytes: o.Size})
	}
}

// Buffer bounds the records the sink holds in memory to about n bytes (0,
// the default: a commit holds up to a row group of each partition): past
// n, the partition that holds the most is written, as a row group however
// short. A rebuild's commits are as long as the ones they rewrite.
func (s *Sink) Buffer(n int64) { s.limit = n }

// largest is the partition whose buffered records are the largest.
func (s *Sink) largest() tablePart {
	var big tablePart
	var most int64
	for k, recs := range s.recs {
		var n int64
		for _, r := range recs {
			n += recordSize(r)
		}
		if n > most || n == most && n > 0 && (k.table < big.table || k.table == big.table && k.part < big.part) {
			big, most = k, n
		}
	}
	return big
}

// Small records (a page of an API's list) are merged into one once mergeCount
// of them are buffered in a row: each record costs far more than its
// values (its schema, its arrays, buffers rounded up), and a stream of
// 20-row pages held 600 MB of Go heap to buffer 64 MB by recordSize.
const (
	mergeCount = 64
	mergeRows  = 16 << 10 // a record this long is not small
)

// merge merges the trailing small records of k once there are mergeCount
// of them. Their rows keep their order.
func (s *Sink) merge(k tablePart) error {
	recs, from := s.recs[k], s.merged[k]
	if last := recs[len(recs)-1]; last.NumRows() >= mergeRows {
		s.merged[k] = len(recs)
		return nil
	}
	if len(recs)-from < mergeCount {
		return nil
	}
	m, err := concatRecords(s.mem, recs[from:])
	if err != nil {
		return fmt.Errorf("sink: merging records of %s/%s: %w", s.source, k.table, err)
	}
	for _, r := range recs[from:] {
		s.bytes -= recordSize(r)
		r.Release()
	}
	clear(recs[from:])
	s.recs[k] = append(recs[:from], m)
	s.bytes += recordSize(m)
	s.merged[k] = len(s.recs[k])
	return nil
}

// concatRecords returns one record with the rows of recs (all of one
// schema), in order.
func concatRecords(mem memory.Allocator, recs []arrow.RecordBatch) (arrow.RecordBatch, error) {
	schema := recs[0].Schema()
	cols := make([]arrow.Array, schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	var rows int64
	for _, r := range recs {
		rows += r.NumRows()
	}
	parts := make([]arrow.Array, len(recs))
	for i := range cols {
		for j, r := range recs {
			parts[j] = r.Column(i)
		}
		c, err := array.Concatenate(parts, mem)
		if err != nil {
			return nil, err
		}
		cols[i] = c
	}
	return array.NewRecordBatch(schema, cols, rows), nil
}

// writeRowGroups writes the whole row groups buffered for k to its file,
// begun now if need be, and keeps the rows after the last whole one; with
// all, the rows after it too, as a shorter row group.
func (s *Sink) writeRowGroups(ctx context.Context, k tablePart, all bool) error {
	f, err := s.file(ctx, k)
	if err != nil {
		return err
	}
	n := s.rows[k] / RowGroupRows * RowGroupRows
	if all {
		n = s.rows[k]
	}
	var head, tail []arrow.RecordBatch
	var seen int64
	for _, r := range s.recs[k] {
		s.bytes -= recordSize(r)
		switch rows := r.NumRows(); {
		case seen >= n:
			tail = append(tail, r)
		case seen+rows <= n:
			head = append(head, r)
		default:
			cut := n - seen
			head, tail = append(head, r.NewSlice(0, cut)), append(tail, r.NewSlice(cut, rows))
			r.Release()
		}
		seen += r.NumRows()
	}
	err = f.pw.Write(head)
	for _, r := range head {
		s.streamed += recordSize(r)
		r.Release()
	}
	for _, r := range tail {
		s.bytes += recordSize(r)
	}
	// The tail is merged again with what comes (a slice of a record
	// holds all its buffers).
	s.recs[k], s.merged[k] = tail, 0
	s.rows[k] -= n
	f.rows += n
	if err != nil {
		return fmt.Errorf("%s: %w", f.key, err)
	}
	return nil
}

// file is k's file in the commit under way, begun if it is not yet.
func (s *Sink) file(ctx context.Context, k tablePart) (*tableFile, error) {
	if f := s.files[k]; f != nil {
		return f, nil
	}
	t, _ := s.reg.Lookup(s.source, k.table)
	f := &tableFile{key: path.Join(s.source, k.table, t.Partition.Dir(k.part), commitName(s.runID, s.stream, s.nextSeq())+parquetExt)}
	var err error
	if f.w, err = s.store.Create(ctx, f.key); err != nil {
		return nil, err
	}
	f.cw = &countingWriter{w: f.w}
	if f.pw, err = pqwriter.NewWriter(f.cw, s.mem, t.ArrowSchema()); err != nil {
		f.w.Abort()
		return nil, fmt.Errorf("%s: parquet writer: %w", f.key, err)
	}
	s.files[k] = f
	return f, nil
}

// nextSeq is the sequence number of the commit under way.
func (s *Sink) nextSeq() int {
	if s.redo > 0 {
		return s.redo
	}
	return s.seq + 1
}

// Buffered is the size of what is waiting to be committed, written to
// files begun or not.
func (s *Sink) Buffered() int64 { return s.bytes + s.rawBytes + s.streamed }

// Commit writes everything buffered: raw responses first, then one Parquet
// file per table and partition, then rejects, then the marker. Once a
// write failed (here or in Add), Commit fails: the files of the commit
// under way are incomplete, and no marker may admit them.
func (s *Sink) Commit(ctx context.Context) (st pipeline.CommitStats, err error) {
	st = pipeline.CommitStats{Rows: map[string]int64{}}
	if s.failed != nil {
		return st, s.failed
	}
	defer func() {
		if err != nil {
			s.failed = err
		}
	}()
	// A completed snapshot without rows is an empty file: the newest
	// snapshot of the table, it empties the view.
	for _, table := range s.snapshots {
		if !slices.ContainsFunc(slices.Collect(maps.Keys(s.recs)), func(k tablePart) bool { return k.table == table }) {
			s.recs[tablePart{table: table}] = nil
		}
	}
	if len(s.recs) == 0 && len(s.raw) == 0 && len(s.rejects) == 0 && len(s.keep) == 0 {
		return st, nil
	}
	// The sequence moves on only after a successful commit.
	seq := s.nextSeq()
	name := commitName(s.runID, s.stream, seq)
	m := marker{RunID: s.runID, Source: s.source, Stream: s.stream, Seq: seq, Rows: st.Rows, Files: slices.Clone(s.keep)}
	added := func(key string, n int64) {
		st.Keys = append(st.Keys, key)
		st.Files++
		st.Bytes += n
		m.Files = append(m.Files, markerFile{Key: key, Bytes: n})
	}
	if len(s.raw) > 0 {
		key := path.Join(RawDir, s.source, s.stream, name+rawExt)
		n, err := s.writeRaw(ctx, key)
		if err != nil {
			return st, err
		}
		added(key, n)
	}
	for _, k := range slices.SortedFunc(maps.Keys(s.recs), func(a, b tablePart) int {
		if a.table != b.table {
			return strings.Compare(a.table, b.table)
		}
		return strings.Compare(a.part, b.part)
	}) {
		f, err := s.file(ctx, k)
		if err != nil {
			return st, err
		}
		if err := s.finish(f, s.recs[k]); err != nil {
			return st, fmt.Errorf("%s: %w", f.key, err)
		}
		delete(s.files, k)
		st.Rows[k.table] += f.rows + s.rows[k]
		added(f.key, f.cw.n)
	}
	byTable := map[string][]pipeline.Reject{}
	for _, r := range s.rejects {
		byTable[r.Table] = append(byTable[r.Table], r)
	}
	for _, table := range slices.Sorted(maps.Keys(byTable)) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for _, r := range byTable[table] {
			if err := enc.Encode(r); err != nil {
				return st, err
			}
		}
		key := path.Join(RejectsDir, s.source, table, name+rejectsExt)
		if err := s.store.Put(ctx, key, buf.Bytes()); err != nil {
			return st, err
		}
		added(key, int64(buf.Len()))
		st.Rejects += len(byTable[table])
	}
	// The marker goes last: until it exists, the files above are not part
	// of the lake.
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return st, err
	}
	if err := s.store.Put(ctx, markerKey(s.source, name), append(b, '\n')); err != nil {
		return st, fmt.Errorf("writing the commit marker: %w", err)
	}
	if s.redo == 0 {
		s.seq = seq
	}
	s.redo, s.keep = 0, nil
	s.reset()
	return st, nil
}

// finish writes the last rows of a file and makes it appear.
func (s *Sink) finish(f *tableFile, recs []arrow.RecordBatch) error {
	if err := f.pw.Write(recs); err != nil {
		return err
	}
	if err := f.pw.Close(); err != nil {
		return err
	}
	return f.w.Commit()
}

func (s *Sink) writeRaw(ctx context.Context, key string) (int64, error) {
	w, err := s.store.Create(ctx, key)
	if err != nil {
		return 0, err
	}
	cw := &countingWriter{w: w}
	zw, err := zstd.NewWriter(cw, zstd.WithEncoderLevel(zstd.SpeedDefault),
		// One encoder with small buffers: a commit's raw responses are a
		// few MB, and the default (an encoder per core, 16 MB of history
		// each) is what every stream would hold while it commits.
		zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	if err != nil {
		w.Abort()
		return 0, err
	}
	enc := json.NewEncoder(zw)
	for _, r := range s.raw {
		if err := enc.Encode(rawLine{r.Endpoint, r.FetchedAt.UTC(), string(r.Body), r.Skip, r.With}); err != nil {
			zw.Close()
			w.Abort()
			return 0, err
		}
	}
	if err := zw.Close(); err != nil {
		w.Abort()
		return 0, err
	}
	return cw.n, w.Commit()
}

func (s *Sink) reset() {
	for _, recs := range s.recs {
		for _, r := range recs {
			r.Release()
		}
	}
	clear(s.recs)
	clear(s.merged)
	clear(s.rows)
	for _, f := range s.files {
		f.w.Abort()
	}
	clear(s.files)
	s.raw, s.rejects, s.snapshots, s.bytes, s.rawBytes, s.streamed = nil, nil, nil, 0, 0, 0
}

// Close drops whatever was not committed.
func (s *Sink) Close() { s.reset() }

type countingWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// recordSize is the size of a record's buffers (arrow/util has the same but
// pulls in protobuf reflection).
func recordSize(rec arrow.RecordBatch) int64 {
	var n int64
	for _, col := range rec.Columns() {
		n += dataSize(col.Data())
	}
	return n
}

func dataSize(d arrow.ArrayData) int64 {
	var n int64
	for _, b := range d.Buffers() {
		if b != nil {
			n += int64(b.Len())
		}
	}
	for _, c := range d.Children() {
		n += dataSize(c)
	}
	return n
}
