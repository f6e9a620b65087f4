package optimo

import (
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The wire encoding: records are written element by element in a fixed
// order (equal data gives equal bytes), one record a line; times as the
// wall-clock reading "YYYY-MM-DD HH:MM:SS", dates "YYYY-MM-DD", booleans
// 1/0; nil values as an empty element or no element, varying by record and
// field (see nilStyle); unknown elements (Extra) before created_at.

const xmlHeader = `<?xml version="1.0" encoding="utf-8"?>` + "\n"

// How a nil value is sent.
const (
	nilEmpty    = iota // <notes/>
	nilOmitted         // nothing
	nilOpenShut        // <notes></notes>
)

// nilStyle is how the nil value of a record's field is sent: about a third
// left out, the rest empty elements of either spelling. It depends only on
// the table, the id and the field, so a record always looks the same.
func nilStyle(table byte, id int64, field int) int {
	h := uint64(id)*0x9e3779b97f4a7c15 ^ uint64(field+1)*0xbf58476d1ce4e5b9 ^ uint64(table)*0x94d049bb133111eb
	h ^= h >> 29
	h *= 0xff51afd7ed558ccd
	h ^= h >> 32
	switch h % 6 {
	case 0, 1:
		return nilOmitted
	case 5:
		return nilOpenShut
	}
	return nilEmpty
}

// rec writes one record's elements.
type rec struct {
	b     []byte
	table byte
	id    int64
	field int // the index of the next field, for nilStyle
	w     *wire
}

// wire is how a server spells what it varies: ids (numbers, or hostile
// strings with Options.HostileIDs) and the change stamp's element name.
type wire struct {
	hostile bool
	stamp   string // the element of updated_at
}

func (r *rec) open(name string) {
	r.b = append(r.b, '<')
	r.b = append(r.b, name...)
	r.b = append(r.b, '>')
}

func (r *rec) shut(name string) {
	r.b = append(r.b, '<', '/')
	r.b = append(r.b, name...)
	r.b = append(r.b, '>')
}

// empty writes the empty element name.
func (r *rec) empty(name string) {
	r.b = append(r.b, '<')
	r.b = append(r.b, name...)
	r.b = append(r.b, '/', '>')
}

// null writes a nil value of the field name.
func (r *rec) null(name string) {
	switch nilStyle(r.table, r.id, r.field) {
	case nilEmpty:
		r.empty(name)
	case nilOpenShut:
		r.open(name)
		r.shut(name)
	}
}

// extra writes the unknown elements in name order, leaving out names that
// are not XML names or that are known fields of the record.
func (r *rec) extra(x Extra, known []string) {
	if len(x) == 0 {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(x)) {
		if !validName(k) || slices.Contains(known, k) {
			continue
		}
		if v := x[k]; v == "" {
			r.empty(k)
		} else {
			r.open(k)
			r.b = appendText(r.b, v)
			r.shut(k)
		}
	}
}

// A record is written element by element in its struct's order, each
// field under its name in snake case (AthleteID: athlete_id): strings as
// text, numbers in decimal (floats in their shortest form), booleans 1/0,
// times as the wall-clock reading, a *time.Time as a date, nil as
// nilStyle says, updated_at under the server's stamp name, Extra where it
// stands (leaving out the record's field names), and a slice of records as
// an element holding an element for each (its name without the plural s;
// an empty slice is an empty element). A record's options name fields:
//
//	"athlete_id ref=a"      an id of a record of kind a (a, c, w, s), as
//	                        the wire spells it
//	"height_cm decimals=1"  a float with 1 fixed decimal when it reads
//	                        back as the value
//
// The first field is the record's id, and the kind of its ref the record's
// table (for nilStyle).

// wireField is one field of a record type and the writer of its element.
type wireField struct {
	index int
	write func(r *rec, v reflect.Value)
}

// recordType is how records of one struct type are written.
type recordType struct {
	elem   string // the record's element
	table  byte   // the kind of its id, the first field
	fields []wireField
}

// newRecordType returns the writer of records of type t, each in an
// element elem, with the options of its fields.
func newRecordType(t reflect.Type, elem string, options ...string) *recordType {
	opts := map[string]string{}
	for _, o := range options {
		name, opt, _ := strings.Cut(o, " ")
		opts[name] = opt
	}
	rt := &recordType{elem: elem}
	var known []string
	for i := range t.NumField() {
		f := t.Field(i)
		name := snakeCase(f.Name)
		if f.Type == reflect.TypeFor[Extra]() {
			rt.fields = append(rt.fields, wireField{i, func(r *rec, v reflect.Value) { r.extra(v.Interface().(Extra), known) }})
			continue
		}
		known = append(known, name)
		opt := opts[name]
		if kind, ok := strings.CutPrefix(opt, "ref="); ok && i == 0 {
			rt.table = kind[0]
		}
		rt.fields = append(rt.fields, wireField{i, fieldWriter(f.Type, name, opt)})
	}
	return rt
}

// snakeCase is a Go field name in snake case: AthleteID athlete_id, AvgHR
// avg_hr, RPE rpe.
func snakeCase(s string) string {
	var b []byte
	for i := range len(s) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			if i > 0 && 'a' <= s[i-1] && s[i-1] <= 'z' {
				b = append(b, '_')
			}
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}

// fieldWriter returns the writer of a field of type t named name with the
// option opt.
func fieldWriter(t reflect.Type, name, opt string) func(r *rec, v reflect.Value) {
	if t.Kind() == reflect.Slice {
		elem := newRecordType(t.Elem(), strings.TrimSuffix(name, "s"))
		return func(r *rec, v reflect.Value) {
			if v.Len() == 0 {
				r.empty(name)
				return
			}
			r.open(name)
			for i := range v.Len() {
				elem.write(r, v.Index(i))
			}
			r.shut(name)
		}
	}
	text := textWriter(t, opt)
	stamp := name == "updated_at" // its element name is the account's
	return func(r *rec, v reflect.Value) {
		r.field++
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				r.null(name)
				return
			}
			v = v.Elem()
		}
		el := name
		if stamp {
			el = r.w.stamp
		}
		r.open(el)
		r.b = text(r, v)
		r.shut(el)
	}
}

