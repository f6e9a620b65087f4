package pqwriter

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// checkedMem is an allocator checked, once the test's cleanups have run,
// to hold nothing.
func checkedMem(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// testRecords are records of a samples-like schema with nulls, in sizes
// that cut across row groups, released when the test ends.
func testRecords(t *testing.T, mem memory.Allocator) (*arrow.Schema, []arrow.RecordBatch) {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String},
		{Name: "offset_ms", Type: arrow.PrimitiveTypes.Int64},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true},
		{Name: "at_utc", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "u", Type: arrow.BinaryTypes.String, Nullable: true}, // too many values for dictionaryColumn
	}, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	var recs []arrow.RecordBatch
	for r, rows := range []int{1, 70000, 100000, 3, 200000, 50000} {
		b := array.NewRecordBuilder(mem, schema)
		for i := range rows {
			b.Field(0).(*array.StringBuilder).Append("session-" + strconv.Itoa(r))
			b.Field(1).(*array.Int64Builder).Append(int64(i * 100))
			ts := arrow.Timestamp(1_700_000_000_000_000 + int64(i)*100_000)
			b.Field(2).(*array.TimestampBuilder).Append(ts)
			if r%2 == 0 {
				b.Field(3).(*array.TimestampBuilder).AppendNull()
			} else {
				b.Field(3).(*array.TimestampBuilder).Append(ts - 3600_000_000)
			}
			if rng.IntN(10) == 0 {
				b.Field(4).(*array.Float64Builder).AppendNull()
				b.Field(5).(*array.Int64Builder).AppendNull()
				b.Field(6).(*array.StringBuilder).AppendNull()
			} else {
				b.Field(4).(*array.Float64Builder).Append(float64(rng.IntN(100000)) / 1000)
				b.Field(5).(*array.Int64Builder).Append(int64(rng.IntN(500)))
				b.Field(6).(*array.StringBuilder).Append(strconv.Itoa(rng.IntN(3)))
			}
			if i%7 == 0 {
				b.Field(7).(*array.StringBuilder).AppendNull()
			} else {
				b.Field(7).(*array.StringBuilder).Append("u-" + strconv.Itoa(r) + "-" + strconv.Itoa(i))
			}
		}
		recs = append(recs, b.NewRecordBatch())
		b.Release()
	}
	t.Cleanup(func() {
		for _, r := range recs {
			r.Release()
		}
	})
	return schema, recs
}

