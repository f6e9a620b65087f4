package optimo

import (
	"maps"
	"math"
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
func (r *rec) extra(x Extra, known string) {
	if len(x) == 0 {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(x)) {
		if !validName(k) || knownField(known, k) {
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

// The known elements of each record type, space-separated.
const (
	athleteFields    = "athlete_id first_name last_name email birth_date gender height_cm weight_kg body_fat_percentage active created_at updated_at"
	coachFields      = "coach_id first_name last_name email is_admin created_at updated_at"
	workoutFields    = "workout_id athlete_id source sport started_at duration_seconds distance_km avg_hr max_hr calories rpe intensity_percentage notes created_at updated_at"
	assessmentFields = "assessment_id athlete_id name assessed_at notes created_at updated_at results"
	resultFields     = "metric value unit"
)

// knownField reports whether name is one of the space-separated fields.
func knownField(fields, name string) bool {
	for f := range strings.FieldsSeq(fields) {
		if f == name {
			return true
		}
	}
	return false
}

func (wr *wire) appendAthlete(b []byte, a *Athlete) []byte {
	r := rec{b: b, table: 'a', id: a.AthleteID, w: wr}
	r.open("athlete")
	r.ref("athlete_id", 'a', a.AthleteID)
	r.str("first_name", a.FirstName)
	r.str("last_name", a.LastName)
	r.str("email", a.Email)
	r.date("birth_date", a.BirthDate)
	r.str("gender", a.Gender)
	r.nump("height_cm", a.HeightCm, 1)
	r.nump("weight_kg", a.WeightKg, 1)
	r.intp("body_fat_percentage", a.BodyFatPercentage)
	r.bool("active", a.Active)
	r.extra(a.Extra, athleteFields)
	r.wall("created_at", a.CreatedAt)
	r.wall(wr.stamp, a.UpdatedAt)
	r.shut("athlete")
	return append(r.b, '\n')
}

func (wr *wire) appendCoach(b []byte, c *Coach) []byte {
	r := rec{b: b, table: 'c', id: c.CoachID, w: wr}
	r.open("coach")
	r.int("coach_id", c.CoachID)
	r.str("first_name", c.FirstName)
	r.str("last_name", c.LastName)
	r.str("email", c.Email)
	r.bool("is_admin", c.IsAdmin)
	r.extra(c.Extra, coachFields)
	r.wall("created_at", c.CreatedAt)
	r.wall(wr.stamp, c.UpdatedAt)
	r.shut("coach")
	return append(r.b, '\n')
}

func (wr *wire) appendWorkout(b []byte, w *Workout) []byte {
	r := rec{b: b, table: 'w', id: w.WorkoutID, w: wr}
	r.open("workout")
	r.ref("workout_id", 'w', w.WorkoutID)
	r.ref("athlete_id", 'a', w.AthleteID)
	r.str("source", w.Source)
	r.str("sport", w.Sport)
	r.wall("started_at", w.StartedAt)
	r.int("duration_seconds", w.DurationSeconds)
	r.nump("distance_km", w.DistanceKm, 2)
	r.intp("avg_hr", w.AvgHR)
	r.intp("max_hr", w.MaxHR)
	r.intp("calories", w.Calories)
	r.intp("rpe", w.RPE)
	r.intp("intensity_percentage", w.IntensityPercentage)
	r.strp("notes", w.Notes)
	r.extra(w.Extra, workoutFields)
	r.wall("created_at", w.CreatedAt)
	r.wall(wr.stamp, w.UpdatedAt)
	r.shut("workout")
	return append(r.b, '\n')
}

func (wr *wire) appendAssessment(b []byte, a *Assessment) []byte {
	r := rec{b: b, table: 's', id: a.AssessmentID, w: wr}
	r.open("assessment")
	r.ref("assessment_id", 's', a.AssessmentID)
	r.ref("athlete_id", 'a', a.AthleteID)
	r.str("name", a.Name)
	r.wall("assessed_at", a.AssessedAt)
	r.strp("notes", a.Notes)
	r.extra(a.Extra, assessmentFields)
	r.wall("created_at", a.CreatedAt)
	r.wall(wr.stamp, a.UpdatedAt)
	if len(a.Results) == 0 {
		r.b = append(r.b, "<results/>"...)
	} else {
		r.open("results")
		for i := range a.Results {
			res := &a.Results[i]
			r.open("result")
			r.str("metric", res.Metric)
			r.num("value", res.Value, -1)
			r.str("unit", res.Unit)
			r.extra(res.Extra, resultFields)
			r.shut("result")
		}
		r.shut("results")
	}
	r.shut("assessment")
	return append(r.b, '\n')
}

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