// textWriter returns the writer of the text of a value of type t (a
// pointer's is its element's).
func textWriter(t reflect.Type, opt string) func(r *rec, v reflect.Value) []byte {
	if kind, ok := strings.CutPrefix(opt, "ref="); ok {
		return func(r *rec, v reflect.Value) []byte { return appendText(r.b, r.w.id(kind[0], v.Int())) }
	}
	switch t {
	case reflect.TypeFor[string]():
		return func(r *rec, v reflect.Value) []byte { return appendText(r.b, v.String()) }
	case reflect.TypeFor[int](), reflect.TypeFor[int64]():
		return func(r *rec, v reflect.Value) []byte { return strconv.AppendInt(r.b, v.Int(), 10) }
	case reflect.TypeFor[float64]():
		decimals := -1
		if d, ok := strings.CutPrefix(opt, "decimals="); ok {
			decimals, _ = strconv.Atoi(d)
		}
		return func(r *rec, v reflect.Value) []byte { return appendFloat(r.b, v.Float(), decimals) }
	case reflect.TypeFor[bool]():
		return func(r *rec, v reflect.Value) []byte {
			if v.Bool() {
				return append(r.b, '1')
			}
			return append(r.b, '0')
		}
	case reflect.TypeFor[time.Time]():
		layout := WallLayout
		if opt == "date" {
			layout = DateLayout
		}
		return func(r *rec, v reflect.Value) []byte {
			return v.Addr().Interface().(*time.Time).AppendFormat(r.b, layout)
		}
	case reflect.PointerTo(reflect.TypeFor[time.Time]()):
		return textWriter(t.Elem(), "date")
	}
	if t.Kind() == reflect.Pointer {
		return textWriter(t.Elem(), opt)
	}
	panic("optimo: no wire writer for " + t.String())
}