// TestWriteAsPQArrow checks that Write writes the file pqarrow's
// WriteBuffered writes with the same properties: the same row groups,
// values, encodings and statistics (a string column of few values takes
// fewer pages), and that a Writer fed a row group at a time writes Write's
// file byte for byte.
func TestWriteAsPQArrow(t *testing.T) {
	mem := checkedMem(t)
	schema, recs := testRecords(t, mem)
	var want, got, streamed bytes.Buffer
	fw, err := New(&want, mem, schema)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if err := fw.WriteBuffered(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := Write(&got, mem, schema, recs); err != nil {
		t.Fatal(err)
	}
	sameFile(t, got.Bytes(), want.Bytes())
	// A row group at a time, as a sink streams a big table: the same file.
	sw, err := NewWriter(&streamed, mem, schema)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range rowGroups(recs, RowGroupRows) {
		var part []arrow.RecordBatch
		for _, p := range g {
			part = append(part, p.rec.NewSlice(p.off, p.off+p.rows))
		}
		err := sw.Write(part)
		for _, r := range part {
			r.Release()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(streamed.Bytes(), got.Bytes()) {
		t.Fatalf("a Writer fed a row group at a time wrote %d bytes, Write %d, not the same", streamed.Len(), got.Len())
	}
	rd, err := file.NewParquetReader(bytes.NewReader(got.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	md := rd.MetaData()
	if md.NumRowGroups() != 4 || md.GetCreatedBy() != "athlake" {
		t.Errorf("%d row groups, created by %q; want 4, athlake", md.NumRowGroups(), md.GetCreatedBy())
	}
	for g := range md.NumRowGroups() {
		for c, f := range schema.Fields() {
			cc, err := md.RowGroup(g).ColumnChunk(c)
			if err != nil {
				t.Fatal(err)
			}
			delta := slices.Contains(cc.Encodings(), parquet.Encodings.DeltaBinaryPacked)
			if id := f.Type.ID(); delta != (id == arrow.INT64 || id == arrow.TIMESTAMP) {
				t.Errorf("row group %d %s: encodings %v", g, f.Name, cc.Encodings())
			}
		}
	}
}

// sameFile checks that two Parquet files hold the same row groups with the
// same values, and the same encodings and statistics in each column chunk.
func sameFile(t *testing.T, got, want []byte) {
	t.Helper()
	read := func(b []byte) (*file.Reader, arrow.Table) {
		rd, err := file.NewParquetReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		fr, err := pqarrow.NewFileReader(rd, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		tab, err := fr.ReadTable(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return rd, tab
	}
	grd, gtab := read(got)
	defer grd.Close()
	defer gtab.Release()
	wrd, wtab := read(want)
	defer wrd.Close()
	defer wtab.Release()
	if !array.TableEqual(gtab, wtab) {
		t.Fatal("the files hold different values")
	}
	gmd, wmd := grd.MetaData(), wrd.MetaData()
	if gmd.NumRowGroups() != wmd.NumRowGroups() {
		t.Fatalf("%d row groups, want %d", gmd.NumRowGroups(), wmd.NumRowGroups())
	}
	for g := range gmd.NumRowGroups() {
		for c := range gmd.Schema.NumColumns() {
			gc, err := gmd.RowGroup(g).ColumnChunk(c)
			if err != nil {
				t.Fatal(err)
			}
			wc, err := wmd.RowGroup(g).ColumnChunk(c)
			if err != nil {
				t.Fatal(err)
			}
			gs, gerr := gc.Statistics()
			ws, werr := wc.Statistics()
			if gerr != nil || werr != nil {
				t.Fatal(gerr, werr)
			}
			if !slices.Equal(gc.Encodings(), wc.Encodings()) || gc.NumValues() != wc.NumValues() ||
				!bytes.Equal(gs.EncodeMin(), ws.EncodeMin()) || !bytes.Equal(gs.EncodeMax(), ws.EncodeMax()) || gs.NullCount() != ws.NullCount() {
				t.Errorf("row group %d column %d: encodings %v, %d values, min %q max %q, %d nulls; want %v, %d, %q %q, %d",
					g, c, gc.Encodings(), gc.NumValues(), gs.EncodeMin(), gs.EncodeMax(), gs.NullCount(),
					wc.Encodings(), wc.NumValues(), ws.EncodeMin(), ws.EncodeMax(), ws.NullCount())
			}
		}
	}
}

// TestDictionaryColumn: a string column of few values goes to pqarrow as a
// dictionary array of the same strings; one of many values, as it is.
func TestDictionaryColumn(t *testing.T) {
	mem := checkedMem(t)
	schema, recs := testRecords(t, mem)
	pieces := rowGroups(recs, RowGroupRows)[0]
	props := properties(mem, schema)
	arrProps := arrowProperties(mem)
	pqSchema, err := pqarrow.ToParquet(schema, props, arrProps)
	if err != nil {
		t.Fatal(err)
	}
	fw := file.NewParquetWriter(io.Discard, pqSchema.Root(), file.WithWriterProps(props))
	defer fw.Close()
	rgw := fw.AppendBufferedRowGroup()
	defer rgw.Close()
	for i, f := range schema.Fields() {
		cw, err := rgw.Column(i)
		if err != nil {
			t.Fatal(err)
		}
		dict := dictionaryColumn(cw, i, pieces)
		if want := f.Name == "id" || f.Name == "s"; (dict != nil) != want {
			t.Errorf("%s: a dictionary array: %v, want %v", f.Name, dict != nil, want)
		}
		if dict == nil {
			continue
		}
		// The same strings, row for row.
		var row int
		for _, p := range pieces {
			col := p.rec.Column(i).(*array.String)
			for r := p.off; r < p.off+p.rows; r++ {
				d := dict.(*array.Dictionary)
				switch {
				case col.IsNull(int(r)) != d.IsNull(row):
					t.Fatalf("%s row %d: null %v, want %v", f.Name, row, d.IsNull(row), col.IsNull(int(r)))
				case col.IsValid(int(r)) && d.Dictionary().(*array.String).Value(d.GetValueIndex(row)) != col.Value(int(r)):
					t.Fatalf("%s row %d: not %q", f.Name, row, col.Value(int(r)))
				}
				row++
			}
		}
		dict.Release()
	}
}
