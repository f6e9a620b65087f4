package pqwriter

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
)

// testRecords are records of a samples-like schema with nulls, in sizes
// that cut across row groups.
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
		}
		recs = append(recs, b.NewRecordBatch())
		b.Release()
	}
	return schema, recs
}

// TestWriteAsPQArrow checks that Write writes, byte for byte, the file
// pqarrow's WriteBuffered writes with the same properties.
func TestWriteAsPQArrow(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	schema, recs := testRecords(t, mem)
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
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
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("Write wrote %d bytes, pqarrow %d, not the same", got.Len(), want.Len())
	}
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
	if !bytes.Equal(streamed.Bytes(), want.Bytes()) {
		t.Fatalf("a Writer fed a row group at a time wrote %d bytes, pqarrow %d, not the same", streamed.Len(), want.Len())
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
