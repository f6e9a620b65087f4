package plyomat

import (
	"encoding/json"
	"maps"
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

func (o *obj) str(k, v string) {
	if o.key(k) {
		o.b = jsonw.AppendString(o.b, v)
	}
}

func (o *obj) strp(k string, v *string) {
	if o.key(k) {
		if v == nil {
			o.b = append(o.b, "null"...)
		} else {
			o.b = jsonw.AppendString(o.b, *v)
		}
	}
}

func (o *obj) num(k string, v float64) {
	if o.key(k) {
		o.b = jsonw.AppendFloat(o.b, v)
	}
}

func (o *obj) nump(k string, v *float64) {
	if o.key(k) {
		if v == nil {
			o.b = append(o.b, "null"...)
		} else {
			o.b = jsonw.AppendFloat(o.b, *v)
		}
	}
}

func (o *obj) int(k string, v int) {
	if o.key(k) {
		o.b = strconv.AppendInt(o.b, int64(v), 10)
	}
}

func (o *obj) intp(k string, v *int) {
	if o.key(k) {
		if v == nil {
			o.b = append(o.b, "null"...)
		} else {
			o.b = strconv.AppendInt(o.b, int64(*v), 10)
		}
	}
}

func (o *obj) bool(k string, v bool) {
	if o.key(k) {
		o.b = strconv.AppendBool(o.b, v)
	}
}

func (o *obj) time(k string, v time.Time) {
	if o.key(k) {
		o.b = appendTime(o.b, v)
	}
}

func (o *obj) timep(k string, v *time.Time) {
	if o.key(k) {
		if v == nil {
			o.b = append(o.b, "null"...)
		} else {
			o.b = appendTime(o.b, *v)
		}
	}
}

func (o *obj) any(k string, v any) {
	if o.key(k) {
		o.b = appendAny(o.b, v)
	}
}

func appendAthlete(b []byte, a *Athlete) []byte {
	o := newObj(b, a.Overrides)
	o.str("id", a.ID)
	o.str("first_name", a.FirstName)
	o.str("last_name", a.LastName)
	o.str("gender", a.Gender)
	o.num("body_weight_kg", a.BodyWeightKg)
	o.strp("external_id", a.ExternalID)
	o.strp("external_source", a.ExternalSource)
	o.time("created_at", a.CreatedAt)
	o.time("updated_at", a.UpdatedAt)
	return o.end()
}

func appendGroup(b []byte, g *Group) []byte {
	o := newObj(b, g.Overrides)
	o.str("id", g.ID)
	o.str("name", g.Name)
	o.strp("description", g.Description)
	o.time("created_at", g.CreatedAt)
	o.time("updated_at", g.UpdatedAt)
	return o.end()
}

func appendDevice(b []byte, d *Device) []byte {
	o := newObj(b, d.Overrides)
	o.str("id", d.ID)
	o.str("serial_number", d.SerialNumber)
	o.str("model", d.Model)
	o.str("firmware_version", d.FirmwareVersion)
	o.any("calibration", d.Calibration)
	o.time("created_at", d.CreatedAt)
	o.time("updated_at", d.UpdatedAt)
	return o.end()
}

func appendSession(b []byte, s *Session) []byte {
	o := newObj(b, s.Overrides)
	o.str("id", s.ID)
	o.str("athlete_id", s.AthleteID)
	o.strp("device_id", s.DeviceID)
	o.str("name", s.Name)
	o.time("started_at", s.StartedAt)
	o.timep("ended_at", s.EndedAt)
	o.strp("notes", s.Notes)
	o.time("created_at", s.CreatedAt)
	o.time("updated_at", s.UpdatedAt)
	return o.end()
}

func appendSet(b []byte, s *Set) []byte {
	o := newObj(b, s.Overrides)
	o.str("id", s.ID)
	o.str("session_id", s.SessionID)
	o.str("athlete_id", s.AthleteID)
	o.str("mode", s.Mode)
	o.nump("drop_height_cm", s.DropHeightCm)
	o.time("started_at", s.StartedAt)
	o.time("created_at", s.CreatedAt)
	o.time("updated_at", s.UpdatedAt)
	if o.key("reps") {
		o.b = append(o.b, '[')
		for i := range s.Reps {
			if i > 0 {
				o.b = append(o.b, ',')
			}
			o.b = appendRep(o.b, &s.Reps[i])
		}
		o.b = append(o.b, ']')
	}
	return o.end()
}

func appendRep(b []byte, r *Rep) []byte {
	o := newObj(b, r.Overrides)
	o.int("rep_index", r.RepIndex)
	o.int("flight_time_ms", r.FlightTimeMs)
	o.intp("contact_time_ms", r.ContactTimeMs)
	o.num("jump_height_cm", r.JumpHeightCm)
	o.nump("rsi", r.RSI)
	o.str("side", r.Side)
	o.bool("is_kept", r.IsKept)
	o.time("captured_at", r.CapturedAt)
	return o.end()
}

func appendAssessment(b []byte, a *Assessment) []byte {
	o := newObj(b, a.Overrides)
	o.str("id", a.ID)
	o.str("athlete_id", a.AthleteID)
	o.str("name", a.Name)
	o.num("score", a.Score)
	o.str("unit", a.Unit)
	o.time("assessed_at", a.AssessedAt)
	o.time("created_at", a.CreatedAt)
	o.time("updated_at", a.UpdatedAt)
	return o.end()
}

func appendOrgMember(b []byte, m *OrgMember) []byte {
	o := newObj(b, m.Overrides)
	o.str("id", m.ID)
	o.str("email", m.Email)
	o.str("first_name", m.FirstName)
	o.str("last_name", m.LastName)
	o.str("role", m.Role)
	o.bool("archived", m.Archived)
	o.timep("archived_at", m.ArchivedAt)
	o.time("created_at", m.CreatedAt)
	o.time("updated_at", m.UpdatedAt)
	return o.end()
}

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
