package writerbench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"
	"github.com/google/go-cmp/cmp"
	pgo "github.com/parquet-go/parquet-go"

	"github.com/athlake/athlake/load/internal/pqwriter"
)

// benchRows is the number of rows written per table and iteration.
const benchRows = 500_000

// dataset is one table's rows, as API pages and as one big record.
type dataset struct {
	name   string
	schema *arrow.Schema
	pages  []arrow.RecordBatch // records of pageRows rows
	whole  []arrow.RecordBatch // one record of all rows
	bytes  int64               // Arrow buffer bytes of the data
}

// writer is one way of turning records into a Parquet file.
type writer struct {
	name  string
	whole bool // feeds the one big record instead of the pages
	write func(w io.Writer, mem memory.Allocator, d *dataset, recs []arrow.RecordBatch) error
}

var writers = []writer{
	{"pqarrow-buffered-pages", false, func(w io.Writer, mem memory.Allocator, d *dataset, recs []arrow.RecordBatch) error {
		return writePQArrow(w, mem, d.schema, recs, true)
	}},
	{"pqarrow-concat-pages", false, func(w io.Writer, mem memory.Allocator, d *dataset, recs []arrow.RecordBatch) error {
		return writePQArrowConcat(w, mem, d.schema, recs)
	}},
	{"pqarrow-write-1batch", true, func(w io.Writer, mem memory.Allocator, d *dataset, recs []arrow.RecordBatch) error {
		return writePQArrow(w, mem, d.schema, recs, false)
	}},
	{"pqwriter-write-pages", false, func(w io.Writer, mem memory.Allocator, d *dataset, recs []arrow.RecordBatch) error {
		return pqwriter.Write(w, mem, d.schema, recs)
	}},
	{"pgo-structs-pages", false, writePGoStructsFor},
	{"pgo-structs-1batch", true, writePGoStructsFor},
	{"pgo-columns-pages", false, writePGoColumnsFor},
	{"pgo-columns-1batch", true, writePGoColumnsFor},
}

func writePGoColumnsFor(w io.Writer, _ memory.Allocator, d *dataset, recs []arrow.RecordBatch) error {
	return writePGoColumns(w, d.schema, recs)
}

func writePGoStructsFor(w io.Writer, _ memory.Allocator, d *dataset, recs []arrow.RecordBatch) error {
	switch d.name {
	case "reps":
		return writePGoStructs(w, recs, repRows)
	case "samples":
		return writePGoStructs(w, recs, sampleRows)
	}
	panic("no struct type for " + d.name)
}

var (
	datasetsOnce sync.Once
	datasetsVal  []*dataset
)

// datasets generates the tables once per test binary; the records live
// until the process ends.
func datasets() []*dataset {
	datasetsOnce.Do(func() {
		mem := memory.DefaultAllocator
		mk := func(name string, s *arrow.Schema, gen func(memory.Allocator, int, int) []arrow.RecordBatch) *dataset {
			d := &dataset{name: name, schema: s, pages: gen(mem, benchRows, pageRows), whole: gen(mem, benchRows, benchRows)}
			d.bytes = recordBytes(d.whole[0])
			return d
		}
		datasetsVal = []*dataset{
			mk("reps", repsSchema, genReps),
			mk("samples", samplesSchema, genSamples),
		}
	})
	return datasetsVal
}

func (w writer) input(d *dataset) []arrow.RecordBatch {
	if w.whole {
		return d.whole
	}
	return d.pages
}

// recordBytes is the size of rec's Arrow buffers (arrow/util.TotalRecordSize,
// whose package needs modules go.mod does not have).
func recordBytes(rec arrow.RecordBatch) int64 {
	var n int64
	var walk func(arrow.ArrayData)
	walk = func(d arrow.ArrayData) {
		for _, b := range d.Buffers() {
			if b != nil {
				n += int64(b.Len())
			}
		}
		for _, c := range d.Children() {
			walk(c)
		}
	}
	for _, c := range rec.Columns() {
		walk(c.Data())
	}
	return n
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// BenchmarkWrite writes each table with each writer to a byte-counting
// io.Writer. MB/s is over the Arrow buffer bytes of the input (the same for
// every writer of a table); file-bytes is the size of the Parquet file;
// cpu-ms/op is the process's CPU time per file, garbage collection included
// (ns/op is wall time, and the collector runs on other cores).
func BenchmarkWrite(b *testing.B) {
	for _, d := range datasets() {
		for _, w := range writers {
			b.Run(d.name+"/"+w.name, func(b *testing.B) {
				recs := w.input(d)
				b.SetBytes(d.bytes)
				b.ReportAllocs()
				var size int64
				cpu := cpuTime()
				for b.Loop() {
					var cw countingWriter
					if err := w.write(&cw, memory.DefaultAllocator, d, recs); err != nil {
						b.Fatal(err)
					}
					size = cw.n
				}
				b.ReportMetric(float64(size), "file-bytes")
				b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1e6, "cpu-ms/op")
			})
		}
	}
}

