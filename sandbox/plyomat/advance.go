package plyomat

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/athlake/athlake/sandbox/internal/order"
)

// AdvanceReport says what an Advance changed.
type AdvanceReport struct {
	From, To time.Time // the simulated window (From, To]

	NewAthletes     []string // created in the window
	UpdatedAthletes []string // body weight changed
	NewDevices      []string // registered in the window
	RemovedDevices  []string // gone from the API
	NewSessions     []string
	NewSets         []string
	NewReps         int
	UpdatedSets     []string // existing sets re-stamped with edited (and some removed) reps
	EditedReps      int
	RemovedReps     int
}

// sessionSpan bounds how long after its start a generated session stamps
// anything (2–5 sets of at most 8 reps stay well under it).
const sessionSpan = time.Hour

// Advance moves the virtual clock forward by d and simulates the activity
// of the window (old now, new now]: new sessions with sets and reps for
// several athletes (when the window holds a session, i.e. is over an
// hour), existing sets edited (updated_at in the window, a rep's values
// changed with height and RSI recomputed, a rep removed from some of them,
// leaving a gap in rep_index), an athlete's body weight changed, a new
// athlete, and a device removed and a new one registered. It is
// deterministic for a seed and a sequence of calls. A d <= 0 changes
// nothing. With a webhook subscription, the changes become events to
// deliver (DeliverDue).
func (s *Server) Advance(d time.Duration) AdvanceReport {
	var rep AdvanceReport
	rep.From, rep.To = s.st.Advance(d, nil, func(from, to time.Time) { s.advance(&rep, from, to) })
	s.enqueue(rep)
	return rep
}

