package transform

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
)

// Samples decodes the columnar `samples` object of a Team Pro player
// session ({"fields": [...], "values": [[...], ...]}) straight into Arrow
// builders: no per-row maps or []any. The first field is the time offset (an
// ISO-8601 duration); rows shorter than fields have nulls at the end; rows
// longer than fields are counted as anomalies (the raw response keeps the
// extra values). A value of the wrong kind rejects its row alone.
type Samples struct {
	table *schemas.Table
	cols  []schemas.Column
	// column indexes of the fixed columns
	iSession, iOffset, iTime, iTimeUTC, iExtracted, iRun, iExtra int
	byField                                                      map[string]int // vendor field -> column
	valueCols                                                    []int          // the columns of byField, in order
	parts                                                        parts
	rejects                                                      []pipeline.Reject

	// per session, reused
	fieldCol []int // wire position -> column (-1: time, -2: unknown field)
	names    []string
	vals     []float64
	nulls    []bool
	row      sampleRow
}

// NewSamples returns a decoder for the samples table t.
func NewSamples(mem memory.Allocator, t *schemas.Table) *Samples {
	s := &Samples{table: t, cols: t.AllColumns(), byField: map[string]int{}, parts: newParts(mem, t)}
	for i, c := range s.cols {
		switch c.Name {
		case "player_session_id":
			s.iSession = i
		case "offset_ms":
			s.iOffset = i
		case "sample_time":
			s.iTime = i
		case "sample_time_utc":
			s.iTimeUTC = i
		case schemas.ColExtractedAt:
			s.iExtracted = i
		case schemas.ColRunID:
			s.iRun = i
		case schemas.ColExtra:
			s.iExtra = i
		default:
			s.byField[c.FieldName()] = i
		}
	}
	for _, c := range s.byField {
		s.valueCols = append(s.valueCols, c)
	}
	slices.Sort(s.valueCols)
	s.vals = make([]float64, len(s.cols))
	s.nulls = make([]bool, len(s.cols))
	return s
}

// Add decodes one session's samples. start is the session's wall-clock
// start; offsetMin its zone's offset east of UTC in minutes, or nil if
// unknown. It returns anomalies worth reporting.
func (s *Samples) Add(raw []byte, sessionID string, start time.Time, offsetMin *int64, part string, lin Lineage) []string {
	var fields, values []byte
	err := eachMember(raw, func(k, v []byte) {
		switch string(k) {
		case `"fields"`:
			fields = v
		case `"values"`:
			values = v
		}
	})
	if err != nil || fields == nil {
		s.reject(raw, lin, sessionID, "", "samples: want an object with fields and values")
		return nil
	}
	if !s.readFields(fields) {
		s.reject(raw, lin, sessionID, "", "samples: fields must be a list starting with time")
		return nil
	}
	if values == nil || string(values) == "null" {
		return nil
	}
	w := s.newSessionWriter(part, sessionID, start, offsetMin, lin)
	rows, longer := 0, 0
	err = eachElement(values, func(r []byte) {
		n := rows
		rows++
		row := s.decodeRow(r)
		if row.longer {
			longer++
		}
		if row.problem == "" {
			row.problem = w.repeated(row.offset)
		}
		if row.problem != "" {
			s.reject(r, lin, sessionID, fmt.Sprintf("row %d", n), row.problem)
			return
		}
		w.append(row, s.vals, s.nulls)
	})
	var anomalies []string
	if err != nil {
		anomalies = append(anomalies, fmt.Sprintf("player session %s: samples values are malformed after row %d", sessionID, rows))
	}
	if longer > 0 {
		anomalies = append(anomalies, fmt.Sprintf("player session %s: %d sample rows longer than fields (extra values kept in _raw)", sessionID, longer))
	}
	return anomalies
}

// readFields maps the session's fields to columns in s.fieldCol and
// s.names. It reports whether fields is a list starting with time.
func (s *Samples) readFields(fields []byte) bool {
	s.fieldCol, s.names = s.fieldCol[:0], s.names[:0]
	timePos := -1
	err := eachElement(fields, func(v []byte) {
		name, err := unquote(v)
		col := -2
		switch {
		case err != nil:
		case name == "time":
			col, timePos = -1, len(s.fieldCol)
		default:
			if c, ok := s.byField[name]; ok {
				col = c
			}
		}
		s.fieldCol = append(s.fieldCol, col)
		s.names = append(s.names, name)
	})
	return err == nil && timePos == 0
}

// sampleRow is one decoded row; its values are in Samples.vals and nulls.
type sampleRow struct {
	offset   int64
	haveTime bool
	extra    []string // unknown fields, as "name":value
	longer   bool     // more values than fields
	problem  string   // why the row is rejected, if it is
}

// decodeRow decodes one row of values into s.vals and s.nulls. The row
// returned is reused by the next call.
func (s *Samples) decodeRow(r []byte) *sampleRow {
	row := &s.row
	*row = sampleRow{extra: row.extra[:0]}
	for i := range s.nulls {
		s.nulls[i] = true
	}
	pos := 0
	if err := eachElement(r, func(v []byte) {
		p := pos
		pos++
		if row.problem == "" {
			s.decodeValue(row, p, v)
		}
	}); err != nil {
		row.problem = "row is not a list"
	}
	if row.problem == "" && !row.haveTime {
		row.problem = "time: missing"
	}
	return row
}

