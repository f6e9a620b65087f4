package optimo

import (
	"math"
	"slices"
	"time"
)

// AdvanceReport says what an Advance changed.
type AdvanceReport struct {
	From, To time.Time // the simulated window (From, To], instants in UTC

	NewAthletes     []int64 // created in the window
	UpdatedAthletes []int64 // weight changed
	// NewWorkouts were imported in the window; some started days before it
	// (a watch synced late), so only updated_from finds them all.
	NewWorkouts        []int64
	UpdatedWorkouts    []int64 // notes or rpe changed
	NewAssessments     []int64
	UpdatedAssessments []int64 // a result's value changed, or a result removed
	ChangedResults     int
	RemovedResults     int
}

// Advance moves the virtual clock forward by d (to the whole second) and
// simulates the activity of the window (old now, new now]: an athlete's
// weight changes, a new athlete joins, existing workouts get new notes or
// a new rpe, existing assessments get a result's value changed or a result
// removed (updated_at bumped in the window each time), new workouts are
// imported (when the window is over two hours) and new assessments entered
// (when it is over an hour). New records get ids after all existing ones.
// Every stamp is the account's wall clock of an instant in the window. It
// is deterministic for a seed and a sequence of calls. A d under a second
// changes nothing.
func (s *Server) Advance(d time.Duration) AdvanceReport {
	var rep AdvanceReport
	from, to := s.st.Advance(d, func(t time.Time) time.Time { return t.Truncate(time.Second) }, func(from, to time.Time) { s.advance(&rep, from, to) })
	rep.From, rep.To = from, to
	if !to.After(from) {
		rep.To = from
	}
	return rep
}

// advance simulates the window (from, to] into rep. Callers hold the
// write lock.
func (s *Server) advance(rep *AdvanceReport, from, to time.Time) {
	data := &s.st.Data
	g := newGen(s.st.Rand, s.loc, from.Add(-4*24*time.Hour), to)
	today := g.wall(to)
	instant := func() (time.Time, bool) { return g.instant(from.Add(time.Second), to) }
	if _, ok := instant(); !ok {
		return // the window is all in a repeated hour's second occurrence
	}
	// stamp is a wall-clock stamp in the window, not before created.
	stamp := func(created time.Time) time.Time {
		t, _ := instant()
		w := g.wall(t)
		if w.Before(created) {
			return created
		}
		return w
	}
	maxAthlete, _, maxWorkout, maxAssessment := data.maxIDs()

	// Existing workouts: notes or rpe edited.
	if n := len(data.Workouts); n > 0 {
		k := min(max(n/100, 2), 30, n)
		for j, i := range g.R.Perm(n)[:k] {
			w := &data.Workouts[i]
			if j%2 == 0 {
				note := g.Pick(noteTexts)
				if w.Notes != nil && *w.Notes == note {
					note += " (edited)"
				}
				w.Notes = ptr(note)
			} else {
				rpe := g.Between(1, 10)
				if w.RPE != nil && *w.RPE == rpe {
					rpe = rpe%10 + 1
				}
				w.RPE = ptr(rpe)
			}
			w.UpdatedAt = stamp(w.CreatedAt)
			rep.UpdatedWorkouts = append(rep.UpdatedWorkouts, w.WorkoutID)
		}
	}

	// Existing assessments: a result changed, or removed.
	var withResults []int
	for i := range data.Assessments {
		if len(data.Assessments[i].Results) > 0 {
			withResults = append(withResults, i)
		}
	}
	if n := len(withResults); n > 0 {
		k := min(max(n/50, 2), 20, n)
		for j, i := range g.R.Perm(n)[:k] {
			a := &data.Assessments[withResults[i]]
			a.Results = slices.Clone(a.Results)
			if j%2 == 1 && len(a.Results) >= 3 {
				at := g.R.IntN(len(a.Results))
				a.Results = slices.Delete(a.Results, at, at+1)
				rep.RemovedResults++
			} else {
				r := &a.Results[g.R.IntN(len(a.Results))]
				r.Value = g.changed(r.Metric, r.Value)
				rep.ChangedResults++
			}
			a.UpdatedAt = stamp(a.CreatedAt)
			rep.UpdatedAssessments = append(rep.UpdatedAssessments, a.AssessmentID)
		}
	}

	// An athlete's weight changes.
	var weighed []int
	for i := range data.Athletes {
		if data.Athletes[i].WeightKg != nil {
			weighed = append(weighed, i)
		}
	}
	if len(weighed) > 0 {
		a := &data.Athletes[weighed[g.R.IntN(len(weighed))]]
		delta := float64(g.Between(1, 25)) / 10 * float64(1-2*g.R.IntN(2))
		a.WeightKg = ptr(round(max(*a.WeightKg+delta, 35), 1))
		a.UpdatedAt = stamp(a.CreatedAt)
		rep.UpdatedAthletes = append(rep.UpdatedAthletes, a.AthleteID)
	}

	// Who may have new workouts and assessments: active athletes who
	// joined before the window.
	var active []profile
	for i := range data.Athletes {
		if a := &data.Athletes[i]; a.Active && a.CreatedAt.Before(g.wall(from)) {
			active = append(active, profileOf(a, today))
		}
	}

	// A new athlete joins.
	if t, ok := instant(); ok {
		a := g.athlete(t, to, today)
		a.UpdatedAt = a.CreatedAt
		a.AthleteID = maxAthlete + 1
		data.Athletes = append(data.Athletes, a)
		rep.NewAthletes = append(rep.NewAthletes, a.AthleteID)
	}

	// New workouts: most started in the window, a fifth (at least one)
	// days before it, synced late.
	days := to.Sub(from).Hours() / 24
	if len(active) > 0 && to.Sub(from) > 2*time.Hour {
		want := float64(len(active)) * s.params.workoutsPerAthlete / float64(s.days) * days
		n := max(int(math.Round(want)), 3)
		nLate := max(n/5, 1)
		made := makeUpTo(n, 20*n, func(made, tries int) (Workout, bool) {
			p := active[g.R.IntN(len(active))]
			lo, hi := from.Add(time.Second), to.Add(-2*time.Hour)
			if made < nLate && tries < 10*nLate {
				lo, hi = from.Add(-3*24*time.Hour), from
			}
			started, ok := g.instant(lo, hi)
			if !ok {
				return Workout{}, false
			}
			return g.workout(p, started, from, to, false)
		})
		data.Workouts, rep.NewWorkouts = appendNew(data.Workouts, made, maxWorkout,
			func(w *Workout) (*int64, time.Time) { return &w.WorkoutID, w.CreatedAt })
	}

	// New assessments.
	if len(active) > 0 && to.Sub(from) > time.Hour {
		want := float64(len(active)) * s.params.assessmentsPerAthlete / float64(s.days) * days
		n := max(int(math.Round(want)), 1)
		made := makeUpTo(n, 3*n, func(int, int) (Assessment, bool) {
			p := active[g.R.IntN(len(active))]
			assessed, ok := g.instant(from.Add(time.Second), to.Add(-10*time.Minute))
			if !ok {
				return Assessment{}, false
			}
			return g.assessment(p, assessed, from, to, false)
		})
		data.Assessments, rep.NewAssessments = appendNew(data.Assessments, made, maxAssessment,
			func(a *Assessment) (*int64, time.Time) { return &a.AssessmentID, a.CreatedAt })
	}
}

