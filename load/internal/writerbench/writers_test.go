package writerbench

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pgo "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/athlake/athlake/load/internal/pqwriter"
)

// rowGroupRows is the row group length both writers target: load's.
const rowGroupRows = pqwriter.RowGroupRows

// ---- (a) arrow-go pqarrow ----------------------------------------------

// writePQArrow writes recs with load's writer (pqwriter.New: zstd, row
// groups of rowGroupRows, dictionary off for float columns, the Arrow schema
// stored in the footer) as load.Sink does. buffered selects
// WriteBuffered (many small records accumulate into one row group) over
// Write (each record starts at least one row group; a big record is cut at
// rowGroupRows).
func writePQArrow(w io.Writer, mem memory.Allocator, schema *arrow.Schema, recs []arrow.RecordBatch, buffered bool) error {
	fw, err := pqwriter.New(w, mem, schema)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		if buffered {
			err = fw.WriteBuffered(rec)
		} else {
			err = fw.Write(rec)
		}
		if err != nil {
			fw.Close()
			return err
		}
	}
	return fw.Close()
}

// writePQArrowConcat concatenates small records into ones of about
// rowGroupRows rows before handing them to WriteBuffered: pqarrow's cost per
// Write(Buffered) call and column is large next to 500 rows of data, so
// one copy of the data buys fewer calls.
func writePQArrowConcat(w io.Writer, mem memory.Allocator, schema *arrow.Schema, recs []arrow.RecordBatch) error {
	fw, err := pqwriter.New(w, mem, schema)
	if err != nil {
		return err
	}
	var (
		pending []arrow.RecordBatch
		rows    int64
	)
	flush := func() error {
		rec, err := concatRecords(mem, schema, pending)
		if err != nil {
			return err
		}
		defer rec.Release()
		pending, rows = pending[:0], 0
		return fw.WriteBuffered(rec)
	}
	for _, rec := range recs {
		pending = append(pending, rec)
		if rows += rec.NumRows(); rows >= rowGroupRows {
			if err := flush(); err != nil {
				fw.Close()
				return err
			}
		}
	}
	if len(pending) > 0 {
		if err := flush(); err != nil {
			fw.Close()
			return err
		}
	}
	return fw.Close()
}

// concatRecords returns one record holding the rows of recs, in order.
func concatRecords(mem memory.Allocator, schema *arrow.Schema, recs []arrow.RecordBatch) (arrow.RecordBatch, error) {
	var rows int64
	for _, r := range recs {
		rows += r.NumRows()
	}
	cols := make([]arrow.Array, schema.NumFields())
	parts := make([]arrow.Array, len(recs))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for c := range cols {
		for i, r := range recs {
			parts[i] = r.Column(c)
		}
		var err error
		if cols[c], err = array.Concatenate(parts, mem); err != nil {
			return nil, err
		}
	}
	return array.NewRecordBatch(schema, cols, rows), nil // retains cols
}

// ---- (b) parquet-go -----------------------------------------------------

// pgoOptions are the parquet-go settings matching writePQArrow: zstd at the
// same level (klauspost SpeedDefault), the same row group length, data page
// v1 and ~1 MiB pages like arrow-go, dictionaries capped at arrow-go's 1 MiB
// dictionary page limit (larger ones fall back to PLAIN). Dictionary
// encoding itself is chosen per column (tags or schema): on for everything
// but floats and booleans, as arrow-go does.
func pgoOptions(schema *pgo.Schema) []pgo.WriterOption {
	opts := []pgo.WriterOption{
		pgo.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
		pgo.MaxRowsPerRowGroup(rowGroupRows),
		pgo.PageBufferSize(1 << 20),
		pgo.DataPageVersion(1),
		pgo.DictionaryMaxBytes(1 << 20),
		pgo.CreatedBy("athlake", "", ""),
	}
	if schema != nil {
		opts = append(opts, schema)
	}
	return opts
}

// (b1) Typed structs through GenericWriter[T]: one hand-written struct and
// converter per table. Every column is nullable, so every field is a pointer
// (parquet-go's `optional` on a value field would turn 0/false into null).
// Pointers point into per-batch backing slices, reused across batches, and
// strings alias the Arrow buffers; GenericWriter copies values on Write.

