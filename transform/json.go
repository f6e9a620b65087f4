// Package transform turns vendor records (JSON objects, XML elements) into
// Arrow records shaped by the declarations in package schemas.
package transform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
)

// Lineage is what every row records about where it came from.
type Lineage struct {
	ExtractedAt time.Time
	RunID       string
	Endpoint    string
}

// JSON decodes JSON objects into Arrow records for one table and the child
// tables embedded in it (reps in sets). Records are validated whole before
// anything is appended: a wrong-typed value rejects the smallest record that
// carries it, with the reason. Fields the schema does not know go to _extra.
type JSON struct {
	table *schemas.Table
	cols  []schemas.Column // AllColumns, in schema order
	// fieldIndex maps a quoted vendor field name, as it appears in the
	// input, to its column; childIndex to its child table.
	fieldIndex map[string]int
	childIndex map[string]int
	skip       map[string]bool            // fields a dedicated decoder handles
	skipped    map[string][]byte          // their values in the record split last
	defaults   map[string]json.RawMessage // while AddDefaults adds a record
	elemCol    int                        // column decoded from a scalar list element, or -1
	posCol     int                        // column filled with the element's index, or -1
	zone       *time.Location             // the source's zone, for _utc columns without an offset column
	raw        [][]byte                   // per column: the raw value of the current record
	childRaw   [][]byte                   // per child: the raw list of the current record
	children   []*child
	parts      parts
	rejects    []pipeline.Reject
	scratch    []value
	// A child table's keys decoded from the current response (lineage):
	// the view picks a child's rows by its parent's version alone, so a
	// key the response repeats is rejected here, never deduplicated per
	// row at query time.
	seen    map[string]bool
	seenLin Lineage
}

type child struct {
	dec   *JSON
	field string
	keys  map[string]string // child column -> parent column
}

// NewJSON returns a decoder for table t; child tables declared in reg with t
// as their parent are decoded from the parent's records.
func NewJSON(mem memory.Allocator, reg *schemas.Registry, t *schemas.Table) *JSON {
	d := &JSON{table: t, cols: t.AllColumns(), fieldIndex: map[string]int{}, childIndex: map[string]int{}, skip: map[string]bool{}, skipped: map[string][]byte{}, parts: newParts(mem, t)}
	d.scratch = make([]value, len(d.cols))
	d.raw = make([][]byte, len(d.cols))
	d.elemCol, d.posCol = -1, -1
	for i, c := range d.cols {
		switch {
		case c.Field == schemas.FieldElement:
			d.elemCol = i
		case c.Field == schemas.FieldPosition:
			d.posCol = i
		case !c.Derived:
			d.fieldIndex[quote(c.FieldName())] = i
		}
	}
	for _, ct := range reg.Tables() {
		if ct.Parent == nil || ct.Source != t.Source || ct.Parent.Table != t.Name {
			continue
		}
		if ct.Parent.Custom {
			d.skip[quote(ct.Parent.Field)] = true // decoded elsewhere
			continue
		}
		d.childIndex[quote(ct.Parent.Field)] = len(d.children)
		d.children = append(d.children, &child{dec: NewJSON(mem, reg, ct), field: ct.Parent.Field, keys: ct.Parent.Keys})
	}
	d.childRaw = make([][]byte, len(d.children))
	return d
}

// InZone sets the zone that wall-clock times of this source are in, for
// the UTC columns that have no offset column (Optimo's account zone).
func (d *JSON) InZone(loc *time.Location) *JSON {
	d.zone = loc
	for _, ch := range d.children {
		ch.dec.InZone(loc)
	}
	return d
}

// Add decodes one record. derived gives the values of derived columns (for
// example the group a membership list was read for). It returns the record's
// partition value, and false if the record was rejected.
func (d *JSON) Add(rec json.RawMessage, lin Lineage, derived map[string]string) (string, bool) {
	return d.add(rec, lin, derived, nil, "", false, 0)
}

// AddDefaults is Add with defaults: the raw JSON values of fields the
// record does not have (a player session's timezone_offset, from the list
// that named it, which its details lack). A field the record has, null
// included, keeps its own value.
func (d *JSON) AddDefaults(rec json.RawMessage, lin Lineage, derived map[string]string, defaults map[string]json.RawMessage) (string, bool) {
	d.defaults = defaults
	defer func() { d.defaults = nil }()
	return d.add(rec, lin, derived, nil, "", false, 0)
}

