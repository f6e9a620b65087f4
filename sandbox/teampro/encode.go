package teampro

import (
	"hash/fnv"
	"math"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/athlake/athlake/sandbox/internal/jsonw"
)

// The wire encoding: records are written field by field in the vendor's
// order (equal data gives equal bytes). List endpoints send a nil value as
// null; detail endpoints leave the field out (both happen at the vendor).

// Duration spellings. The vendor's backend spells ISO-8601 durations in
// more than one way; each session uses one, chosen from its id.
const (
	durJava    = iota // PT1H5.1S, PT1M0.1S, PT4S: zero parts left out
	durFull           // PT0H0M0.1S, PT1H0M5.1S: hours, minutes and seconds always
	durSeconds        // PT3725.1S: seconds only
)

// durationStyle is the spelling of a session's durations: mostly with
// minutes and hours, a fifth of the sessions in seconds only.
func durationStyle(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	switch x := h.Sum32() % 10; {
	case x < 5:
		return durJava
	case x < 8:
		return durFull
	}
	return durSeconds
}

// appendDuration writes ms as an ISO-8601 duration, without quotes:
// "PT0S", "PT0.1S", "PT59.9S", "PT1M0.1S", "PT1H2M3.4S" (durJava),
// "PT0H1M0.1S" (durFull), "PT61.1S" (durSeconds).
func appendDuration(b []byte, ms int64, style int) []byte {
	if ms < 0 {
		b = append(b, '-')
		ms = -ms
	}
	b = append(b, 'P', 'T')
	frac := ms % 1000
	secs := ms / 1000
	if style == durSeconds {
		return appendSeconds(b, secs, frac)
	}
	h, m, s := secs/3600, secs/60%60, secs%60
	if h > 0 || style == durFull {
		b = strconv.AppendInt(b, h, 10)
		b = append(b, 'H')
	}
	if m > 0 || style == durFull {
		b = strconv.AppendInt(b, m, 10)
		b = append(b, 'M')
	}
	if s == 0 && frac == 0 && (h > 0 || m > 0) && style == durJava {
		return b
	}
	return appendSeconds(b, s, frac)
}

func appendSeconds(b []byte, s, frac int64) []byte {
	b = strconv.AppendInt(b, s, 10)
	if frac > 0 {
		d := [4]byte{'.', byte('0' + frac/100), byte('0' + frac/10%10), byte('0' + frac%10)}
		n := 4
		for d[n-1] == '0' {
			n--
		}
		b = append(b, d[:n]...)
	}
	return append(b, 'S')
}

// obj writes one JSON object.
type obj struct {
	b     []byte
	n     int  // fields written
	nulls bool // write nil values as null (else leave them out)
	style int  // the spelling of durations
}

func newObj(b []byte, nulls bool) obj { return obj{b: append(b, '{'), nulls: nulls} }

