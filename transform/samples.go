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
	// rowByRow turns off decodeRowAt (tests compare the two paths).
	rowByRow bool

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
	err = eachItem(values, '[', ']', func(i int) (int, error) {
		var (
			end int
			row *sampleRow
		)
		if !s.rowByRow {
			end, row = s.decodeRowAt(values, i)
		}
		if row == nil {
			var err error
			if end, err = skipValue(values, i); err != nil {
				return 0, err
			}
			row = s.decodeRow(values[i:end])
		}
		r := values[i:end]
		n := rows
		rows++
		if row.longer {
			longer++
		}
		if row.problem == "" {
			row.problem = w.repeated(row.offset)
		}
		if row.problem != "" {
			s.reject(r, lin, sessionID, fmt.Sprintf("row %d", n), row.problem)
			return end, nil
		}
		w.append(row, s.vals, s.nulls)
		return end, nil
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

// decodeRowAt is decodeRow for the row starting at b[i], found and
// decoded in one pass. It returns where the row ends and the row, or a nil
// row where the row is anything but a list of numbers, nulls and strings
// without escapes, well formed: decodeRow then takes it.
func (s *Samples) decodeRowAt(b []byte, i int) (int, *sampleRow) {
	if i >= len(b) || b[i] != '[' {
		return 0, nil
	}
	row := &s.row
	*row = sampleRow{extra: row.extra[:0]}
	for k := range s.nulls {
		s.nulls[k] = true
	}
	j := skipSpace(b, i+1)
	if j < len(b) && b[j] == ']' {
		row.problem = "time: missing"
		return j + 1, row
	}
	for p := 0; ; p++ {
		if j >= len(b) {
			return 0, nil
		}
		start := j
		switch c := b[j]; {
		case c == '-' || '0' <= c && c <= '9':
			j++
			for j < len(b) && numberByte[b[j]] {
				j++
			}
		case c == 'n':
			if len(b)-j < 4 || string(b[j:j+4]) != "null" {
				return 0, nil
			}
			j += 4
		case c == '"':
			j++
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					return 0, nil
				}
				j++
			}
			if j == len(b) {
				return 0, nil
			}
			j++
		default:
			return 0, nil
		}
		if row.problem == "" {
			s.decodeValue(row, p, b[start:j])
		}
		j = skipSpace(b, j)
		if j >= len(b) {
			return 0, nil
		}
		switch b[j] {
		case ',':
			j = skipSpace(b, j+1)
		case ']':
			if row.problem == "" && !row.haveTime {
				row.problem = "time: missing"
			}
			return j + 1, row
		default:
			return 0, nil
		}
	}
}

// numberByte marks the bytes skipValue takes as part of a number.
var numberByte = [256]bool{
	'0': true, '1': true, '2': true, '3': true, '4': true, '5': true, '6': true, '7': true, '8': true, '9': true,
	'.': true, 'e': true, 'E': true, '+': true, '-': true,
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
		f, err := parseFloat(v)
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

// pow10 are the powers of ten a float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat is strconv.ParseFloat(v, 64) with a fast path for plain
// decimals (-?digits[.digits], at most 15 significant digits, no
// exponent), which cover the samples: their mantissa and the power of ten
// it is divided by are exact float64s, so one division gives the
// correctly rounded value, as strconv's own exact path does. Anything else
// goes to strconv.
func parseFloat(v []byte) (float64, error) {
	i, neg := 0, false
	if len(v) > 0 && v[0] == '-' {
		i, neg = 1, true
	}
	var mant uint64
	digits, frac, dot := 0, 0, -1
	for ; i < len(v); i++ {
		c := v[i]
		switch {
		case '0' <= c && c <= '9':
			mant = mant*10 + uint64(c-'0')
			digits++
			if dot >= 0 {
				frac++
			}
		case c == '.' && dot < 0:
			dot = i
		default:
			return strconv.ParseFloat(unsafe.String(&v[0], len(v)), 64)
		}
	}
	if digits == 0 || digits > 15 || dot >= 0 && (frac == 0 || dot == 0 || v[dot-1] == '-') {
		return strconv.ParseFloat(unsafe.String(unsafe.SliceData(v), len(v)), 64)
	}
	f := float64(mant) / pow10[frac]
	if neg {
		f = -f
	}
	return f, nil
}