// TestRoundTrip writes each table with each writer and reads every file back
// with both libraries: arrow-go's pqarrow must return exactly the input
// records (types, nulls, timestamps included) and parquet-go must return
// exactly the rows the struct converters make from the input. It also checks
// the file layout the product relies on: zstd, row groups of rowGroupRows,
// int64 and timestamp columns DELTA_BINARY_PACKED, TIMESTAMP(MICROS) with isAdjustedToUTC
// set exactly for zoned columns.
func TestRoundTrip(t *testing.T) {
	for _, d := range datasets() {
		checkData(t, d)
		for _, w := range writers {
			t.Run(d.name+"/"+w.name, func(t *testing.T) {
				var buf bytes.Buffer
				mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
				if err := w.write(&buf, mem, d, w.input(d)); err != nil {
					t.Fatal(err)
				}
				mem.AssertSize(t, 0) // the writer released what it allocated
				t.Logf("%d bytes", buf.Len())
				checkWithPQArrow(t, d, buf.Bytes())
				switch d.name {
				case "reps":
					checkWithPGo(t, buf.Bytes(), repRows(d.whole[0], nil, new(backing)))
				case "samples":
					checkWithPGo(t, buf.Bytes(), sampleRows(d.whole[0], nil, new(backing)))
				}
			})
		}
	}
}

// checkData makes sure the data exercises what the round trip must keep:
// nulls, and batches that agree with the whole.
func checkData(t *testing.T, d *dataset) {
	t.Helper()
	rec := d.whole[0]
	if rec.NumRows() != benchRows || len(d.pages) != benchRows/pageRows {
		t.Fatalf("%s: %d rows, %d pages", d.name, rec.NumRows(), len(d.pages))
	}
	nulls := map[string][2]float64{ // column: min, max share of nulls
		"contact_time_ms": {0.45, 0.55}, "rsi": {0.45, 0.55}, "_extra": {0.9, 0.99},
		"hr": {0.005, 0.2}, "cadence": {0.0001, 0.3}, "power": {0.2, 0.3},
	}
	for i, f := range d.schema.Fields() {
		share := float64(rec.Column(i).NullN()) / float64(rec.NumRows())
		want, ok := nulls[f.Name]
		if !ok {
			want = [2]float64{0, 0}
		}
		if share < want[0] || share > want[1] {
			t.Errorf("%s.%s: %.4f null, want %v", d.name, f.Name, share, want)
		}
	}
	last := d.pages[len(d.pages)-1]
	tail := rec.NewSlice(rec.NumRows()-last.NumRows(), rec.NumRows())
	defer tail.Release()
	if !array.RecordEqual(last, tail) {
		t.Errorf("%s: pages differ from the whole record", d.name)
	}
}

func checkWithPQArrow(t *testing.T, d *dataset, data []byte) {
	t.Helper()
	// Not a checked allocator: arrow-go v18.8.0's DELTA_BINARY_PACKED
	// decoder never releases its miniblock widths (64 bytes a column
	// chunk, deltaBitPackDecoder.initBlock). The lake is read by DuckDB.
	mem := memory.DefaultAllocator
	rdr, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Close()

	// Layout.
	md := rdr.MetaData()
	wantGroups := []int64{rowGroupRows, rowGroupRows, rowGroupRows, benchRows - 3*rowGroupRows}
	if md.NumRowGroups() != len(wantGroups) {
		t.Errorf("%d row groups, want %d", md.NumRowGroups(), len(wantGroups))
	}
	for g := range md.NumRowGroups() {
		rg := md.RowGroup(g)
		if g < len(wantGroups) && rg.NumRows() != wantGroups[g] {
			t.Errorf("row group %d: %d rows, want %d", g, rg.NumRows(), wantGroups[g])
		}
		for c, f := range d.schema.Fields() {
			cc, err := rg.ColumnChunk(c)
			if err != nil {
				t.Fatal(err)
			}
			if cc.Compression() != compress.Codecs.Zstd {
				t.Errorf("row group %d %s: compression %s", g, f.Name, cc.Compression())
			}
			if id := f.Type.ID(); md.GetCreatedBy() == "athlake" && (id == arrow.INT64 || id == arrow.TIMESTAMP) && !slices.Contains(cc.Encodings(), parquet.Encodings.DeltaBinaryPacked) {
				t.Errorf("row group %d %s: encodings %v, want DELTA_BINARY_PACKED", g, f.Name, cc.Encodings())
			}
		}
	}
	for c, f := range d.schema.Fields() {
		col := md.Schema.Column(c)
		if col.Name() != f.Name {
			t.Errorf("column %d is %s, want %s", c, col.Name(), f.Name)
		}
		if ts, ok := f.Type.(*arrow.TimestampType); ok {
			lt, ok := col.LogicalType().(schema.TimestampLogicalType)
			if !ok || lt.TimeUnit() != schema.TimeUnitMicros || lt.IsAdjustedToUTC() != (ts.TimeZone != "") {
				t.Errorf("%s: logical type %s", f.Name, col.LogicalType())
			}
		}
		if f.Type.ID() == arrow.STRING && !col.LogicalType().Equals(schema.StringLogicalType{}) {
			t.Errorf("%s: logical type %s", f.Name, col.LogicalType())
		}
	}

	// Content.
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 64 * 1024}, mem)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	want := d.whole[0]
	if tbl.NumRows() != want.NumRows() || tbl.NumCols() != want.NumCols() {
		t.Fatalf("read %d rows × %d columns, want %d × %d", tbl.NumRows(), tbl.NumCols(), want.NumRows(), want.NumCols())
	}
	for c, f := range d.schema.Fields() {
		got := tbl.Schema().Field(c)
		if got.Name != f.Name || !arrow.TypeEqual(got.Type, f.Type) || got.Nullable != f.Nullable {
			t.Errorf("field %d: %s, want %s", c, got, f)
			continue
		}
		col, err := array.Concatenate(tbl.Column(c).Data().Chunks(), mem)
		if err != nil {
			t.Fatal(err)
		}
		if !array.Equal(col, want.Column(c)) {
			t.Errorf("column %s differs", f.Name)
		}
		col.Release()
	}
	// Spot values, against what the generators are known to produce.
	checkSpots(t, d, tbl)
}