func (o *obj) key(k string) {
	if o.n > 0 {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = append(o.b, '"')
	o.b = append(o.b, k...) // keys are plain ASCII
	o.b = append(o.b, '"', ':')
}

// null writes k: null when nil values are written.
func (o *obj) null(k string) {
	if o.nulls {
		o.key(k)
		o.b = append(o.b, "null"...)
	}
}

func (o *obj) end() []byte { return append(o.b, '}') }

func (o *obj) str(k, v string) {
	o.key(k)
	o.b = jsonw.AppendString(o.b, v)
}

func (o *obj) num(k string, v float64) {
	o.key(k)
	o.b = appendFloat(o.b, v)
}

func (o *obj) int(k string, v int64) {
	o.key(k)
	o.b = strconv.AppendInt(o.b, v, 10)
}

func (o *obj) wall(k string, t time.Time) {
	o.key(k)
	o.b = append(o.b, '"')
	o.b = t.AppendFormat(o.b, wallLayout)
	o.b = append(o.b, '"')
}

func (o *obj) zoned(k string, t time.Time) {
	o.key(k)
	o.b = append(o.b, '"')
	o.b = t.UTC().AppendFormat(o.b, zonedLayout)
	o.b = append(o.b, '"')
}

func (o *obj) duration(k string, ms int64, style int) {
	o.key(k)
	o.b = append(o.b, '"')
	o.b = appendDuration(o.b, ms, style)
	o.b = append(o.b, '"')
}

// list writes k: [...] with n elements written by each.
func (o *obj) list(k string, n int, each func(b []byte, i int) []byte) {
	o.key(k)
	o.b = jsonw.AppendArray(o.b, n, each)
}

// A record is written in a view: some of its fields (all of them when
// the view names none), in the view's order, each under its JSON tag.
// Times are wall-clock readings unless tagged `wire:"zoned"`; an int64
// tagged `wire:"duration"` (milliseconds) is an ISO-8601 duration in the
// session's spelling; a slice of records is an array of objects with all
// their fields, nil values left out.

// wireField is one field of a view and the writer of its value.
type wireField struct {
	index int
	write func(o *obj, v reflect.Value)
}

// view is how records of one type are written.
type view []wireField

// newView returns the view of records of type t with the fields named
// (all, in struct order, when none are).
func newView(t reflect.Type, names ...string) view {
	byName := map[string]int{}
	var all []string
	for i := range t.NumField() {
		name := t.Field(i).Tag.Get("json")
		byName[name] = i
		all = append(all, name)
	}
	if len(names) == 0 {
		names = all
	}
	v := make(view, len(names))
	for k, name := range names {
		i, ok := byName[name]
		if !ok {
			panic("teampro: no field " + name + " in " + t.String())
		}
		v[k] = wireField{i, fieldWriter(t.Field(i), name)}
	}
	return v
}

// fieldWriter returns the writer of the field f under the key k: a nil
// pointer is null (or left out), any other value its element's writer's.
func fieldWriter(f reflect.StructField, k string) func(o *obj, v reflect.Value) {
	t, format := f.Type, f.Tag.Get("wire")
	if t.Kind() == reflect.Pointer {
		elem := valueWriter(t.Elem(), k, format)
		return func(o *obj, v reflect.Value) {
			if v.IsNil() {
				o.null(k)
				return
			}
			elem(o, v.Elem())
		}
	}
	return valueWriter(t, k, format)
}

// valueWriter returns the writer of a value of type t under the key k.
func valueWriter(t reflect.Type, k, format string) func(o *obj, v reflect.Value) {
	switch t {
	case reflect.TypeFor[string]():
		return func(o *obj, v reflect.Value) { o.str(k, v.String()) }
	case reflect.TypeFor[int](), reflect.TypeFor[int64]():
		if format == "duration" {
			return func(o *obj, v reflect.Value) { o.duration(k, v.Int(), o.style) }
		}
		return func(o *obj, v reflect.Value) { o.int(k, v.Int()) }
	case reflect.TypeFor[float64]():
		return func(o *obj, v reflect.Value) { o.num(k, v.Float()) }
	case reflect.TypeFor[time.Time]():
		if format == "zoned" {
			return func(o *obj, v reflect.Value) { o.zoned(k, *v.Addr().Interface().(*time.Time)) }
		}
		return func(o *obj, v reflect.Value) { o.wall(k, *v.Addr().Interface().(*time.Time)) }
	}
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
		elem := newView(t.Elem())
		return func(o *obj, v reflect.Value) {
			o.list(k, v.Len(), func(b []byte, i int) []byte {
				e := obj{b: append(b, '{'), style: o.style}
				elem.write(&e, v.Index(i))
				return e.end()
			})
		}
	}
	panic("teampro: no wire writer for " + t.String())
}

// write writes the fields of the record v into o.
func (vw view) write(o *obj, v reflect.Value) {
	for _, f := range vw {
		f.write(o, v.Field(f.index))
	}
}

// The fields a team session's list item sends, and a player session's
// fields from feeling to duration_ms (its list item and details send them
// alike).
var (
	teamSessionFields = []string{"id", "team_id", "name", "type", "note", "created", "modified",
		"record_start_time", "record_end_time", "start_time", "end_time", "latitude", "longitude", "sport"}
	playerSessionTimes = []string{"feeling", "note", "latitude", "longitude", "start_time", "stop_time", "duration_ms"}
)

