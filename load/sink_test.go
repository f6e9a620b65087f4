package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/google/go-cmp/cmp"

	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
	"github.com/athlake/athlake/transform"
)

// The sink owns a batch's records once Add is called, even when Add fails:
// it releases the records it did not keep.
func TestSinkAddReleasesRecordsOnError(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	reg := schemas.All()
	record := func() pipeline.Records { return athletes(mem, reg, `{"id":"a1","first_name":"Ann"}`)[0] }
	undeclared := record()
	undeclared.Table = "no_such_table"
	sink := NewSink(newStore(t), reg, mem, "plyomat", "athletes", "run")
	defer sink.Close()
	if err := sink.Add(context.Background(), &pipeline.Batch{Records: []pipeline.Records{record(), undeclared, record()}}); err == nil {
		t.Fatal("Add took a record of an undeclared table")
	}
}

// Small records are merged as they are buffered (a page of 20 rows costs far
// more than its values as a record of its own); the file holds every row,
// in the order added, and no Arrow memory is left behind.
func TestSinkMergesSmallRecords(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	reg := schemas.All()
	st := newStore(t)
	sink := NewSink(st, reg, mem, "plyomat", "athletes", "run")
	defer sink.Close()
	const n = 3*mergeCount + 5
	var want []string
	for i := range n {
		var docs []string
		for j := range 1 + i%3 {
			id := fmt.Sprintf("a%03d-%d", i, j)
			want = append(want, id)
			docs = append(docs, fmt.Sprintf(`{"id":%q,"first_name":"Ann"}`, id))
		}
		if err := sink.Add(ctx, &pipeline.Batch{Records: athletes(mem, reg, docs...)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(sink.recs[tablePart{table: "athletes"}]); got != n-3*mergeCount+3 {
		t.Errorf("%d records buffered, want %d (3 merged, %d not yet)", got, n-3*mergeCount+3, n-3*mergeCount)
	}
	if _, err := sink.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	objs, err := st.List(ctx, "plyomat/athletes/")
	if err != nil || len(objs) != 1 {
		t.Fatalf("files %v, %v; want one", objs, err)
	}
	b, _, err := st.Get(ctx, objs[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, fileIDs(t, b)); d != "" {
		t.Errorf("ids in the file (-want +got):\n%s", d)
	}
}

// A big table partition is written a row group at a time as it is added:
// the sink holds less than a row group of it, the file holds every row in
// order in whole row groups, and no Arrow memory is left behind. A write
// that fails on the way fails the commit: no marker admits the file.
func TestSinkStreamsRowGroups(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	reg := schemas.All()
	batch := func(from, n int) *pipeline.Batch {
		docs := make([]string, 0, n)
		for i := from; i < from+n; i++ {
			docs = append(docs, fmt.Sprintf(`{"id":"a%07d"}`, i))
		}
		return &pipeline.Batch{Records: athletes(mem, reg, docs...)}
	}
	const step, total = 30000, 2*RowGroupRows + 1000
	st := newStore(t)
	sink := NewSink(st, reg, mem, "plyomat", "athletes", "20261206T120000.000Z-abcdef")
	defer sink.Close()
	for i := 0; i < total; i += step {
		if err := sink.Add(ctx, batch(i, min(step, total-i))); err != nil {
			t.Fatal(err)
		}
		if held := sink.rows[tablePart{table: "athletes"}]; held >= RowGroupRows {
			t.Fatalf("%d rows held after adding %d", held, i+step)
		}
	}
	if len(sink.files) != 1 {
		t.Fatalf("files begun before the commit: %d, want 1", len(sink.files))
	}
	cs, err := sink.Commit(ctx)
	if err != nil || cs.Rows["athletes"] != total {
		t.Fatalf("commit: %+v, %v", cs, err)
	}
	b, _, err := st.Get(ctx, cs.Keys[0])
	if err != nil {
		t.Fatal(err)
	}
	rd, err := file.NewParquetReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var groups []int64
	for g := range rd.MetaData().NumRowGroups() {
		groups = append(groups, rd.MetaData().RowGroup(g).NumRows())
	}
	rd.Close()
	if d := cmp.Diff([]int64{RowGroupRows, RowGroupRows, 1000}, groups); d != "" {
		t.Errorf("row groups (-want +got):\n%s", d)
	}
	ids := fileIDs(t, b)
	for i, id := range ids {
		if want := fmt.Sprintf("a%07d", i); id != want {
			t.Fatalf("row %d: %s, want %s", i, id, want)
		}
	}
	if len(ids) != total {
		t.Fatalf("%d rows in the file, want %d", len(ids), total)
	}

	// A store that fails once the first row group is under way.
	failing := &failingStore{Store: newStore(t)}
	sink = NewSink(failing, reg, mem, "plyomat", "athletes", "20261206T120000.000Z-abcdef")
	defer sink.Close()
	var addErr error
	for i := 0; i < total && addErr == nil; i += step {
		addErr = sink.Add(ctx, batch(i, min(step, total-i)))
	}
	if addErr == nil {
		t.Fatal("Add did not fail with the store")
	}
	if _, err := sink.Commit(ctx); err == nil {
		t.Fatal("a commit after a failed write succeeded")
	}
	if objs, _ := failing.List(ctx, CommitsDir+"/"); len(objs) != 0 {
		t.Errorf("markers written: %v", objs)
	}
}

// athletes decodes docs, rows of plyomat_athletes, into records.
func athletes(mem memory.Allocator, reg *schemas.Registry, docs ...string) []pipeline.Records {
	tab, _ := reg.Lookup("plyomat", "athletes")
	dec := transform.NewJSON(mem, reg, tab)
	for _, doc := range docs {
		dec.Add(json.RawMessage(doc), transform.Lineage{ExtractedAt: time.Now()}, nil)
	}
	recs, _ := dec.Flush()
	return recs
}

// failingStore fails every write to an object begun with Create.
type failingStore struct{ store.Store }

func (f *failingStore) Create(ctx context.Context, key string) (store.Writer, error) {
	w, err := f.Store.Create(ctx, key)
	if err != nil {
		return nil, err
	}
	return failingWriter{w}, nil
}

type failingWriter struct{ store.Writer }

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("injected: disk full") }

// fileIDs reads the id column of a Parquet file, in order. It reads
// outside any checked allocator: arrow-go's delta decoder leaks 64 bytes a
// column chunk (the reader's, not the sink's).
func fileIDs(t *testing.T, data []byte) []string {
	t.Helper()
	tbl, err := pqarrow.ReadTable(context.Background(), bytes.NewReader(data), nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	var ids []string
	for _, c := range tbl.Column(tbl.Schema().FieldIndices("id")[0]).Data().Chunks() {
		s := c.(*array.String)
		for i := range s.Len() {
			ids = append(ids, s.Value(i))
		}
	}
	return ids
}

// TestSinkBuffer: with Buffer(n), a sink never holds much more than n
// bytes of records: past it, the partition that holds the most is
// written, in a short row group, and the commit still holds every row of
// every partition, in order.
func TestSinkBuffer(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	reg := schemas.All()
	tab, _ := reg.Lookup("plyomat", "sessions")
	// month 0 gets three rows for every one of month 1.
	batch := func(from, n int) *pipeline.Batch {
		dec := transform.NewJSON(mem, reg, tab)
		for i := from; i < from+n; i++ {
			month := 1 + i%4/3
			dec.Add(json.RawMessage(fmt.Sprintf(`{"id":"s%07d","started_at":"2026-%02d-01T10:00:00Z"}`, i, month)), transform.Lineage{ExtractedAt: time.Now()}, nil)
		}
		recs, _ := dec.Flush()
		return &pipeline.Batch{Records: recs}
	}
	const step, total, limit = 2000, 40000, 256 << 10
	st := newStore(t)
	sink := NewSink(st, reg, mem, "plyomat", "sessions", "20261206T120000.000Z-abcdef")
	defer sink.Close()
	sink.Buffer(limit)
	for i := 0; i < total; i += step {
		if err := sink.Add(ctx, batch(i, step)); err != nil {
			t.Fatal(err)
		}
		if sink.bytes > limit {
			t.Fatalf("%d bytes of records held after adding %d rows, over the limit %d", sink.bytes, i+step, limit)
		}
	}
	if len(sink.files) != 2 {
		t.Fatalf("files begun before the commit: %d, want both months'", len(sink.files))
	}
	cs, err := sink.Commit(ctx)
	if err != nil || cs.Rows["sessions"] != total || len(cs.Keys) != 2 {
		t.Fatalf("commit: %+v, %v", cs, err)
	}
	for _, key := range cs.Keys {
		b, _, err := st.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		rd, err := file.NewParquetReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		groups := rd.MetaData().NumRowGroups()
		rd.Close()
		if groups < 2 {
			t.Errorf("%s: %d row groups, want the short ones the buffer wrote", key, groups)
		}
		// Every row of the month, in the order added.
		var want []string
		for i := range total {
			if m := 1 + i%4/3; strings.Contains(key, fmt.Sprintf("month=2026-%02d", m)) {
				want = append(want, fmt.Sprintf("s%07d", i))
			}
		}
		if d := cmp.Diff(want, fileIDs(t, b)); d != "" {
			t.Errorf("%s: ids (-want +got):\n%s", key, d)
		}
	}
}
