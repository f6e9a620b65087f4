package plyomat

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/athlake/athlake/sandbox/internal/jsonw"
)

// The wire encoding: records are written field by field in a fixed order
// (so equal data gives equal bytes), times as RFC 3339 UTC milliseconds,
// nil pointers as null, and Overrides applied on top.

const wireTime = "2006-01-02T15:04:05.000Z07:00"

// obj writes one JSON object, applying a record's Overrides.
type obj struct {
	b    []byte
	ov   map[string]any
	used []string // override keys that replaced a standard field
	n    int      // fields written
}

func newObj(b []byte, ov map[string]any) obj {
	return obj{b: append(b, '{'), ov: ov}
}

func (o *obj) sep() {
	if o.n > 0 {
		o.b = append(o.b, ',')
	}
	o.n++
}

// key starts the standard field k. It reports whether the caller should
// append the value: false when an override wrote (or omitted) the field.
func (o *obj) key(k string) bool {
	if len(o.ov) > 0 {
		if v, ok := o.ov[k]; ok {
			o.used = append(o.used, k)
			if _, omit := v.(Omit); !omit {
				o.sep()
				o.b = jsonw.AppendString(o.b, k)
				o.b = append(o.b, ':')
				o.b = appendAny(o.b, v)
			}
			return false
		}
	}
	o.sep()
	o.b = jsonw.AppendString(o.b, k)
	o.b = append(o.b, ':')
	return true
}

// end adds the overrides that are not standard fields (in key order) and
// closes the object.
func (o *obj) end() []byte {
	if len(o.ov) > len(o.used) {
		for _, k := range slices.Sorted(maps.Keys(o.ov)) {
			if slices.Contains(o.used, k) {
				continue
			}
			if _, omit := o.ov[k].(Omit); omit {
				continue
			}
			o.sep()
			o.b = jsonw.AppendString(o.b, k)
			o.b = append(o.b, ':')
			o.b = appendAny(o.b, o.ov[k])
		}
	}
	return append(o.b, '}')
}

// A record is written field by field in its struct's order, each under
// its JSON tag (the wire's name; "-" is not sent), with its Overrides
// applied. encodeRecord builds the writer of a record type once.

// wireField is one field of a record type and the writer of its value.
type wireField struct {
	index int
	name  string
	write func(b []byte, v reflect.Value) []byte
}

// encodeRecord returns the writer of records of type T.
func encodeRecord[T any]() func(b []byte, r *T) []byte {
	enc := recordWriter(reflect.TypeFor[T]())
	return func(b []byte, r *T) []byte { return enc(b, reflect.ValueOf(r).Elem()) }
}

// recordWriter returns the writer of an addressable struct value of type t.
func recordWriter(t reflect.Type) func(b []byte, v reflect.Value) []byte {
	var fields []wireField
	overrides := -1
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == "Overrides" {
			overrides = i
			continue
		}
		if name := f.Tag.Get("json"); name != "" && name != "-" {
			fields = append(fields, wireField{i, name, valueWriter(f.Type)})
		}
	}
	return func(b []byte, v reflect.Value) []byte {
		var ov map[string]any
		if overrides >= 0 {
			ov = *v.Field(overrides).Addr().Interface().(*map[string]any)
		}
		o := newObj(b, ov)
		for _, f := range fields {
			if o.key(f.name) {
				o.b = f.write(o.b, v.Field(f.index))
			}
		}
		return o.end()
	}
}

// valueWriter returns the writer of an addressable value of type t: nil
// pointers as null, times as appendTime, a slice of records as an array,
// any other type (Calibration) with encoding/json.
func valueWriter(t reflect.Type) func(b []byte, v reflect.Value) []byte {
	if t == reflect.TypeFor[time.Time]() {
		return func(b []byte, v reflect.Value) []byte { return appendTime(b, *v.Addr().Interface().(*time.Time)) }
	}
	switch t.Kind() {
	case reflect.Pointer:
		elem := valueWriter(t.Elem())
		return func(b []byte, v reflect.Value) []byte {
			if v.IsNil() {
				return append(b, "null"...)
			}
			return elem(b, v.Elem())
		}
	case reflect.String:
		return func(b []byte, v reflect.Value) []byte { return jsonw.AppendString(b, v.String()) }
	case reflect.Float64:
		return func(b []byte, v reflect.Value) []byte { return jsonw.AppendFloat(b, v.Float()) }
	case reflect.Int:
		return func(b []byte, v reflect.Value) []byte { return strconv.AppendInt(b, v.Int(), 10) }
	case reflect.Bool:
		return func(b []byte, v reflect.Value) []byte { return strconv.AppendBool(b, v.Bool()) }
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			elem := recordWriter(t.Elem())
			return func(b []byte, v reflect.Value) []byte {
				return jsonw.AppendArray(b, v.Len(), func(b []byte, i int) []byte { return elem(b, v.Index(i)) })
			}
		}
	}
	return func(b []byte, v reflect.Value) []byte { return appendAny(b, v.Interface()) }
}

// The writers of the wire records.
var (
	appendAthlete    = encodeRecord[Athlete]()
	appendGroup      = encodeRecord[Group]()
	appendDevice     = encodeRecord[Device]()
	appendSession    = encodeRecord[Session]()
	appendSet        = encodeRecord[Set]()
	appendRep        = encodeRecord[Rep]()
	appendAssessment = encodeRecord[Assessment]()
	appendOrgMember  = encodeRecord[OrgMember]()
)

// MarshalJSON encodes the athlete as the API serves it.
func (a Athlete) MarshalJSON() ([]byte, error) { return appendAthlete(nil, &a), nil }

// MarshalJSON encodes the group as the API serves it.
func (g Group) MarshalJSON() ([]byte, error) { return appendGroup(nil, &g), nil }

// MarshalJSON encodes the device as the API serves it.
func (d Device) MarshalJSON() ([]byte, error) { return appendDevice(nil, &d), nil }

// MarshalJSON encodes the session as the API serves it.
func (s Session) MarshalJSON() ([]byte, error) { return appendSession(nil, &s), nil }

// MarshalJSON encodes the set, with its reps, as the API serves it.
func (s Set) MarshalJSON() ([]byte, error) { return appendSet(nil, &s), nil }

// MarshalJSON encodes the rep as the API serves it.
func (r Rep) MarshalJSON() ([]byte, error) { return appendRep(nil, &r), nil }

// MarshalJSON encodes the assessment as the API serves it.
func (a Assessment) MarshalJSON() ([]byte, error) { return appendAssessment(nil, &a), nil }

// MarshalJSON encodes the org member as the API serves it.
func (m OrgMember) MarshalJSON() ([]byte, error) { return appendOrgMember(nil, &m), nil }

// appendAny encodes v with encoding/json; a value it cannot encode is null.
func appendAny(b []byte, v any) []byte {
	j, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, j...)
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, wireTime)
	return append(b, '"')
}