type repRow struct {
	SetID         *string  `parquet:"set_id,optional,dict"`
	RepIndex      *int32   `parquet:"rep_index,optional,dict"`
	FlightTimeMS  *int32   `parquet:"flight_time_ms,optional,dict"`
	ContactTimeMS *int32   `parquet:"contact_time_ms,optional,dict"`
	JumpHeightCM  *float64 `parquet:"jump_height_cm,optional"`
	RSI           *float64 `parquet:"rsi,optional"`
	Side          *string  `parquet:"side,optional,dict"`
	IsKept        *bool    `parquet:"is_kept,optional"`
	CapturedAt    *int64   `parquet:"captured_at,optional,dict,timestamp(microsecond:utc)"`
	ExtractedAt   *int64   `parquet:"_extracted_at,optional,dict,timestamp(microsecond:utc)"`
	RunID         *string  `parquet:"_run_id,optional,dict"`
	Extra         *string  `parquet:"_extra,optional,dict"`
}

type sampleRow struct {
	PlayerSessionID     *string  `parquet:"player_session_id,optional,dict"`
	OffsetMS            *int64   `parquet:"offset_ms,optional,dict"`
	SampleTime          *int64   `parquet:"sample_time,optional,dict,timestamp(microsecond:local)"`
	HR                  *int32   `parquet:"hr,optional,dict"`
	Speed               *float64 `parquet:"speed,optional"`
	Distance            *float64 `parquet:"distance,optional"`
	Cadence             *int32   `parquet:"cadence,optional,dict"`
	Lat                 *float64 `parquet:"lat,optional"`
	Lon                 *float64 `parquet:"lon,optional"`
	Altitude            *float64 `parquet:"altitude,optional"`
	ForwardAcceleration *float64 `parquet:"forward_acceleration,optional"`
	Power               *int32   `parquet:"power,optional,dict"`
}