// add decodes one record; a child record gets its parent's key values in
// keys, its parent's partition and its position in the parent's list.
func (d *JSON) add(rec json.RawMessage, lin Lineage, derived map[string]string, keys map[string]value, inherited string, hasInherited bool, pos int) (string, bool) {
	extra, err := d.split(rec)
	if err != nil {
		d.reject(rec, lin, "", "record is not a JSON object")
		return "", false
	}
	for name, v := range d.defaults {
		if i, ok := d.fieldIndex[quote(name)]; ok && d.raw[i] == nil {
			d.raw[i] = v
		}
	}
	vals := d.scratch
	problems := d.parse(vals, extra, lin, derived, keys, pos)
	d.toUTC(vals)
	key := d.keyOf(vals)
	if reason := d.check(problems, key, lin); reason != "" {
		d.reject(rec, lin, key, reason)
		return "", false
	}
	part := inherited
	if p := d.table.Partition; p.Granularity != schemas.None && !hasInherited {
		i := d.colIndex(p.Column)
		part = p.Value(vals[i].t, !vals[i].null)
	}
	b := d.parts.builder(part)
	for i := range d.cols {
		appendValue(b.Field(i), vals[i])
	}
	d.addChildren(vals, key, part, lin)
	return part, true
}

// split sorts a record's members into d.raw (by column), d.childRaw (by
// child table) and the unknown fields it returns.
func (d *JSON) split(rec json.RawMessage) ([]member, error) {
	clear(d.raw)
	clear(d.childRaw)
	clear(d.skipped)
	if d.elemCol >= 0 && (len(rec) == 0 || rec[0] != '{') {
		d.raw[d.elemCol] = rec // a list of scalars
		return nil, nil
	}
	var extra []member
	err := eachMember(rec, func(key, val []byte) {
		if i, ok := d.fieldIndex[string(key)]; ok {
			d.raw[i] = val
			return
		}
		if i, ok := d.childIndex[string(key)]; ok {
			d.childRaw[i] = val
			return
		}
		if d.skip[string(key)] {
			d.skipped[string(key)] = val
			return
		}
		extra = append(extra, member{key, val})
	})
	return extra, err
}

// Member is the raw value of field name in the record added last (nil if
// it had none): a column's field, or a child list a dedicated decoder
// handles (a player session's samples), found by the one scan that split
// the record.
func (d *JSON) Member(name string) []byte {
	q := quote(name)
	if i, ok := d.fieldIndex[q]; ok {
		return d.raw[i]
	}
	return d.skipped[q]
}

// parse fills vals with the record's values, but for the UTC columns (see
// toUTC), and returns the problems found.
func (d *JSON) parse(vals []value, extra []member, lin Lineage, derived map[string]string, keys map[string]value, pos int) []string {
	var problems []string
	for i, c := range d.cols {
		switch {
		case c.Name == schemas.ColExtractedAt:
			vals[i] = value{t: lin.ExtractedAt.UTC()}
		case c.Name == schemas.ColRunID:
			vals[i] = value{s: lin.RunID}
		case c.Name == schemas.ColExtra:
			vals[i] = value{null: true}
			if len(extra) > 0 {
				obj, err := extraObject(extra)
				if err != nil {
					problems = append(problems, err.Error())
				}
				vals[i] = value{s: obj}
			}
		case i == d.posCol:
			vals[i] = value{i: int64(pos)}
		case c.UTCOf != "":
			vals[i] = value{null: true} // by toUTC, once the wall time and offset are parsed
		case c.Derived:
			if v, ok := keys[c.Name]; ok {
				vals[i] = v
			} else {
				s, ok := derived[c.Name]
				vals[i] = value{s: s, null: !ok}
			}
		default:
			v, err := parseJSON(d.raw[i], c.Type)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", c.FieldName(), err))
			}
			vals[i] = v
		}
	}
	return problems
}

// toUTC fills the UTC columns from their wall-clock column, through its
// offset column or else the source's zone.
func (d *JSON) toUTC(vals []value) {
	for i, c := range d.cols {
		if c.UTCOf == "" {
			continue
		}
		w := vals[d.colIndex(c.UTCOf)]
		switch {
		case w.null:
		case c.OffsetOf != "":
			if off := vals[d.colIndex(c.OffsetOf)]; !off.null {
				vals[i] = value{t: w.t.Add(-time.Duration(off.i) * time.Minute)}
			}
		case d.zone != nil:
			vals[i] = value{t: WallToUTC(w.t, d.zone)}
		}
	}
}

