// Package pqwriter holds the one configuration of arrow-go's Parquet writer
// that load writes the lake with and writerbench measures.
package pqwriter

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"runtime"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"golang.org/x/sync/errgroup"
)

// RowGroupRows is the target row group length.
const RowGroupRows = 128 * 1024

// DictionaryPageLimit is the size a column chunk's dictionary may reach
// before its writer falls back to plain encoding.
const DictionaryPageLimit = 256 << 10

// properties are the writer properties of every file: zstd, row groups of
// RowGroupRows, and encodings chosen by measurement (10 Hz Team Pro
// samples, 1.28 M rows; column chunk bytes after zstd):
//
//   - int64 and timestamp columns DELTA_BINARY_PACKED: regular derived
//     times (start + offset) cost almost nothing (sample_time 2.1 kB
//     against 3.34 MB dictionary encoded, DuckDB's plain 1.9 MB), and
//     even irregular ones shrink (power 0.37 MB against 0.55 MB);
//   - floats plain: dictionaries (capped at DictionaryPageLimit, so that
//     the many-valued fall back) would save 1.4 MB of the file's 14.5 MB
//     but their hashing was 15% of the CPU of a raw-samples export
//     (load/views BenchmarkRawSamples);
//   - the rest (strings) dictionary encoded up to DictionaryPageLimit.
//
// The whole file: 14.5 MB against 23.5 MB with dictionary-encoded times,
// and DuckDB's 18.1 MB.
func properties(mem memory.Allocator, schema *arrow.Schema) *parquet.WriterProperties {
	opts := []parquet.WriterProperty{
		parquet.WithAllocator(mem),
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithMaxRowGroupLength(RowGroupRows),
		parquet.WithDictionaryPageSizeLimit(DictionaryPageLimit),
		parquet.WithCreatedBy("athlake"),
	}
	for _, f := range schema.Fields() {
		switch f.Type.ID() {
		case arrow.INT64, arrow.TIMESTAMP:
			opts = append(opts, parquet.WithDictionaryFor(f.Name, false),
				parquet.WithEncodingFor(f.Name, parquet.Encodings.DeltaBinaryPacked))
		case arrow.FLOAT64, arrow.FLOAT32:
			opts = append(opts, parquet.WithDictionaryFor(f.Name, false))
		}
	}
	return parquet.NewWriterProperties(opts...)
}

func arrowProperties(mem memory.Allocator) pqarrow.ArrowWriterProperties {
	return pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem), pqarrow.WithStoreSchema())
}

// New returns a writer of one Parquet file of schema to w with the
// properties of every file, the Arrow schema stored in the footer (so
// timestamps keep their unit and zone: TIMESTAMP(MICROS) with
// isAdjustedToUTC set exactly for zoned columns).
func New(w io.Writer, mem memory.Allocator, schema *arrow.Schema) (*pqarrow.FileWriter, error) {
	return pqarrow.NewFileWriter(schema, w, properties(mem, schema), arrowProperties(mem))
}

// Write writes recs (all of schema) to w as one Parquet file, the file
// New's WriteBuffered and Close would write (the same row groups, pages and
// footer), but with the columns of each row group encoded and compressed in
// parallel, on up to GOMAXPROCS goroutines.
func Write(w io.Writer, mem memory.Allocator, schema *arrow.Schema, recs []arrow.RecordBatch) error {
	pw, err := NewWriter(w, mem, schema)
	if err != nil {
		return err
	}
	if err := pw.Write(recs); err != nil {
		pw.Close()
		return err
	}
	return pw.Close()
}

// Writer writes one Parquet file a few row groups at a time: the file
// Write writes when each Write but the last gets whole row groups
// (RowGroupRows rows each). Schemas with nested columns go through New.
type Writer struct {
	fw       *file.Writer
	serial   *pqarrow.FileWriter // nested schemas
	schema   *arrow.Schema
	arrProps pqarrow.ArrowWriterProperties
}

