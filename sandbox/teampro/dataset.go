package teampro

import (
	"maps"
	"slices"
	"time"

	"github.com/athlake/athlake/sandbox/internal/order"
	"github.com/athlake/athlake/sandbox/internal/recs"
)

// zoned is t as a UTC instant truncated to the millisecond.
func zoned(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// wall is t's wall-clock reading (whatever its location) in the UTC
// location, truncated to the millisecond.
func wall(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC).Truncate(time.Millisecond)
}

// normalize brings every time of d to the wire's precision, keeps explicit
// samples consistent with their session's Fields and Short rows (the wire
// cannot carry anything else), and sorts d in the API's order.
func (d *Dataset) normalize() {
	recs.Each(d.Teams, func(t *Team) { t.Created, t.Modified = zoned(t.Created), zoned(t.Modified) })
	recs.Each(d.TeamSessions, func(s *TeamSession) {
		s.Created, s.Modified = zoned(s.Created), zoned(s.Modified)
		s.RecordStartTime, s.RecordEndTime = wall(s.RecordStartTime), wall(s.RecordEndTime)
		s.StartTime, s.EndTime = wall(s.StartTime), wall(s.EndTime)
		recs.Each(s.Markers, func(m *Marker) { m.StartTime, m.EndTime = zoned(m.StartTime), zoned(m.EndTime) })
	})
	recs.Each(d.PlayerSessions, func(s *PlayerSession) {
		s.Created, s.Modified = zoned(s.Created), zoned(s.Modified)
		s.StartTime, s.StopTime = wall(s.StartTime), wall(s.StopTime)
		if sm := s.Summary; sm != nil {
			sm.Created, sm.Modified = zoned(sm.Created), zoned(sm.Modified)
			sm.TrimmedStartTime = wall(sm.TrimmedStartTime)
		}
		if s.Samples != nil {
			maskSamples(s)
		}
	})
	d.sort()
}

// maskSamples nulls the values of explicit samples that the wire cannot
// carry: fields the session does not send, and the trailing values of
// short rows.
func maskSamples(s *PlayerSession) {
	var sent [nChan]bool
	for _, f := range s.Fields {
		if ch := channelOf(f); ch >= 0 {
			sent[ch] = true
		}
	}
	clear := func(x *Sample, ch int) {
		if ch == chPower {
			x.Power = nil
		} else {
			*channels[ch].field(x) = nil
		}
	}
	for i := range s.Samples {
		for ch := range nChan {
			if !sent[ch] {
				clear(&s.Samples[i], ch)
			}
		}
	}
	for row, k := range s.Short {
		if k = min(k, len(s.Fields)-1); row < 0 || row >= len(s.Samples) || k <= 0 {
			continue
		}
		for _, f := range s.Fields[len(s.Fields)-k:] {
			if ch := channelOf(f); ch >= 0 {
				clear(&s.Samples[row], ch)
			}
		}
	}
}

func (d *Dataset) sort() {
	slices.SortStableFunc(d.Teams, func(a, b Team) int { return order.TimeThenID(a.Created, a.ID, b.Created, b.ID) })
	slices.SortStableFunc(d.TeamSessions, func(a, b TeamSession) int { return order.TimeThenID(a.StartTime, a.ID, b.StartTime, b.ID) })
	slices.SortStableFunc(d.PlayerSessions, func(a, b PlayerSession) int { return order.TimeThenID(a.StartTime, a.ID, b.StartTime, b.ID) })
}

// clone returns a deep copy of d: no slice, map or pointer is shared. With
// samples false, Samples and RR are left nil.
func (d *Dataset) clone(samples bool) *Dataset {
	return &Dataset{
		Teams: recs.Clone(d.Teams, func(t *Team) { t.Players = slices.Clone(t.Players) }),
		TeamSessions: recs.Clone(d.TeamSessions, func(s *TeamSession) {
			s.Note = recs.Ptr(s.Note)
			s.Latitude, s.Longitude = recs.Ptr(s.Latitude), recs.Ptr(s.Longitude)
			s.Arena = recs.Ptr(s.Arena)
			s.Participants = slices.Clone(s.Participants)
			s.Markers = recs.Clone(s.Markers, func(m *Marker) { m.Note = recs.Ptr(m.Note) })
		}),
		PlayerSessions: recs.Clone(d.PlayerSessions, func(s *PlayerSession) {
			s.TeamSessionID = recs.Ptr(s.TeamSessionID)
			s.Feeling, s.Note, s.Product = recs.Ptr(s.Feeling), recs.Ptr(s.Note), recs.Ptr(s.Product)
			s.Latitude, s.Longitude = recs.Ptr(s.Latitude), recs.Ptr(s.Longitude)
			s.TimezoneOffset = recs.Ptr(s.TimezoneOffset)
			for _, p := range []**float64{&s.Calories, &s.DistanceMeters, &s.TrainingLoad, &s.CardioLoad, &s.MuscleLoad, &s.RecoveryTimeMs, &s.Ascent, &s.Descent} {
				*p = recs.Ptr(*p)
			}
			for _, p := range []**int{&s.FatPercentage, &s.HeartRateMax, &s.HeartRateAvg, &s.RunningIndex, &s.SprintCounter} {
				*p = recs.Ptr(*p)
			}
			s.Fields = slices.Clone(s.Fields)
			s.Extra, s.Short = maps.Clone(s.Extra), maps.Clone(s.Short)
			s.Summary = s.Summary.clone()
			if samples && s.Samples != nil {
				s.Samples = cloneSamples(s.Samples)
			} else {
				s.Samples = nil
			}
			if samples && s.RR != nil {
				s.RR = cloneRR(s.RR)
			} else {
				s.RR = nil
			}
		}),
	}
}

