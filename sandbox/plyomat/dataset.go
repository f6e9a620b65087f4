package plyomat

import (
	"slices"
	"time"

	"github.com/athlake/athlake/sandbox/internal/order"
	"github.com/athlake/athlake/sandbox/internal/recs"
)

// Clone returns a deep copy of the dataset: no slice, map or pointer is
// shared with d.
func (d *Dataset) Clone() *Dataset {
	var al allocator
	reps := 0
	for i := range d.Sets {
		reps += len(d.Sets[i].Reps)
	}
	repSlab := make([]Rep, 0, reps)
	return &Dataset{
		Athletes: recs.Clone(d.Athletes, func(a *Athlete) {
			a.ExternalID = al.strs.clone(a.ExternalID)
			a.ExternalSource = al.strs.clone(a.ExternalSource)
			a.Overrides = cloneMap(a.Overrides)
		}),
		Groups: recs.Clone(d.Groups, func(g *Group) {
			g.Description = al.strs.clone(g.Description)
			g.Overrides = cloneMap(g.Overrides)
		}),
		Memberships: slices.Clone(d.Memberships),
		Devices: recs.Clone(d.Devices, func(dv *Device) {
			dv.Calibration = cloneMap(dv.Calibration)
			dv.Overrides = cloneMap(dv.Overrides)
		}),
		Sessions: recs.Clone(d.Sessions, func(s *Session) {
			s.DeviceID = al.strs.clone(s.DeviceID)
			s.EndedAt = al.times.clone(s.EndedAt)
			s.Notes = al.strs.clone(s.Notes)
			s.Overrides = cloneMap(s.Overrides)
		}),
		Sets: recs.Clone(d.Sets, func(s *Set) {
			s.DropHeightCm = al.floats.clone(s.DropHeightCm)
			s.Overrides = cloneMap(s.Overrides)
			if s.Reps == nil {
				return
			}
			n := len(repSlab)
			repSlab = append(repSlab, s.Reps...)
			s.Reps = repSlab[n:len(repSlab):len(repSlab)]
			for j := range s.Reps {
				r := &s.Reps[j]
				r.ContactTimeMs = al.ints.clone(r.ContactTimeMs)
				r.RSI = al.floats.clone(r.RSI)
				r.Overrides = cloneMap(r.Overrides)
			}
		}),
		Assessments: recs.Clone(d.Assessments, func(a *Assessment) { a.Overrides = cloneMap(a.Overrides) }),
		OrgMembers: recs.Clone(d.OrgMembers, func(m *OrgMember) {
			m.ArchivedAt = al.times.clone(m.ArchivedAt)
			m.Overrides = cloneMap(m.Overrides)
		}),
	}
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return cloneMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}

// allocator hands out pointers from slabs, so that a million reps do not
// mean two million tiny allocations.
type allocator struct {
	ints   slab[int]
	floats slab[float64]
	strs   slab[string]
	times  slab[time.Time]
}

// slab is the unused rest of a block of values.
type slab[T any] []T

const slabSize = 1024

// new returns a pointer to a copy of v.
func (s *slab[T]) new(v T) *T {
	if len(*s) == 0 {
		*s = make([]T, slabSize)
	}
	p := &(*s)[0]
	*s = (*s)[1:]
	*p = v
	return p
}

// clone returns a pointer to a copy of *p (nil for nil).
func (s *slab[T]) clone(p *T) *T {
	if p == nil {
		return nil
	}
	return s.new(*p)
}

// ms is t in UTC truncated to the millisecond: the wire's precision.
func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func msp(t *time.Time) {
	if t != nil {
		*t = ms(*t)
	}
}

// normalize brings every time of d to UTC milliseconds, so that the truth
// equals what the wire carries.
func (d *Dataset) normalize() {
	recs.Each(d.Athletes, func(a *Athlete) { a.CreatedAt, a.UpdatedAt = ms(a.CreatedAt), ms(a.UpdatedAt) })
	recs.Each(d.Groups, func(g *Group) { g.CreatedAt, g.UpdatedAt = ms(g.CreatedAt), ms(g.UpdatedAt) })
	recs.Each(d.Devices, func(dv *Device) { dv.CreatedAt, dv.UpdatedAt = ms(dv.CreatedAt), ms(dv.UpdatedAt) })
	recs.Each(d.Sessions, func(s *Session) {
		s.StartedAt, s.CreatedAt, s.UpdatedAt = ms(s.StartedAt), ms(s.CreatedAt), ms(s.UpdatedAt)
		msp(s.EndedAt)
	})
	recs.Each(d.Sets, func(s *Set) {
		s.StartedAt, s.CreatedAt, s.UpdatedAt = ms(s.StartedAt), ms(s.CreatedAt), ms(s.UpdatedAt)
		recs.Each(s.Reps, func(r *Rep) { r.CapturedAt = ms(r.CapturedAt) })
	})
	recs.Each(d.Assessments, func(a *Assessment) {
		a.AssessedAt, a.CreatedAt, a.UpdatedAt = ms(a.AssessedAt), ms(a.CreatedAt), ms(a.UpdatedAt)
	})
	recs.Each(d.OrgMembers, func(m *OrgMember) {
		m.CreatedAt, m.UpdatedAt = ms(m.CreatedAt), ms(m.UpdatedAt)
		msp(m.ArchivedAt)
	})
}