// The wire's views of the records.
var (
	teamItem    = newView(reflect.TypeFor[Team](), "id", "name", "organisation", "created", "modified")
	teamDetails = newView(reflect.TypeFor[Team]())

	teamSessionItem    = newView(reflect.TypeFor[TeamSession](), teamSessionFields...)
	teamSessionDetails = newView(reflect.TypeFor[TeamSession](), slices.Concat(teamSessionFields, []string{"arena", "participants", "markers"})...)

	// The list item (with timezone_offset) and the details (up to the
	// samples) of a player session.
	playerSessionItem = newView(reflect.TypeFor[PlayerSession](),
		slices.Concat([]string{"id", "type", "created", "modified", "sport", "name"}, playerSessionTimes, []string{"timezone_offset"})...)
	playerSessionDetails = newView(reflect.TypeFor[PlayerSession](), slices.Concat([]string{"id", "type", "created", "modified", "name"}, playerSessionTimes,
		[]string{"calories", "distance_meters", "training_load", "cardio_load", "muscle_load", "recovery_time_ms",
			"fat_percentage", "heart_rate_max", "heart_rate_avg", "sport", "running_index", "ascent", "descent",
			"sprint_counter", "product"})...)

	summaryView = newView(reflect.TypeFor[Summary]())
)

// appendView writes the record x in the view vw; list items write nil
// values as null, details leave them out.
func appendView[T any](b []byte, vw view, x *T, nulls bool) []byte {
	o := newObj(b, nulls)
	vw.write(&o, reflect.ValueOf(x).Elem())
	return o.end()
}

func appendTeam(b []byte, t *Team, details bool) []byte {
	if details {
		return appendView(b, teamDetails, t, false)
	}
	return appendView(b, teamItem, t, true)
}

func appendTeamSession(b []byte, s *TeamSession, details bool) []byte {
	if details {
		return appendView(b, teamSessionDetails, s, false)
	}
	return appendView(b, teamSessionItem, s, true)
}

// appendPlayerSessionItem writes a player session as the player's list
// sends it (with timezone_offset, nulls written).
func appendPlayerSessionItem(b []byte, s *PlayerSession) []byte {
	return appendView(b, playerSessionItem, s, true)
}

// appendPlayerSessionDetails writes a player session's details (nil values
// left out) up to, not including, its samples; the caller closes it.
func appendPlayerSessionDetails(b []byte, s *PlayerSession) obj {
	o := newObj(b, false)
	playerSessionDetails.write(&o, reflect.ValueOf(s).Elem())
	return o
}

// appendSummary writes a summary, its durations in the spelling style.
func appendSummary(b []byte, s *Summary, style int) []byte {
	o := newObj(b, false)
	o.style = style
	summaryView.write(&o, reflect.ValueOf(s).Elem())
	return o.end()
}

// appendFloat formats like jsonw.AppendFloat (strconv's shortest
// round-tripping digits, integral values as integers, non-finite values as
// null), with a fast path for the values the generator rounds; unlike
// encoding/json, the fast path writes values below 1e-6 in plain decimals
// (1e-7 as 0.0000001) and -0 as 0 — valid JSON of the same number.
func appendFloat(b []byte, f float64) []byte {
	// Fast path: a value with at most 7 decimals that is the float64
	// nearest to that decimal (every value the generator rounds) prints as
	// that decimal, which parses back to exactly f.
	if a := math.Abs(f); a < 1e8 {
		if n := int64(a*1e7 + 0.5); float64(n)/1e7 == a {
			if f < 0 {
				b = append(b, '-')
			}
			b = strconv.AppendInt(b, n/1e7, 10)
			if frac := n % 1e7; frac != 0 {
				var d [8]byte
				d[0] = '.'
				for i := 7; i >= 1; i-- {
					d[i] = byte('0' + frac%10)
					frac /= 10
				}
				k := 8
				for d[k-1] == '0' {
					k--
				}
				b = append(b, d[:k]...)
			}
			return b
		}
	}
	return jsonw.AppendFloat(b, f)
}