// advance simulates the window (from, to] into rep. Callers hold the
// write lock.
func (s *Server) advance(rep *AdvanceReport, from, to time.Time) {
	g := newGen(s.st.Rand)
	data := &s.st.Data
	instant := func() time.Time {
		t, _ := g.instant(from, to)
		return t
	}
	if _, ok := g.instant(from, to); !ok {
		return // a window under a millisecond holds nothing
	}

	// Existing sets, edited: chosen before anything new exists.
	var existing []int
	for i := range data.Sets {
		if !data.Sets[i].CreatedAt.After(from) && len(data.Sets[i].Reps) > 0 {
			existing = append(existing, i)
		}
	}
	nEdits := min(max(len(existing)/100, 3), 50, len(existing))
	for k, i := range g.R.Perm(len(existing))[:nEdits] {
		st := &data.Sets[existing[i]]
		t := instant()
		if t.Before(st.CreatedAt) {
			t = st.CreatedAt
		}
		st.UpdatedAt = t
		// Edit one rep's values, keeping the physics consistent.
		r := &st.Reps[g.R.IntN(len(st.Reps))]
		delta := g.Between(5, 30) * (1 - 2*g.R.IntN(2))
		ft := r.FlightTimeMs + delta
		if ft < 300 || ft > 650 {
			ft = r.FlightTimeMs - delta // stay in range, and still change
		}
		var ct *int
		if r.ContactTimeMs != nil {
			ct = g.al.ints.new(*r.ContactTimeMs + g.Between(-20, 20))
		}
		g.setJump(r, ft, ct)
		rep.EditedReps++
		// Remove a rep (not the last, so a gap shows) from every other set.
		if k%2 == 0 && len(st.Reps) > 1 {
			j := g.R.IntN(len(st.Reps) - 1)
			st.Reps = slices.Delete(slices.Clone(st.Reps), j, j+1)
			rep.RemovedReps++
		}
		rep.UpdatedSets = append(rep.UpdatedSets, st.ID)
	}

	// A body weight changes.
	if n := len(data.Athletes); n > 0 {
		a := &data.Athletes[g.R.IntN(n)]
		delta := float64(g.Between(1, 25)) / 10 * float64(1-2*g.R.IntN(2))
		a.BodyWeightKg = g.weight(max(a.BodyWeightKg+delta, 35))
		t := instant()
		if t.Before(a.CreatedAt) {
			t = a.CreatedAt
		}
		a.UpdatedAt = t
		rep.UpdatedAthletes = append(rep.UpdatedAthletes, a.ID)
	}

	// A device is retired and a new one registered.
	if n := len(data.Devices); n > 0 {
		i := g.R.IntN(n)
		rep.RemovedDevices = append(rep.RemovedDevices, data.Devices[i].ID)
		data.Devices = slices.Delete(data.Devices, i, i+1)
	}
	dev := g.device(instant(), to)
	dev.UpdatedAt = dev.CreatedAt
	dev.Calibration["checked_at"] = ms(dev.CreatedAt).Format(wireTime)
	data.Devices = append(data.Devices, dev)
	rep.NewDevices = append(rep.NewDevices, dev.ID)

	// A new athlete joins (and maybe a group).
	athlete := g.athlete(g.uuid(), instant(), to)
	athlete.UpdatedAt = athlete.CreatedAt
	data.Athletes = append(data.Athletes, athlete)
	rep.NewAthletes = append(rep.NewAthletes, athlete.ID)
	if len(data.Groups) > 0 && g.Chance(0.7) {
		data.Memberships = append(data.Memberships, Membership{GroupID: data.Groups[g.R.IntN(len(data.Groups))].ID, AthleteID: athlete.ID})
	}

	// New sessions for several athletes (among those who existed before).
	latest := to.Add(-sessionSpan)
	if _, ok := g.instant(from, latest); ok {
		p := s.rates()
		athletes := len(data.Athletes) - 1
		want := int(float64(athletes) * p * to.Sub(from).Hours() / (historyDays * 24))
		n := min(max(want, 3), athletes)
		var sessions []Session
		var sets []Set
		for _, i := range g.R.Perm(athletes)[:n] {
			a := &data.Athletes[i]
			start, _ := g.instant(from, latest)
			if start.Before(a.CreatedAt) {
				continue
			}
			var devID *string
			if len(data.Devices) > 0 {
				devID = g.al.strs.new(data.Devices[g.R.IntN(len(data.Devices))].ID)
			}
			sess, ss := g.session(a.ID, devID, start, to, false)
			sessions = append(sessions, sess)
			sets = append(sets, ss...)
		}
		slices.SortFunc(sessions, func(a, b Session) int { return order.TimeThenID(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })
		slices.SortFunc(sets, func(a, b Set) int { return order.TimeThenID(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })
		for _, x := range sessions {
			rep.NewSessions = append(rep.NewSessions, x.ID)
		}
		for _, x := range sets {
			rep.NewSets = append(rep.NewSets, x.ID)
			rep.NewReps += len(x.Reps)
		}
		data.Sessions = append(data.Sessions, sessions...)
		data.Sets = append(data.Sets, sets...)
	}
}

// rates is the mean number of sessions per athlete over the history, as
// generated: the rate Advance keeps up.
func (s *Server) rates() float64 {
	if len(s.st.Data.Athletes) == 0 {
		return 0
	}
	return float64(len(s.st.Data.Sessions)) / float64(len(s.st.Data.Athletes))
}

// HostileIDs are the ids AddHostileIDs gives athletes, groups, devices,
// sessions and sets: ids hostile to paths ("../evil", "..", "a/b"), URLs
// ("k=v&x", "?q=1#f", "%2F"), quoting and SQL (`quo"te'`), plus spaces,
// non-ASCII and a 300-character id.
func HostileIDs() []string {
	long := "long-" + strings.Repeat("0123456789abcdefghij", 15)
	return []string{"../evil", "a/b", "k=v", "%2F", "with space", `quo"te'`, "ünïcødé-✓", long[:300], "..", ".", "?q=1#f", "k=v&x"}
}

// AddHostileIDs adds, for each of HostileIDs, an athlete with that id, in
// the first group and in a new group of that id, with one session of that
// id recorded on a new device of that id, whose sets have that id (the
// first) or that id with a suffix, with reps; all stamped in the hour
// before now (the athletes, groups and devices a minute earlier). It
// returns the ids. An id already present is not added twice.
func (s *Server) AddHostileIDs() []string {
	s.st.Lock()
	defer s.st.Unlock()
	g := newGen(s.st.Rand)
	data := &s.st.Data
	defer s.st.Reindex()
	ids := HostileIDs()
	now := s.st.Clock
	for i, id := range ids {
		if _, ok := s.st.Index.athleteByID[id]; ok {
			continue
		}
		created := now.Add(-sessionSpan - time.Minute + time.Duration(i)*time.Second)
		a := g.athlete(id, created, now)
		a.UpdatedAt = a.CreatedAt
		data.Athletes = append(data.Athletes, a)
		if len(data.Groups) > 0 {
			data.Memberships = append(data.Memberships, Membership{GroupID: data.Groups[0].ID, AthleteID: id})
		}
		gr := g.group("Hostile "+strconv.Itoa(i), created, created)
		gr.ID = id
		data.Groups = append(data.Groups, gr)
		data.Memberships = append(data.Memberships, Membership{GroupID: id, AthleteID: id})
		dev := g.device(created, created)
		dev.ID = id
		data.Devices = append(data.Devices, dev)
		start := now.Add(-sessionSpan + time.Duration(i)*time.Second)
		sess, sets := g.session(id, g.al.strs.new(id), start, now, false)
		sess.ID = id
		for k := range sets {
			sets[k].SessionID = id
			sets[k].ID = id
			if k > 0 {
				sets[k].ID += "/" + strconv.Itoa(k)
			}
		}
		data.Sessions = append(data.Sessions, sess)
		data.Sets = append(data.Sets, sets...)
	}
	return ids
}
