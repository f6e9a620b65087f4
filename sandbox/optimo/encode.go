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

// ref writes the id of a record of kind (an athlete, workout, assessment
// or coach) as the wire spells it.
func (r *rec) ref(name string, kind byte, id int64) {
	r.field++
	r.open(name)
	r.b = appendText(r.b, r.w.id(kind, id))
	r.shut(name)
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

// null writes a nil value of the field name.
func (r *rec) null(name string) {
	switch nilStyle(r.table, r.id, r.field) {
	case nilEmpty:
		r.b = append(r.b, '<')
		r.b = append(r.b, name...)
		r.b = append(r.b, '/', '>')
	case nilOpenShut:
		r.open(name)
		r.shut(name)
	}
}

func (r *rec) str(name, v string) {
	r.field++
	r.open(name)
	r.b = appendText(r.b, v)
	r.shut(name)
}

func (r *rec) strp(name string, v *string) {
	if v == nil {
		r.field++
		r.null(name)
		return
	}
	r.str(name, *v)
}

func (r *rec) int(name string, v int64) {
	r.field++
	r.open(name)
	r.b = strconv.AppendInt(r.b, v, 10)
	r.shut(name)
}

func (r *rec) intp(name string, v *int) {
	if v == nil {
		r.field++
		r.null(name)
		return
	}
	r.int(name, int64(*v))
}

// num writes v with the given number of decimals when that spelling reads
// back as v, else in its shortest form (decimals < 0: always shortest).
func (r *rec) num(name string, v float64, decimals int) {
	r.field++
	r.open(name)
	r.b = appendFloat(r.b, v, decimals)
	r.shut(name)
}

func (r *rec) nump(name string, v *float64, decimals int) {
	if v == nil {
		r.field++
		r.null(name)
		return
	}
	r.num(name, *v, decimals)
}

func (r *rec) bool(name string, v bool) {
	r.field++
	r.open(name)
	if v {
		r.b = append(r.b, '1')
	} else {
		r.b = append(r.b, '0')
	}
	r.shut(name)
}

func (r *rec) wall(name string, t time.Time) {
	r.field++
	r.open(name)
	r.b = t.AppendFormat(r.b, WallLayout)
	r.shut(name)
}

func (r *rec) date(name string, t *time.Time) {
	if t == nil {
		r.field++
		r.null(name)
		return
	}
	r.field++
	r.open(name)
	r.b = t.AppendFormat(r.b, DateLayout)
	r.shut(name)
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
		v := x[k]
		if v == "" {
			r.b = append(r.b, '<')
			r.b = append(r.b, k...)
			r.b = append(r.b, '/', '>')
			continue
		}
		r.open(k)
		r.b = appendText(r.b, v)
		r.shut(k)
	}
}

// A record is written element by element in its struct's order, each
// under the name its wire tag gives, with these options:
//
//	ref=K       an id of a record of kind K (a, c, w, s), as the wire
//	            spells it; the first field is the record's own id, and its
//	            kind the record's table (for nilStyle)
//	decimals=N  a float with N fixed decimals when they read back as it
//	            (else, and without the option, in its shortest form)
//	date        a *time.Time sent as a date (other times are wall-clock
//	            readings)
//	stamp       the change stamp: its element is the server's stamp name
//	elem=E      a slice of records: one element E for each, inside the
//	            field's element (an empty slice is an empty element)
//
// Extra is written where it stands, leaving out the names of the tags.

// wireField is one field of a record type and the writer of its value.
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
// element elem.
func newRecordType(t reflect.Type, elem string) *recordType {
	rt := &recordType{elem: elem}
	var known []string
	extra := -1
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type == reflect.TypeFor[Extra]() {
			extra = len(rt.fields)
			rt.fields = append(rt.fields, wireField{index: i})
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("wire"), ",")
		known = append(known, name)
		if kind := tagOption(opts, "ref"); i == 0 && kind != "" {
			rt.table = kind[0]
		}
		rt.fields = append(rt.fields, wireField{i, fieldWriter(f.Type, name, opts)})
	}
	if extra >= 0 {
		rt.fields[extra].write = func(r *rec, v reflect.Value) { r.extra(v.Interface().(Extra), known) }
	}
	return rt
}