// cloneSamples copies samples; the values share one slab.
func cloneSamples(in []Sample) []Sample {
	out := slices.Clone(in)
	floats := func(x *Sample) [8]**float64 {
		return [8]**float64{&x.Distance, &x.HR, &x.Speed, &x.Cadence, &x.Lat, &x.Lon, &x.Altitude, &x.ForwardAcceleration}
	}
	n := 0
	for i := range out {
		for _, p := range floats(&out[i]) {
			if *p != nil {
				n++
			}
		}
	}
	slab := make([]float64, 0, n)
	powers := make([]int64, 0, len(out))
	for i := range out {
		for _, p := range floats(&out[i]) {
			if *p != nil {
				slab = append(slab, **p)
				*p = &slab[len(slab)-1]
			}
		}
		if x := &out[i]; x.Power != nil {
			powers = append(powers, *x.Power)
			x.Power = &powers[len(powers)-1]
		}
	}
	return out
}

func cloneRR(rr []*int) []*int {
	out := make([]*int, len(rr))
	vals := make([]int, len(rr))
	for i, p := range rr {
		if p != nil {
			vals[i] = *p
			out[i] = &vals[i]
		}
	}
	return out
}

func (s *Summary) clone() *Summary {
	if s == nil {
		return nil
	}
	c := *s
	c.DistanceMeters, c.KiloCalories = recs.Ptr(c.DistanceMeters), recs.Ptr(c.KiloCalories)
	for _, p := range []**int{&c.HeartRateMax, &c.HeartRateAvg, &c.HeartRateMin, &c.HeartRateMaxPercent,
		&c.HeartRateAvgPercent, &c.HeartRateMinPercent, &c.SprintCounter, &c.CadenceAvg, &c.CadenceMax} {
		*p = recs.Ptr(*p)
	}
	for _, p := range []**float64{&c.SpeedAvgKmh, &c.SpeedMaxKmh, &c.TrainingLoad, &c.CardioLoad, &c.MuscleLoad} {
		*p = recs.Ptr(*p)
	}
	c.HeartRateZones = slices.Clone(c.HeartRateZones)
	c.SpeedZones = slices.Clone(c.SpeedZones)
	c.AccelerationZones = slices.Clone(c.AccelerationZones)
	c.PowerZones = slices.Clone(c.PowerZones)
	return &c
}

// index holds lookups by id and the lists' groupings, each in the API's
// order (the dataset is kept sorted). It is rebuilt after every change.
type index struct {
	teamByID               map[string]int
	teamSessionsByTeam     map[string][]int
	teamSessionByID        map[string]int
	playerSessionsByPlayer map[string][]int
	playerSessionByID      map[string]int
	players                map[string]bool // ids of players on a roster or with sessions
	ids                    map[string]bool // every id in use
}

func buildIndex(d *Dataset) *index {
	x := &index{
		teamByID:               make(map[string]int, len(d.Teams)),
		teamSessionsByTeam:     map[string][]int{},
		teamSessionByID:        make(map[string]int, len(d.TeamSessions)),
		playerSessionsByPlayer: map[string][]int{},
		playerSessionByID:      make(map[string]int, len(d.PlayerSessions)),
		players:                map[string]bool{},
		ids:                    map[string]bool{},
	}
	for i := range d.Teams {
		t := &d.Teams[i]
		x.teamByID[t.ID] = i
		x.ids[t.ID] = true
		for _, p := range t.Players {
			x.players[p.PlayerID] = true
			x.ids[p.PlayerID] = true
		}
	}
	for i := range d.TeamSessions {
		s := &d.TeamSessions[i]
		x.teamSessionByID[s.ID] = i
		x.teamSessionsByTeam[s.TeamID] = append(x.teamSessionsByTeam[s.TeamID], i)
		x.ids[s.ID] = true
	}
	for i := range d.PlayerSessions {
		s := &d.PlayerSessions[i]
		x.playerSessionByID[s.ID] = i
		x.playerSessionsByPlayer[s.PlayerID] = append(x.playerSessionsByPlayer[s.PlayerID], i)
		x.players[s.PlayerID] = true
		x.ids[s.ID] = true
		x.ids[s.PlayerID] = true
	}
	return x
}