// decodeValue decodes the value at position p of a row.
func (s *Samples) decodeValue(row *sampleRow, p int, v []byte) {
	if p >= len(s.fieldCol) {
		row.longer = true
		return
	}
	col := s.fieldCol[p]
	if string(v) == "null" {
		return
	}
	switch {
	case col == -1:
		if len(v) < 2 || v[0] != '"' {
			row.problem = fmt.Sprintf("time: want an ISO-8601 duration, got %s", kindOf(v))
			return
		}
		ms, err := parseISODuration(v[1 : len(v)-1])
		if err != nil {
			row.problem = fmt.Sprintf("time: bad ISO-8601 duration %s", v)
			return
		}
		row.offset, row.haveTime = ms, true
	case col == -2:
		row.extra = append(row.extra, quote(s.names[p])+":"+string(v))
	default:
		if !isNumber(v) {
			row.problem = fmt.Sprintf("%s: want a number, got %s", s.names[p], kindOf(v))
			return
		}
		f, err := strconv.ParseFloat(unsafe.String(&v[0], len(v)), 64)
		if err != nil {
			row.problem = fmt.Sprintf("%s: bad number %s", s.names[p], v)
			return
		}
		if s.cols[col].Type == schemas.Int64 && f != float64(int64(f)) {
			row.problem = fmt.Sprintf("%s: want a whole number, got %s", s.names[p], v)
			return
		}
		s.vals[col], s.nulls[col] = f, false
	}
}

// sessionWriter appends one session's rows to its partition's builder.
type sessionWriter struct {
	b                     *array.RecordBuilder
	valueCols             []int
	session, run, extra   *array.StringBuilder
	offset                *array.Int64Builder
	sampleTime, sampleUTC *array.TimestampBuilder
	extractedAt           *array.TimestampBuilder

	sessionID string
	runID     string
	start     time.Time
	extracted arrow.Timestamp
	hasUTC    bool
	utcShift  time.Duration

	// A session's rows are chosen by its version alone in the views, never
	// deduplicated per row: an offset the response repeats is rejected.
	// Offsets normally increase, so the set of those seen is built only
	// once one does not.
	first int   // the builder's first row of this session
	last  int64 // the largest offset so far, while they increase
	seen  map[int64]bool
}

func (s *Samples) newSessionWriter(part, sessionID string, start time.Time, offsetMin *int64, lin Lineage) *sessionWriter {
	b := s.parts.builder(part)
	w := &sessionWriter{
		b:           b,
		valueCols:   s.valueCols,
		session:     b.Field(s.iSession).(*array.StringBuilder),
		run:         b.Field(s.iRun).(*array.StringBuilder),
		extra:       b.Field(s.iExtra).(*array.StringBuilder),
		offset:      b.Field(s.iOffset).(*array.Int64Builder),
		sampleTime:  b.Field(s.iTime).(*array.TimestampBuilder),
		sampleUTC:   b.Field(s.iTimeUTC).(*array.TimestampBuilder),
		extractedAt: b.Field(s.iExtracted).(*array.TimestampBuilder),
		sessionID:   sessionID,
		runID:       lin.RunID,
		start:       start,
		extracted:   arrow.Timestamp(lin.ExtractedAt.UTC().UnixMicro()),
		hasUTC:      offsetMin != nil,
	}
	if offsetMin != nil {
		w.utcShift = -time.Duration(*offsetMin) * time.Minute
	}
	w.first = w.offset.Len()
	return w
}

// repeated returns why a row with this offset is rejected ("" if it is
// not): an earlier row of the session has it.
func (w *sessionWriter) repeated(offset int64) string {
	switch n := w.offset.Len(); {
	case n == w.first || w.seen == nil && offset > w.last:
		w.last = offset
	default:
		if w.seen == nil {
			w.seen = make(map[int64]bool, n-w.first)
			for i := w.first; i < n; i++ {
				w.seen[w.offset.Value(i)] = true
			}
		}
		if w.seen[offset] {
			return fmt.Sprintf("time: the response repeats offset %d ms: the first row with it is kept", offset)
		}
		w.seen[offset] = true
	}
	return ""
}

// append adds a decoded row with its values.
func (w *sessionWriter) append(row *sampleRow, vals []float64, nulls []bool) {
	w.session.Append(w.sessionID)
	w.offset.Append(row.offset)
	at := w.start.Add(time.Duration(row.offset) * time.Millisecond)
	w.sampleTime.Append(arrow.Timestamp(at.UnixMicro()))
	if w.hasUTC {
		w.sampleUTC.Append(arrow.Timestamp(at.Add(w.utcShift).UnixMicro()))
	} else {
		w.sampleUTC.AppendNull()
	}
	for _, col := range w.valueCols {
		fb := w.b.Field(col)
		if nulls[col] {
			fb.AppendNull()
			continue
		}
		switch fb := fb.(type) {
		case *array.Float64Builder:
			fb.Append(vals[col])
		case *array.Int64Builder:
			fb.Append(int64(vals[col]))
		}
	}
	w.extractedAt.Append(w.extracted)
	w.run.Append(w.runID)
	if len(row.extra) > 0 {
		w.extra.Append("{" + strings.Join(row.extra, ",") + "}")
	} else {
		w.extra.AppendNull()
	}
}

// Flush returns the records built so far and the rejected rows.
func (s *Samples) Flush() ([]pipeline.Records, []pipeline.Reject) {
	rj := s.rejects
	s.rejects = nil
	return s.parts.flush(), rj
}

func (s *Samples) reject(rec []byte, lin Lineage, sessionID, where, reason string) {
	key := "player_session_id=" + sessionID
	if where != "" {
		key += "," + where
	}
	s.rejects = append(s.rejects, pipeline.Reject{
		Table: s.table.Name, Endpoint: lin.Endpoint, Key: key, Reason: reason,
		Record: append([]byte(nil), rec...), At: lin.ExtractedAt.UTC(),
	})
}