// checkSpots checks a few cells of what pqarrow read against literal values.
func checkSpots(t *testing.T, d *dataset, tbl arrow.Table) {
	t.Helper()
	cell := func(col, row int) arrow.Array {
		c := tbl.Column(col).Data()
		for _, ch := range c.Chunks() {
			if row < ch.Len() {
				return array.NewSlice(ch, int64(row), int64(row+1))
			}
			row -= ch.Len()
		}
		t.Fatalf("row %d out of range", row)
		return nil
	}
	str := func(col, row int) string {
		a := cell(col, row)
		defer a.Release()
		if a.IsNull(0) {
			return "null"
		}
		return a.ValueStr(0)
	}
	var checks []struct {
		col, row int
		want     string
	}
	add := func(col, row int, want string) {
		checks = append(checks, struct {
			col, row int
			want     string
		}{col, row, want})
	}
	switch d.name {
	case "reps":
		// The generator's first capture is 2024-01-08 07:30 plus whole minutes
		// plus 2.5-4.5 s in microseconds; _extracted_at steps 137 ms per page.
		add(9, 0, "2025-06-02T03:00:00Z")
		add(9, pageRows, "2025-06-02T03:00:00.137Z")
		add(9, benchRows-1, "2025-06-02T03:02:16.863Z")
		add(11, 0, "null")
		add(1, 0, "0")
	case "samples":
		add(1, 0, "0")
		add(1, sessionRows-1, "5399900")
		add(1, sessionRows, "0")
		add(3, 0, "76")
		// sample_time is wall time: rendered without a zone, 100 ms apart.
		ts := func(row int) int64 {
			a := cell(2, row)
			defer a.Release()
			if s := a.ValueStr(0); s[len(s)-1] == 'Z' {
				t.Errorf("sample_time[%d] = %s, has a zone", row, s)
			}
			return int64(a.(*array.Timestamp).Value(0))
		}
		if d := ts(1) - ts(0); d != 100_000 {
			t.Errorf("sample_time[1]-sample_time[0] = %dus", d)
		}
		if d := ts(sessionRows-1) - ts(0); d != 5_399_900_000 {
			t.Errorf("sample_time[%d]-sample_time[0] = %dus", sessionRows-1, d)
		}
	}
	for _, c := range checks {
		if got := str(c.col, c.row); got != c.want {
			t.Errorf("%s[%d] = %s, want %s", d.schema.Field(c.col).Name, c.row, got, c.want)
		}
	}
}

func checkWithPGo[T any](t *testing.T, data []byte, want []T) {
	t.Helper()
	r := pgo.NewGenericReader[T](bytes.NewReader(data))
	defer r.Close()
	if r.NumRows() != int64(len(want)) {
		t.Fatalf("parquet-go: %d rows, want %d", r.NumRows(), len(want))
	}
	buf := make([]T, 4096)
	row := 0
	for {
		n, err := r.Read(buf)
		for i := range n {
			if row >= len(want) {
				t.Fatalf("parquet-go: more than %d rows", len(want))
			}
			if !reflect.DeepEqual(want[row], buf[i]) {
				t.Fatalf("parquet-go: row %d (-want +got):\n%s", row, cmp.Diff(want[row], buf[i]))
			}
			row++
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if row != len(want) {
		t.Fatalf("parquet-go: read %d rows, want %d", row, len(want))
	}
}
