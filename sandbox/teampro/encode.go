package teampro

import (
	"hash/fnv"
	"math"
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

func (o *obj) strp(k string, v *string) {
	if v == nil {
		o.null(k)
		return
	}
	o.str(k, *v)
}

func (o *obj) num(k string, v float64) {
	o.key(k)
	o.b = appendFloat(o.b, v)
}

func (o *obj) nump(k string, v *float64) {
	if v == nil {
		o.null(k)
		return
	}
	o.num(k, *v)
}

func (o *obj) int(k string, v int64) {
	o.key(k)
	o.b = strconv.AppendInt(o.b, v, 10)
}

func (o *obj) intp(k string, v *int) {
	if v == nil {
		o.null(k)
		return
	}
	o.int(k, int64(*v))
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
	o.b = append(o.b, '[')
	for i := range n {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b = each(o.b, i)
	}
	o.b = append(o.b, ']')
}

func appendTeam(b []byte, t *Team, details bool) []byte {
	o := newObj(b, !details)
	o.str("id", t.ID)
	o.str("name", t.Name)
	o.str("organisation", t.Organisation)
	o.zoned("created", t.Created)
	o.zoned("modified", t.Modified)
	if details {
		o.list("players", len(t.Players), func(b []byte, i int) []byte {
			p := &t.Players[i]
			o := newObj(b, false)
			o.str("player_id", p.PlayerID)
			o.int("player_number", int64(p.PlayerNumber))
			o.str("role", p.Role)
			o.str("first_name", p.FirstName)
			o.str("last_name", p.LastName)
			return o.end()
		})
	}
	return o.end()
}

func appendTeamSession(b []byte, s *TeamSession, details bool) []byte {
	o := newObj(b, !details)
	o.str("id", s.ID)
	o.str("team_id", s.TeamID)
	o.str("name", s.Name)
	o.str("type", s.Type)
	o.strp("note", s.Note)
	o.zoned("created", s.Created)
	o.zoned("modified", s.Modified)
	o.wall("record_start_time", s.RecordStartTime)
	o.wall("record_end_time", s.RecordEndTime)
	o.wall("start_time", s.StartTime)
	o.wall("end_time", s.EndTime)
	o.nump("latitude", s.Latitude)
	o.nump("longitude", s.Longitude)
	o.str("sport", s.Sport)
	if !details {
		return o.end()
	}
	o.strp("arena", s.Arena)
	o.list("participants", len(s.Participants), func(b []byte, i int) []byte {
		p := &s.Participants[i]
		o := newObj(b, false)
		o.str("player_id", p.PlayerID)
		o.int("player_number", int64(p.PlayerNumber))
		o.str("role", p.Role)
		o.str("player_session_id", p.PlayerSessionID)
		return o.end()
	})
	o.list("markers", len(s.Markers), func(b []byte, i int) []byte {
		m := &s.Markers[i]
		o := newObj(b, false)
		o.zoned("start_time", m.StartTime)
		o.zoned("end_time", m.EndTime)
		o.str("marker_type", m.MarkerType)
		o.str("name", m.Name)
		o.strp("note", m.Note)
		return o.end()
	})
	return o.end()
}

// playerSessionTimes writes the fields from feeling to duration_ms, which
// a player session's list item and its details send alike.
func (o *obj) playerSessionTimes(s *PlayerSession) {
	o.strp("feeling", s.Feeling)
	o.strp("note", s.Note)
	o.nump("latitude", s.Latitude)
	o.nump("longitude", s.Longitude)
	o.wall("start_time", s.StartTime)
	o.wall("stop_time", s.StopTime)
	o.int("duration_ms", s.DurationMs)
}

// appendPlayerSessionItem writes a player session as the player's list
// sends it (with timezone_offset, nulls written).
func appendPlayerSessionItem(b []byte, s *PlayerSession) []byte {
	o := newObj(b, true)
	o.str("id", s.ID)
	o.str("type", s.Type)
	o.zoned("created", s.Created)
	o.zoned("modified", s.Modified)
	o.str("sport", s.Sport)
	o.str("name", s.Name)
	o.playerSessionTimes(s)
	o.intp("timezone_offset", s.TimezoneOffset)
	return o.end()
}

// appendPlayerSessionDetails writes a player session's details (nil values
// left out) up to, not including, its samples; the caller closes it.
func appendPlayerSessionDetails(b []byte, s *PlayerSession) obj {
	o := newObj(b, false)
	o.str("id", s.ID)
	o.str("type", s.Type)
	o.zoned("created", s.Created)
	o.zoned("modified", s.Modified)
	o.str("name", s.Name)
	o.playerSessionTimes(s)
	o.nump("calories", s.Calories)
	o.nump("distance_meters", s.DistanceMeters)
	o.nump("training_load", s.TrainingLoad)
	o.nump("cardio_load", s.CardioLoad)
	o.nump("muscle_load", s.MuscleLoad)
	o.nump("recovery_time_ms", s.RecoveryTimeMs)
	o.intp("fat_percentage", s.FatPercentage)
	o.intp("heart_rate_max", s.HeartRateMax)
	o.intp("heart_rate_avg", s.HeartRateAvg)
	o.str("sport", s.Sport)
	o.intp("running_index", s.RunningIndex)
	o.nump("ascent", s.Ascent)
	o.nump("descent", s.Descent)
	o.intp("sprint_counter", s.SprintCounter)
	o.strp("product", s.Product)
	return o
}

func appendSummary(b []byte, s *Summary, style int) []byte {
	o := newObj(b, false)
	o.str("player_session_id", s.PlayerSessionID)
	o.zoned("created", s.Created)
	o.zoned("modified", s.Modified)
	o.wall("trimmed_start_time", s.TrimmedStartTime)
	o.int("duration_ms", s.DurationMs)
	o.nump("distance_meters", s.DistanceMeters)
	o.nump("kilo_calories", s.KiloCalories)
	o.intp("heart_rate_max", s.HeartRateMax)
	o.intp("heart_rate_avg", s.HeartRateAvg)
	o.intp("heart_rate_min", s.HeartRateMin)
	o.intp("heart_rate_max_percent", s.HeartRateMaxPercent)
	o.intp("heart_rate_avg_percent", s.HeartRateAvgPercent)
	o.intp("heart_rate_min_percent", s.HeartRateMinPercent)
	o.intp("sprint_counter", s.SprintCounter)
	o.nump("speed_avg_kmh", s.SpeedAvgKmh)
	o.nump("speed_max_kmh", s.SpeedMaxKmh)
	o.intp("cadence_avg", s.CadenceAvg)
	o.intp("cadence_max", s.CadenceMax)
	o.nump("training_load", s.TrainingLoad)
	o.nump("cardio_load", s.CardioLoad)
	o.nump("muscle_load", s.MuscleLoad)
	o.list("heart_rate_zones", len(s.HeartRateZones), func(b []byte, i int) []byte {
		z := &s.HeartRateZones[i]
		o := newObj(b, false)
		o.int("index", int64(z.Index))
		o.int("lower_limit", int64(z.LowerLimit))
		o.int("higher_limit", int64(z.HigherLimit))
		o.duration("in_zone", z.InZoneMs, style)
		return o.end()
	})
	o.list("speed_zones_kmh", len(s.SpeedZones), func(b []byte, i int) []byte {
		z := &s.SpeedZones[i]
		o := newObj(b, false)
		o.int("index", int64(z.Index))
		o.int("lower_limit", int64(z.LowerLimit))
		o.int("higher_limit", int64(z.HigherLimit))
		o.num("in_zone_meters", z.InZoneMeters)
		return o.end()
	})
	o.list("acceleration_zones_ms2", len(s.AccelerationZones), func(b []byte, i int) []byte {
		z := &s.AccelerationZones[i]
		o := newObj(b, false)
		o.int("limit", int64(z.Limit))
		o.num("counter", z.Counter)
		return o.end()
	})
	o.list("power_zones", len(s.PowerZones), func(b []byte, i int) []byte {
		z := &s.PowerZones[i]
		o := newObj(b, false)
		o.int("index", int64(z.Index))
		o.int("lower_limit", int64(z.LowerLimit))
		o.int("higher_limit", int64(z.HigherLimit))
		o.duration("in_zone", z.InZoneMs, style)
		o.num("in_zone_muscle_load", z.InZoneMuscleLoad)
		return o.end()
	})
	return o.end()
}

// appendFloat formats like encoding/json (jsonw.AppendFloat: strconv's
// shortest round-tripping digits, integral values as integers, non-finite
// values as null), with a fast path for the values the generator rounds.
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