// write writes the record v's element into r.
func (rt *recordType) write(r *rec, v reflect.Value) {
	r.open(rt.elem)
	for _, f := range rt.fields {
		f.write(r, v.Field(f.index))
	}
	r.shut(rt.elem)
}

// encodeRecord returns the writer of records of type T, one a line, each
// in an element elem, with the options of its fields.
func encodeRecord[T any](elem string, options ...string) func(wr *wire, b []byte, x *T) []byte {
	rt := newRecordType(reflect.TypeFor[T](), elem, options...)
	return func(wr *wire, b []byte, x *T) []byte {
		v := reflect.ValueOf(x).Elem()
		r := rec{b: b, table: rt.table, id: v.Field(0).Int(), w: wr}
		rt.write(&r, v)
		return append(r.b, '\n')
	}
}

// The writers of the wire records.
var (
	appendAthlete    = encodeRecord[Athlete]("athlete", "athlete_id ref=a", "height_cm decimals=1", "weight_kg decimals=1")
	appendCoach      = encodeRecord[Coach]("coach", "coach_id ref=c")
	appendWorkout    = encodeRecord[Workout]("workout", "workout_id ref=w", "athlete_id ref=a", "distance_km decimals=2")
	appendAssessment = encodeRecord[Assessment]("assessment", "assessment_id ref=s", "athlete_id ref=a")
)

// appendFloat writes v with decimals fixed decimals when that spelling
// reads back as v, else in its shortest form.
func appendFloat(b []byte, v float64, decimals int) []byte {
	if decimals >= 0 && !math.IsNaN(v) && !math.IsInf(v, 0) {
		n := len(b)
		b = strconv.AppendFloat(b, v, 'f', decimals, 64)
		if back, err := strconv.ParseFloat(string(b[n:]), 64); err == nil && back == v {
			return b
		}
		b = b[:n]
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

// appendText writes s as XML character data (also safe in attribute
// values): markup characters as entities, a carriage return as &#xD; (a
// parser would turn a raw one into a line feed), and what XML cannot carry
// (invalid UTF-8, control characters) as U+FFFD.
func appendText(b []byte, s string) []byte {
	start := 0
	flush := func(i int, rep string) {
		b = append(b, s[start:i]...)
		b = append(b, rep...)
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			rep := asciiEscapes[c]
			if rep == "" {
				i++
				continue
			}
			flush(i, rep)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || !xmlChar(r) {
			flush(i, "\uFFFD")
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// asciiEscapes is how appendText spells an ASCII character ("" for as is).
var asciiEscapes = func() (e [utf8.RuneSelf]string) {
	for c := range byte(0x20) {
		if c != '\t' && c != '\n' {
			e[c] = "\uFFFD"
		}
	}
	e['&'], e['<'], e['>'], e['"'], e['\''], e['\r'] = "&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#xD;"
	return e
}()

// xmlChar reports whether XML 1.0 allows r (beyond ASCII).
func xmlChar(r rune) bool {
	return r >= 0x80 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// validName reports whether s is an XML element name without a namespace
// prefix that does not start with "xml".
func validName(s string) bool {
	if s == "" || len(s) >= 3 && (s[0]|0x20) == 'x' && (s[1]|0x20) == 'm' && (s[2]|0x20) == 'l' {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || unicode.IsLetter(r):
		case i > 0 && (r == '-' || r == '.' || unicode.IsDigit(r)):
		default:
			return false
		}
	}
	return true
}

// document writes a whole response: the declaration, the root element
// (response, or request for the RequestRootRate fault) with its status, and
// inner.
func document(root, status string, inner []byte) []byte {
	b := make([]byte, 0, len(xmlHeader)+len(inner)+64)
	b = append(b, xmlHeader...)
	b = append(b, '<')
	b = append(b, root...)
	b = append(b, ` status="`...)
	b = append(b, status...)
	b = append(b, '"', '>', '\n')
	b = append(b, inner...)
	b = append(b, '<', '/')
	b = append(b, root...)
	b = append(b, '>', '\n')
	return b
}