// NewWriter starts a Parquet file of schema on w.
func NewWriter(w io.Writer, mem memory.Allocator, schema *arrow.Schema) (*Writer, error) {
	for _, f := range schema.Fields() {
		if _, nested := f.Type.(arrow.NestedType); nested {
			fw, err := New(w, mem, schema)
			return &Writer{serial: fw, schema: schema}, err
		}
	}
	props := properties(mem, schema)
	arrProps := arrowProperties(mem)
	pqSchema, err := pqarrow.ToParquet(schema, props, arrProps)
	if err != nil {
		return nil, err
	}
	// The footer's key-value metadata as pqarrow.NewFileWriter makes it:
	// the schema's own, then the serialized Arrow schema (a flat schema
	// needs none of pqarrow's normalization).
	meta := make(metadata.KeyValueMetadata, 0)
	for i, k := range schema.Metadata().Keys() {
		meta.Append(k, schema.Metadata().Values()[i])
	}
	meta.Append("ARROW:schema", base64.StdEncoding.EncodeToString(flight.SerializeSchema(schema, mem)))
	fw, err := file.NewParquetWriterWithError(w, pqSchema.Root(), file.WithWriterProps(props), file.WithWriteMetadata(meta))
	if err != nil {
		return nil, err
	}
	return &Writer{fw: fw, schema: schema, arrProps: arrProps}, nil
}

// Write writes recs as row groups of RowGroupRows rows, the last one
// shorter if recs end short of one.
func (w *Writer) Write(recs []arrow.RecordBatch) error {
	if w.serial != nil {
		for _, rec := range recs {
			if err := w.serial.WriteBuffered(rec); err != nil {
				return err
			}
		}
		return nil
	}
	for _, g := range rowGroups(recs, RowGroupRows) {
		if err := writeRowGroup(w.fw, w.schema, w.arrProps, g); err != nil {
			return err
		}
	}
	return nil
}

// Close writes the footer.
func (w *Writer) Close() error {
	if w.serial != nil {
		return w.serial.Close()
	}
	return w.fw.Close()
}

// piece is a range of rows of one record.
type piece struct {
	rec       arrow.RecordBatch
	off, rows int64
}