// backing holds the values struct fields point to.
type backing struct {
	str [4][]string
	i32 [4][]int32
	i64 [2][]int64
	f64 [6][]float64
	b   [1][]bool
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

func (k *backing) resize(n int) {
	growEach(k.str[:], n)
	growEach(k.i32[:], n)
	growEach(k.i64[:], n)
	growEach(k.f64[:], n)
	growEach(k.b[:], n)
}

func growEach[T any](ss [][]T, n int) {
	for i := range ss {
		ss[i] = grow(ss[i], n)
	}
}

// The opt functions are written out per type, not one generic opt: a
// generic one is not inlined and cost the struct writers 5-15% more CPU
// (cpu-ms/op, three runs each).

func optStr(a *array.String, i int, slot *string) *string {
	if a.IsNull(i) {
		return nil
	}
	*slot = a.Value(i)
	return slot
}

func optI32(a *array.Int32, i int, slot *int32) *int32 {
	if a.IsNull(i) {
		return nil
	}
	*slot = a.Value(i)
	return slot
}

func optI64(a *array.Int64, i int, slot *int64) *int64 {
	if a.IsNull(i) {
		return nil
	}
	*slot = a.Value(i)
	return slot
}

func optTS(a *array.Timestamp, i int, slot *int64) *int64 {
	if a.IsNull(i) {
		return nil
	}
	*slot = int64(a.Value(i))
	return slot
}

func optF64(a *array.Float64, i int, slot *float64) *float64 {
	if a.IsNull(i) {
		return nil
	}
	*slot = a.Value(i)
	return slot
}

func optBool(a *array.Boolean, i int, slot *bool) *bool {
	if a.IsNull(i) {
		return nil
	}
	*slot = a.Value(i)
	return slot
}

func repRows(rec arrow.RecordBatch, dst []repRow, k *backing) []repRow {
	n := int(rec.NumRows())
	dst = grow(dst, n)
	k.resize(n)
	var (
		setID     = rec.Column(0).(*array.String)
		repIndex  = rec.Column(1).(*array.Int32)
		flight    = rec.Column(2).(*array.Int32)
		contact   = rec.Column(3).(*array.Int32)
		height    = rec.Column(4).(*array.Float64)
		rsi       = rec.Column(5).(*array.Float64)
		side      = rec.Column(6).(*array.String)
		kept      = rec.Column(7).(*array.Boolean)
		captured  = rec.Column(8).(*array.Timestamp)
		extracted = rec.Column(9).(*array.Timestamp)
		runID     = rec.Column(10).(*array.String)
		extra     = rec.Column(11).(*array.String)
	)
	for i := range dst {
		dst[i] = repRow{
			SetID:         optStr(setID, i, &k.str[0][i]),
			RepIndex:      optI32(repIndex, i, &k.i32[0][i]),
			FlightTimeMS:  optI32(flight, i, &k.i32[1][i]),
			ContactTimeMS: optI32(contact, i, &k.i32[2][i]),
			JumpHeightCM:  optF64(height, i, &k.f64[0][i]),
			RSI:           optF64(rsi, i, &k.f64[1][i]),
			Side:          optStr(side, i, &k.str[1][i]),
			IsKept:        optBool(kept, i, &k.b[0][i]),
			CapturedAt:    optTS(captured, i, &k.i64[0][i]),
			ExtractedAt:   optTS(extracted, i, &k.i64[1][i]),
			RunID:         optStr(runID, i, &k.str[2][i]),
			Extra:         optStr(extra, i, &k.str[3][i]),
		}
	}
	return dst
}

func sampleRows(rec arrow.RecordBatch, dst []sampleRow, k *backing) []sampleRow {
	n := int(rec.NumRows())
	dst = grow(dst, n)
	k.resize(n)
	var (
		session = rec.Column(0).(*array.String)
		offset  = rec.Column(1).(*array.Int64)
		sampleT = rec.Column(2).(*array.Timestamp)
		hr      = rec.Column(3).(*array.Int32)
		speed   = rec.Column(4).(*array.Float64)
		dist    = rec.Column(5).(*array.Float64)
		cadence = rec.Column(6).(*array.Int32)
		lat     = rec.Column(7).(*array.Float64)
		lon     = rec.Column(8).(*array.Float64)
		alt     = rec.Column(9).(*array.Float64)
		acc     = rec.Column(10).(*array.Float64)
		power   = rec.Column(11).(*array.Int32)
	)
	for i := range dst {
		dst[i] = sampleRow{
			PlayerSessionID:     optStr(session, i, &k.str[0][i]),
			OffsetMS:            optI64(offset, i, &k.i64[0][i]),
			SampleTime:          optTS(sampleT, i, &k.i64[1][i]),
			HR:                  optI32(hr, i, &k.i32[0][i]),
			Speed:               optF64(speed, i, &k.f64[0][i]),
			Distance:            optF64(dist, i, &k.f64[1][i]),
			Cadence:             optI32(cadence, i, &k.i32[1][i]),
			Lat:                 optF64(lat, i, &k.f64[2][i]),
			Lon:                 optF64(lon, i, &k.f64[3][i]),
			Altitude:            optF64(alt, i, &k.f64[4][i]),
			ForwardAcceleration: optF64(acc, i, &k.f64[5][i]),
			Power:               optI32(power, i, &k.i32[2][i]),
		}
	}
	return dst
}

// writePGoStructs converts each record to []T with conv and writes it with
// a GenericWriter[T]; the writer cuts row groups at rowGroupRows.
func writePGoStructs[T any](w io.Writer, recs []arrow.RecordBatch, conv func(arrow.RecordBatch, []T, *backing) []T) error {
	pw := pgo.NewGenericWriter[T](w, pgoOptions(nil)...)
	var (
		rows []T
		k    backing
	)
	for _, rec := range recs {
		rows = conv(rec, rows, &k)
		if _, err := pw.Write(rows); err != nil {
			return err
		}
	}
	return pw.Close()
}

// (b2) Schema-driven columns through ColumnWriter.WriteRowValues: generic
// over any Arrow schema (what the product would need, its tables being
// declared at run time), no per-table code. The parquet-go schema is derived
// from the Arrow schema through a reflect.StructOf type, because
// parquet.Group sorts its fields by name and so loses the column order.

// pgoSchemaOf returns the parquet-go schema for an Arrow schema of flat
// string, int32, int64, float64, bool and timestamp[us] columns.
func pgoSchemaOf(s *arrow.Schema) (*pgo.Schema, error) {
	fields := make([]reflect.StructField, s.NumFields())
	for i, f := range s.Fields() {
		var (
			t    reflect.Type
			tags = []string{f.Name}
		)
		if f.Nullable {
			tags = append(tags, "optional")
		}
		switch dt := f.Type.(type) {
		case *arrow.StringType:
			t, tags = reflect.TypeFor[string](), append(tags, "dict")
		case *arrow.Int32Type:
			t, tags = reflect.TypeFor[int32](), append(tags, "dict")
		case *arrow.Int64Type:
			t, tags = reflect.TypeFor[int64](), append(tags, "dict")
		case *arrow.Float64Type:
			t = reflect.TypeFor[float64]()
		case *arrow.BooleanType:
			t = reflect.TypeFor[bool]()
		case *arrow.TimestampType:
			if dt.Unit != arrow.Microsecond {
				return nil, fmt.Errorf("column %s: unit %s", f.Name, dt.Unit)
			}
			zone := "local"
			if dt.TimeZone != "" {
				zone = "utc"
			}
			t, tags = reflect.TypeFor[int64](), append(tags, "dict", "timestamp(microsecond:"+zone+")")
		default:
			return nil, fmt.Errorf("column %s: unsupported type %s", f.Name, f.Type)
		}
		if f.Nullable {
			t = reflect.PointerTo(t)
		}
		fields[i] = reflect.StructField{
			Name: fmt.Sprintf("F%d", i),
			Type: t,
			Tag:  reflect.StructTag(`parquet:"` + strings.Join(tags, ",") + `"`),
		}
	}
	return pgo.SchemaOf(reflect.New(reflect.StructOf(fields)).Interface()), nil
}

// unsafeBytes aliases s; parquet-go copies byte array values it is given.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// appendValues appends rows [lo,hi) of arr as parquet-go values of column
// ci, whose maximum definition level is maxDef (1 if nullable, else 0). The
// loop is written out per type: a shared loop calling a function per value
// cost this writer ~10% more CPU (cpu-ms/op, three runs each), which is
// not what it is measured for.
func appendValues(dst []pgo.Value, arr arrow.Array, lo, hi, ci, maxDef int) []pgo.Value {
	null := pgo.NullValue().Level(0, 0, ci)
	noNulls := arr.NullN() == 0
	switch a := arr.(type) {
	case *array.String:
		for i := lo; i < hi; i++ {
			if !noNulls && a.IsNull(i) {
				dst = append(dst, null)
			} else {
				dst = append(dst, pgo.ByteArrayValue(unsafeBytes(a.Value(i))).Level(0, maxDef, ci))
			}
		}
	case *array.Int32:
		vs := a.Int32Values()
		for i := lo; i < hi; i++ {
			if !noNulls && a.IsNull(i) {
				dst = append(dst, null)
			} else {
				dst = append(dst, pgo.Int32Value(vs[i]).Level(0, maxDef, ci))
			}
		}
	case *array.Int64:
		vs := a.Int64Values()
		for i := lo; i < hi; i++ {
			if !noNulls && a.IsNull(i) {
				dst = append(dst, null)
			} else {
				dst = append(dst, pgo.Int64Value(vs[i]).Level(0, maxDef, ci))
			}
		}
	case *array.Timestamp:
		vs := a.TimestampValues()
		for i := lo; i < hi; i++ {
			if !noNulls && a.IsNull(i) {
				dst = append(dst, null)
			} else {
				dst = append(dst, pgo.Int64Value(int64(vs[i])).Level(0, maxDef, ci))
			}
		}
	case *array.Float64:
		vs := a.Float64Values()
		for i := lo; i < hi; i++ {
			if !noNulls && a.IsNull(i) {
				dst = append(dst, null)
			} else {
				dst = append(dst, pgo.DoubleValue(vs[i]).Level(0, maxDef, ci))
			}
		}
	case *array.Boolean:
		for i := lo; i < hi; i++ {
			if !noNulls && a.IsNull(i) {
				dst = append(dst, null)
			} else {
				dst = append(dst, pgo.BooleanValue(a.Value(i)).Level(0, maxDef, ci))
			}
		}
	default:
		panic("writerbench: unsupported array " + arr.DataType().String())
	}
	return dst
}

// writePGoColumns writes recs column by column. Column writers bypass the
// writer's row group cutting, so records are split at rowGroupRows and the
// row group flushed by hand. A column writer checks its page size only after
// a whole WriteRowValues call, so big records are fed in slices of
// valueChunk rows to keep pages near their target size.
const valueChunk = 1024

func writePGoColumns(w io.Writer, schema *arrow.Schema, recs []arrow.RecordBatch) error {
	ps, err := pgoSchemaOf(schema)
	if err != nil {
		return err
	}
	pw := pgo.NewWriter(w, pgoOptions(ps)...)
	maxDef := make([]int, schema.NumFields())
	for i, f := range schema.Fields() {
		if f.Nullable {
			maxDef[i] = 1
		}
	}
	var (
		vals    []pgo.Value
		inGroup int
	)
	for _, rec := range recs {
		for lo, n := 0, int(rec.NumRows()); lo < n; {
			hi := min(n, lo+rowGroupRows-inGroup, lo+valueChunk)
			for ci, cw := range pw.ColumnWriters() {
				vals = appendValues(vals[:0], rec.Column(ci), lo, hi, ci, maxDef[ci])
				if _, err := cw.WriteRowValues(vals); err != nil {
					return err
				}
			}
			inGroup += hi - lo
			lo = hi
			if inGroup == rowGroupRows {
				if err := pw.Flush(); err != nil {
					return err
				}
				inGroup = 0
			}
		}
	}
	return pw.Close()
}