// tagOption is the value of the option key= of a wire tag's options
// ("" when absent); a bare option has the value "true".
func tagOption(opts, key string) string {
	for o := range strings.SplitSeq(opts, ",") {
		if o == key {
			return "true"
		}
		if v, ok := strings.CutPrefix(o, key+"="); ok {
			return v
		}
	}
	return ""
}

// fieldWriter returns the writer of a field of type t named name.
func fieldWriter(t reflect.Type, name, opts string) func(r *rec, v reflect.Value) {
	if kind := tagOption(opts, "ref"); kind != "" {
		return func(r *rec, v reflect.Value) { r.ref(name, kind[0], v.Int()) }
	}
	decimals := -1
	if d := tagOption(opts, "decimals"); d != "" {
		decimals, _ = strconv.Atoi(d)
	}
	switch t {
	case reflect.TypeFor[string]():
		return func(r *rec, v reflect.Value) { r.str(name, v.String()) }
	case reflect.TypeFor[*string]():
		return func(r *rec, v reflect.Value) { r.strp(name, v.Interface().(*string)) }
	case reflect.TypeFor[int64]():
		return func(r *rec, v reflect.Value) { r.int(name, v.Int()) }
	case reflect.TypeFor[*int]():
		return func(r *rec, v reflect.Value) { r.intp(name, v.Interface().(*int)) }
	case reflect.TypeFor[float64]():
		return func(r *rec, v reflect.Value) { r.num(name, v.Float(), decimals) }
	case reflect.TypeFor[*float64]():
		return func(r *rec, v reflect.Value) { r.nump(name, v.Interface().(*float64), decimals) }
	case reflect.TypeFor[bool]():
		return func(r *rec, v reflect.Value) { r.bool(name, v.Bool()) }
	case reflect.TypeFor[*time.Time]():
		return func(r *rec, v reflect.Value) { r.date(name, v.Interface().(*time.Time)) }
	case reflect.TypeFor[time.Time]():
		if tagOption(opts, "stamp") != "" {
			return func(r *rec, v reflect.Value) { r.wall(r.w.stamp, v.Interface().(time.Time)) }
		}
		return func(r *rec, v reflect.Value) { r.wall(name, v.Interface().(time.Time)) }
	}
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
		elem := newRecordType(t.Elem(), tagOption(opts, "elem"))
		return func(r *rec, v reflect.Value) {
			if v.Len() == 0 {
				r.b = append(r.b, '<')
				r.b = append(r.b, name...)
				r.b = append(r.b, '/', '>')
				return
			}
			r.open(name)
			for i := range v.Len() {
				elem.write(r, v.Index(i))
			}
			r.shut(name)
		}
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
// in an element elem.
func encodeRecord[T any](elem string) func(wr *wire, b []byte, x *T) []byte {
	rt := newRecordType(reflect.TypeFor[T](), elem)
	return func(wr *wire, b []byte, x *T) []byte {
		v := reflect.ValueOf(x).Elem()
		r := rec{b: b, table: rt.table, id: v.Field(0).Int(), w: wr}
		rt.write(&r, v)
		return append(r.b, '\n')
	}
}

// The writers of the wire records.
var (
	appendAthlete    = encodeRecord[Athlete]("athlete")
	appendCoach      = encodeRecord[Coach]("coach")
	appendWorkout    = encodeRecord[Workout]("workout")
	appendAssessment = encodeRecord[Assessment]("assessment")
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
			var rep string
			switch {
			case c == '&':
				rep = "&amp;"
			case c == '<':
				rep = "&lt;"
			case c == '>':
				rep = "&gt;"
			case c == '"':
				rep = "&quot;"
			case c == '\'':
				rep = "&apos;"
			case c == '\r':
				rep = "&#xD;"
			case c < 0x20 && c != '\t' && c != '\n':
				rep = "\uFFFD"
			default:
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