// sort puts every record slice in the API's order (ids are unique, so the
// order is total).
func (d *Dataset) sort() {
	slices.SortFunc(d.Athletes, func(a, b Athlete) int { return order.TimeThenID(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })
	slices.SortFunc(d.Groups, func(a, b Group) int { return order.TimeThenID(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })
	slices.SortFunc(d.Devices, func(a, b Device) int { return order.TimeThenID(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })
	slices.SortFunc(d.Sessions, func(a, b Session) int { return order.TimeThenID(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })
	slices.SortFunc(d.Sets, func(a, b Set) int { return order.TimeThenID(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })
	slices.SortFunc(d.Assessments, func(a, b Assessment) int { return order.TimeThenID(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })
	slices.SortFunc(d.OrgMembers, func(a, b OrgMember) int { return order.TimeThenID(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })
}

// index holds, for each resource, the positions of its records in the API's
// order, lookups by id, and the filters' groupings (each in the API's
// order). It is rebuilt after every change of the dataset.
type index struct {
	athletes, groups, devices, sessions, sets, assessments, members []int

	athleteByID, groupByID, deviceByID, sessionByID, setByID map[string]int

	athletesByGroup   map[string][]int
	sessionsByAthlete map[string][]int
	setsByAthlete     map[string][]int
	setsBySession     map[string][]int
}

// inOrder returns the positions of recs in the API's order; key gives a
// record's created_at and id.
func inOrder[T any](recs []T, key func(*T) (time.Time, string)) []int {
	pos := make([]int, len(recs))
	for i := range pos {
		pos[i] = i
	}
	slices.SortStableFunc(pos, func(i, j int) int {
		at, aid := key(&recs[i])
		bt, bid := key(&recs[j])
		return order.TimeThenID(at, aid, bt, bid)
	})
	return pos
}

func buildIndex(d *Dataset) *index {
	x := &index{
		athletes:          inOrder(d.Athletes, func(r *Athlete) (time.Time, string) { return r.CreatedAt, r.ID }),
		groups:            inOrder(d.Groups, func(r *Group) (time.Time, string) { return r.CreatedAt, r.ID }),
		devices:           inOrder(d.Devices, func(r *Device) (time.Time, string) { return r.CreatedAt, r.ID }),
		sessions:          inOrder(d.Sessions, func(r *Session) (time.Time, string) { return r.CreatedAt, r.ID }),
		sets:              inOrder(d.Sets, func(r *Set) (time.Time, string) { return r.CreatedAt, r.ID }),
		assessments:       inOrder(d.Assessments, func(r *Assessment) (time.Time, string) { return r.CreatedAt, r.ID }),
		members:           inOrder(d.OrgMembers, func(r *OrgMember) (time.Time, string) { return r.CreatedAt, r.ID }),
		athleteByID:       make(map[string]int, len(d.Athletes)),
		groupByID:         make(map[string]int, len(d.Groups)),
		deviceByID:        make(map[string]int, len(d.Devices)),
		sessionByID:       make(map[string]int, len(d.Sessions)),
		setByID:           make(map[string]int, len(d.Sets)),
		athletesByGroup:   map[string][]int{},
		sessionsByAthlete: map[string][]int{},
		setsByAthlete:     map[string][]int{},
		setsBySession:     map[string][]int{},
	}
	for _, p := range x.athletes {
		x.athleteByID[d.Athletes[p].ID] = p
	}
	for _, p := range x.groups {
		x.groupByID[d.Groups[p].ID] = p
	}
	for _, p := range x.devices {
		x.deviceByID[d.Devices[p].ID] = p
	}
	for _, p := range x.sessions {
		s := &d.Sessions[p]
		x.sessionByID[s.ID] = p
		x.sessionsByAthlete[s.AthleteID] = append(x.sessionsByAthlete[s.AthleteID], p)
	}
	for _, p := range x.sets {
		s := &d.Sets[p]
		x.setByID[s.ID] = p
		x.setsByAthlete[s.AthleteID] = append(x.setsByAthlete[s.AthleteID], p)
		x.setsBySession[s.SessionID] = append(x.setsBySession[s.SessionID], p)
	}
	// Memberships in athlete order; an athlete listed twice in a group, or
	// a membership of an unknown athlete, is served once or not at all.
	inGroup := map[string]map[string]bool{}
	for _, m := range d.Memberships {
		if inGroup[m.GroupID] == nil {
			inGroup[m.GroupID] = map[string]bool{}
		}
		inGroup[m.GroupID][m.AthleteID] = true
	}
	for _, p := range x.athletes {
		id := d.Athletes[p].ID
		for g, members := range inGroup {
			if members[id] {
				x.athletesByGroup[g] = append(x.athletesByGroup[g], p)
				delete(members, id) // a duplicate athlete id is served once
			}
		}
	}
	return x
}