// makeUpTo calls try until it has made n records or tried maxTries times,
// and returns the records made; try is told how many are made so far and
// how many tries came before.
func makeUpTo[T any](n, maxTries int, try func(made, tries int) (T, bool)) []T {
	var made []T
	for tries := 0; len(made) < n && tries < maxTries; tries++ {
		if v, ok := try(len(made), tries); ok {
			made = append(made, v)
		}
	}
	return made
}

// appendNew appends the new records made to recs in the order of their
// creation, with ids after maxID, and returns them and the new ids. key
// gives a record's id and created_at.
func appendNew[T any](recs, made []T, maxID int64, key func(*T) (*int64, time.Time)) ([]T, []int64) {
	slices.SortStableFunc(made, func(a, b T) int {
		_, ca := key(&a)
		_, cb := key(&b)
		return byCreated(ca, cb)
	})
	var ids []int64
	for i := range made {
		id, _ := key(&made[i])
		*id = maxID + 1 + int64(i)
		ids = append(ids, *id)
	}
	return append(recs, made...), ids
}

// changed is a new value of a metric, different from v: a few of the
// metric's steps up or down (an unknown metric moves by a tenth).
func (g *gen) changed(name string, v float64) float64 {
	m := metric{step: 0.1, decimals: 1}
	for _, x := range g.metrics {
		if x.name == name {
			m = x
		}
	}
	delta := float64(g.Between(1, 5)) * m.step * float64(1-2*g.R.IntN(2))
	out := round(v+delta, m.decimals)
	if out == v {
		out = round(v+m.step*5, max(m.decimals, 1))
	}
	if out == v { // v beyond float precision: a whole step changes it
		out = v + 1
	}
	return out
}