// check returns why a parsed record is rejected, or "": its problems, a
// key the response repeats (child tables), or a child list that is not a
// list.
func (d *JSON) check(problems []string, key string, lin Lineage) string {
	if len(problems) > 0 {
		return strings.Join(problems, "; ")
	}
	if d.table.Parent != nil {
		if d.seen == nil || lin != d.seenLin {
			d.seen, d.seenLin = map[string]bool{}, lin
		}
		if d.seen[key] {
			return "the response repeats this key: the first record with it is kept"
		}
		d.seen[key] = true
	}
	for i, ch := range d.children {
		r := d.childRaw[i]
		if len(r) == 0 || string(r) == "null" {
			continue
		}
		if r[0] != '[' {
			return fmt.Sprintf("%s: want a list, got %s", ch.field, kindOf(r))
		}
	}
	return ""
}

// addChildren decodes the child lists of a record that was added, with
// its key values and partition.
func (d *JSON) addChildren(vals []value, key, part string, lin Lineage) {
	for i, ch := range d.children {
		r := d.childRaw[i]
		if len(r) == 0 || r[0] != '[' {
			continue
		}
		keys := make(map[string]value, len(ch.keys))
		for cc, pc := range ch.keys {
			keys[cc] = vals[d.colIndex(pc)]
		}
		// Children are decoded after the parent's values are final: the
		// scratch slices are per decoder, so nesting is safe.
		n := 0
		if err := eachElement(r, func(item []byte) {
			ch.dec.add(item, lin, nil, keys, part, true, n)
			n++
		}); err != nil {
			ch.dec.reject(r, lin, key, ch.field+": malformed list")
		}
	}
}

// member is a field the schema does not know.
type member struct{ key, val []byte }

// extraObject re-assembles unknown fields as one JSON object, keys sorted.
func extraObject(ms []member) (string, error) {
	slices.SortStableFunc(ms, func(a, b member) int { return bytes.Compare(a.key, b.key) })
	var b strings.Builder
	b.WriteByte('{')
	for i, m := range ms {
		if !json.Valid(m.val) {
			return "", fmt.Errorf("%s: malformed JSON value", m.key)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(m.key)
		b.WriteByte(':')
		b.Write(m.val)
	}
	b.WriteByte('}')
	return b.String(), nil
}

// Flush returns the Arrow records built so far, one per table and partition,
// with the rejects, and resets the decoder. The caller releases the records.
func (d *JSON) Flush() ([]pipeline.Records, []pipeline.Reject) {
	out := d.parts.flush()
	rejects := d.rejects
	d.rejects = nil
	for _, ch := range d.children {
		r, rj := ch.dec.Flush()
		out = append(out, r...)
		rejects = append(rejects, rj...)
	}
	return out, rejects
}

func (d *JSON) colIndex(name string) int {
	for i, c := range d.cols {
		if c.Name == name {
			return i
		}
	}
	panic("transform: column " + name + " not in " + d.table.ID()) // guarded by schemas validation
}

func (d *JSON) keyOf(vals []value) string {
	parts := make([]string, len(d.table.Key))
	for i, k := range d.table.Key {
		v := vals[d.colIndex(k)]
		parts[i] = k + "=" + v.String()
	}
	return strings.Join(parts, ",")
}

func (d *JSON) reject(rec []byte, lin Lineage, key, reason string) {
	d.rejects = append(d.rejects, pipeline.Reject{
		Table: d.table.Name, Endpoint: lin.Endpoint, Key: key, Reason: reason,
		Record: bytes.Clone(rec), At: lin.ExtractedAt.UTC(),
	})
}

// value is one parsed cell.
type value struct {
	null bool
	s    string
	i    int64
	f    float64
	b    bool
	t    time.Time
}

func (v value) String() string {
	switch {
	case v.null:
		return "null"
	case v.s != "":
		return v.s
	case !v.t.IsZero():
		return v.t.Format(time.RFC3339Nano)
	case v.f != 0:
		return fmt.Sprint(v.f)
	default:
		return fmt.Sprint(v.i)
	}
}

func appendValue(b array.Builder, v value) {
	if v.null {
		b.AppendNull()
		return
	}
	switch b := b.(type) {
	case *array.StringBuilder:
		b.Append(v.s)
	case *array.Int64Builder:
		b.Append(v.i)
	case *array.Float64Builder:
		b.Append(v.f)
	case *array.BooleanBuilder:
		b.Append(v.b)
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(v.t.UnixMicro()))
	case *array.Date32Builder:
		b.Append(arrow.Date32FromTime(v.t))
	default:
		panic(fmt.Sprintf("transform: no appender for %T", b))
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
