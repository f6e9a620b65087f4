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
	mem   memory.Allocator
	table *schemas.Table
	cols  []schemas.Column
	// column indexes of the fixed columns
	iSession, iOffset, iTime, iTimeUTC, iExtracted, iRun, iExtra int
	byField                                                      map[string]int // vendor field -> column
	valueCols                                                    []int          // the columns of byField, in order
	parts                                                        map[string]*array.RecordBuilder
	rejects                                                      []pipeline.Reject

	// per session, reused
	fieldCol []int // wire position -> column (-1: time, -2: unknown field)
	names    []string
	vals     []float64
	nulls    []bool
}

// NewSamples returns a decoder for the samples table t.
func NewSamples(mem memory.Allocator, t *schemas.Table) *Samples {
	s := &Samples{mem: mem, table: t, cols: t.AllColumns(), byField: map[string]int{}, parts: map[string]*array.RecordBuilder{}}
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
	s.fieldCol, s.names = s.fieldCol[:0], s.names[:0]
	timePos := -1
	if err := eachElement(fields, func(v []byte) {
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
	}); err != nil || timePos != 0 {
		s.reject(raw, lin, sessionID, "", "samples: fields must be a list starting with time")
		return nil
	}
	if values == nil || string(values) == "null" {
		return nil
	}
	b := s.builder(part)
	var (
		longer   int
		row      int
		problem  string
		extra    []string
		utcShift = time.Duration(0)
	)
	if offsetMin != nil {
		utcShift = -time.Duration(*offsetMin) * time.Minute
	}
	session := b.Field(s.iSession).(*array.StringBuilder)
	offsetB := b.Field(s.iOffset).(*array.Int64Builder)
	timeB := b.Field(s.iTime).(*array.TimestampBuilder)
	utcB := b.Field(s.iTimeUTC).(*array.TimestampBuilder)
	extractedB := b.Field(s.iExtracted).(*array.TimestampBuilder)
	runB := b.Field(s.iRun).(*array.StringBuilder)
	extraB := b.Field(s.iExtra).(*array.StringBuilder)
	extracted := arrow.Timestamp(lin.ExtractedAt.UTC().UnixMicro())
	// A session's rows are chosen by its version alone in the views, never
	// deduplicated per row: an offset the response repeats is rejected
	// here. Offsets normally increase, so the set of those seen is built
	// only once one does not.
	first, last := offsetB.Len(), int64(0)
	var seen map[int64]bool

	err = eachElement(values, func(r []byte) {
		r0 := row
		row++
		for i := range s.nulls {
			s.nulls[i] = true
		}
		var offset int64
		haveTime := false
		problem, extra = "", extra[:0]
		pos := 0
		if err := eachElement(r, func(v []byte) {
			p := pos
			pos++
			if problem != "" {
				return
			}
			if p >= len(s.fieldCol) {
				if p == len(s.fieldCol) {
					longer++
				}
				return
			}
			col := s.fieldCol[p]
			if string(v) == "null" {
				return
			}
			switch {
			case col == -1:
				if len(v) < 2 || v[0] != '"' {
					problem = fmt.Sprintf("time: want an ISO-8601 duration, got %s", kindOf(v))
					return
				}
				ms, err := parseISODuration(v[1 : len(v)-1])
				if err != nil {
					problem = fmt.Sprintf("time: bad ISO-8601 duration %s", v)
					return
				}
				offset, haveTime = ms, true
			case col == -2:
				extra = append(extra, quote(s.names[p])+":"+string(v))
			default:
				if !isNumber(v) {
					problem = fmt.Sprintf("%s: want a number, got %s", s.names[p], kindOf(v))
					return
				}
				f, err := strconv.ParseFloat(unsafe.String(&v[0], len(v)), 64)
				if err != nil {
					problem = fmt.Sprintf("%s: bad number %s", s.names[p], v)
					return
				}
				if s.cols[col].Type == schemas.Int64 && f != float64(int64(f)) {
					problem = fmt.Sprintf("%s: want a whole number, got %s", s.names[p], v)
					return
				}
				s.vals[col], s.nulls[col] = f, false
			}
		}); err != nil {
			problem = "row is not a list"
		}
		if problem == "" && !haveTime {
			problem = "time: missing"
		}
		if problem == "" {
			switch n := offsetB.Len(); {
			case n == first || seen == nil && offset > last:
				last = offset
			default:
				if seen == nil {
					seen = make(map[int64]bool, n-first)
					for i := first; i < n; i++ {
						seen[offsetB.Value(i)] = true
					}
				}
				if seen[offset] {
					problem = fmt.Sprintf("time: the response repeats offset %d ms: the first row with it is kept", offset)
				}
				seen[offset] = true
			}
		}
		if problem != "" {
			s.reject(r, lin, sessionID, fmt.Sprintf("row %d", r0), problem)
			return
		}
		session.Append(sessionID)
		offsetB.Append(offset)
		at := start.Add(time.Duration(offset) * time.Millisecond)
		timeB.Append(arrow.Timestamp(at.UnixMicro()))
		if offsetMin != nil {
			utcB.Append(arrow.Timestamp(at.Add(utcShift).UnixMicro()))
		} else {
			utcB.AppendNull()
		}
		for _, col := range s.valueCols {
			fb := b.Field(col)
			if s.nulls[col] {
				fb.AppendNull()
				continue
			}
			switch fb := fb.(type) {
			case *array.Float64Builder:
				fb.Append(s.vals[col])
			case *array.Int64Builder:
				fb.Append(int64(s.vals[col]))
			}
		}
		extractedB.Append(extracted)
		runB.Append(lin.RunID)
		if len(extra) > 0 {
			extraB.Append("{" + strings.Join(extra, ",") + "}")
		} else {
			extraB.AppendNull()
		}
	})
	var anomalies []string
	if err != nil {
		anomalies = append(anomalies, fmt.Sprintf("player session %s: samples values are malformed after row %d", sessionID, row))
	}
	if longer > 0 {
		anomalies = append(anomalies, fmt.Sprintf("player session %s: %d sample rows longer than fields (extra values kept in _raw)", sessionID, longer))
	}
	return anomalies
}

// Flush returns the records built so far and the rejected rows.
func (s *Samples) Flush() ([]pipeline.Records, []pipeline.Reject) {
	var out []pipeline.Records
	for part, b := range s.parts {
		out = append(out, pipeline.Records{Table: s.table.Name, Partition: part, Record: b.NewRecordBatch()})
		b.Release()
	}
	clear(s.parts)
	rj := s.rejects
	s.rejects = nil
	return out, rj
}

func (s *Samples) builder(part string) *array.RecordBuilder {
	b, ok := s.parts[part]
	if !ok {
		b = array.NewRecordBuilder(s.mem, s.table.ArrowSchema())
		s.parts[part] = b
	}
	return b
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