// rowGroups cuts recs into row groups of at most max rows, filling each
// before starting the next, as pqarrow's WriteBuffered does.
func rowGroups(recs []arrow.RecordBatch, max int64) [][]piece {
	var (
		out  [][]piece
		cur  []piece
		rows int64
	)
	for _, rec := range recs {
		for off := int64(0); off < rec.NumRows(); {
			if rows == max {
				out, cur, rows = append(out, cur), nil, 0
			}
			n := min(max-rows, rec.NumRows()-off)
			cur = append(cur, piece{rec, off, n})
			off += n
			rows += n
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// writeRowGroup writes one buffered row group, its columns in parallel.
// A buffered row group keeps each column's pages in memory of its own
// until Close, which writes them out in order: the column writers share
// nothing but the properties and the allocator until then.
func writeRowGroup(fw *file.Writer, schema *arrow.Schema, arrProps pqarrow.ArrowWriterProperties, pieces []piece) error {
	rgw, err := fw.AppendBufferedRowGroupChecked()
	if err != nil {
		return err
	}
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, f := range schema.Fields() {
		g.Go(func() error {
			cw, err := rgw.Column(i)
			if err != nil {
				return err
			}
			if err := writeColumn(cw, f, i, arrProps, pieces); err != nil {
				return fmt.Errorf("column %s: %w", f.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return rgw.Close()
}

// writeColumn writes column i of pieces to cw and, unless cw is
// dictionary encoded, compresses its last page too: Close would do it one
// column after the other. (A dictionary column's pages must follow its
// dictionary page, which only Close writes.)
func writeColumn(cw file.ColumnChunkWriter, f arrow.Field, i int, arrProps pqarrow.ArrowWriterProperties, pieces []piece) error {
	ctx := pqarrow.NewArrowWriteContext(context.Background(), &arrProps)
	var def []int16
	if dict := dictionaryColumn(cw, i, pieces); dict != nil {
		defer dict.Release()
		if cw.LevelInfo().DefLevel > 0 {
			def = defLevels(def, dict)
		}
		return pqarrow.WriteArrowToColumn(ctx, cw, dict, def, nil, f.Nullable)
	}
	for _, p := range pieces {
		col := p.rec.Column(i)
		arr := col
		if p.off != 0 || p.rows != int64(col.Len()) {
			arr = array.NewSlice(col, p.off, p.off+p.rows)
		}
		if cw.LevelInfo().DefLevel > 0 {
			def = defLevels(def, arr)
		}
		err := pqarrow.WriteArrowToColumn(ctx, cw, arr, def, nil, f.Nullable)
		if arr != col {
			arr.Release()
		}
		if err != nil {
			return err
		}
	}
	if _, dict := cw.CurrentEncoder().(interface{ NumEntries() int }); dict {
		return nil
	}
	if fl, ok := cw.(interface{ FlushBufferedDataPages() error }); ok {
		return fl.FlushBufferedDataPages()
	}
	return nil
}

// defLevels returns the definition levels of a flat nullable column: 1
// where arr has a value, 0 where it is null.
func defLevels(buf []int16, arr arrow.Array) []int16 {
	n := arr.Len()
	if cap(buf) < n {
		buf = make([]int16, n)
	}
	buf = buf[:n]
	if arr.NullN() == 0 {
		for j := range buf {
			buf[j] = 1
		}
		return buf
	}
	for j := range buf {
		if arr.IsValid(j) {
			buf[j] = 1
		} else {
			buf[j] = 0
		}
	}
	return buf
}

// Bounds of dictionaryColumn: past them, a column is written as it is.
const (
	dictMaxValues = 1 << 12
	dictMaxBytes  = DictionaryPageLimit / 2
)

// dictionaryColumn returns string column i of pieces as one dictionary
// array, when its column chunk is dictionary encoded and holds few
// distinct values (nil otherwise). pqarrow writes such an array as its
// dictionary and indices, the bytes it writes for the strings themselves,
// without hashing each value (a session's id or a run's on every sample
// row was a tenth of the encoding's CPU); runs of one value cost a
// comparison each here.
func dictionaryColumn(cw file.ColumnChunkWriter, i int, pieces []piece) arrow.Array {
	enc, ok := cw.CurrentEncoder().(interface{ NumEntries() int })
	if !ok || enc.NumEntries() != 0 || pieces[0].rec.Column(i).DataType().ID() != arrow.STRING {
		return nil
	}
	var rows int64
	for _, p := range pieces {
		rows += p.rows
	}
	mem := memory.DefaultAllocator
	indices := array.NewInt32Builder(mem)
	defer indices.Release()
	values := array.NewStringBuilder(mem)
	defer values.Release()
	indices.Reserve(int(rows))
	seen := map[string]int32{}
	var last string
	lastIdx, size := int32(-1), 0
	for _, p := range pieces {
		col := p.rec.Column(i).(*array.String)
		for r := int(p.off); r < int(p.off+p.rows); r++ {
			if col.IsNull(r) {
				indices.UnsafeAppendBoolToBitmap(false)
				continue
			}
			v := col.Value(r)
			if lastIdx < 0 || v != last {
				k, ok := seen[v]
				if !ok {
					if size += len(v); len(seen) == dictMaxValues || size > dictMaxBytes {
						return nil
					}
					k = int32(len(seen))
					seen[v] = k
					values.Append(v)
				}
				last, lastIdx = v, k
			}
			indices.UnsafeAppend(lastIdx)
		}
	}
	idx, dict := indices.NewArray(), values.NewArray()
	defer idx.Release()
	defer dict.Release()
	return array.NewDictionaryArray(&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, idx, dict)
}
