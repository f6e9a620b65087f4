package optimo

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/athlake/athlake/sandbox/internal/recs"
)

// Clone returns a deep copy of the dataset: no slice, map or pointer is
// shared with d.
func (d *Dataset) Clone() *Dataset {
	return &Dataset{
		Athletes: recs.Clone(d.Athletes, func(a *Athlete) {
			a.BirthDate = recs.Ptr(a.BirthDate)
			a.HeightCm = recs.Ptr(a.HeightCm)
			a.WeightKg = recs.Ptr(a.WeightKg)
			a.BodyFatPercentage = recs.Ptr(a.BodyFatPercentage)
			a.Extra = maps.Clone(a.Extra)
		}),
		Coaches: recs.Clone(d.Coaches, func(c *Coach) { c.Extra = maps.Clone(c.Extra) }),
		Workouts: recs.Clone(d.Workouts, func(w *Workout) {
			w.DistanceKm = recs.Ptr(w.DistanceKm)
			w.AvgHR = recs.Ptr(w.AvgHR)
			w.MaxHR = recs.Ptr(w.MaxHR)
			w.Calories = recs.Ptr(w.Calories)
			w.RPE = recs.Ptr(w.RPE)
			w.IntensityPercentage = recs.Ptr(w.IntensityPercentage)
			w.Notes = recs.Ptr(w.Notes)
			w.Extra = maps.Clone(w.Extra)
		}),
		Assessments: recs.Clone(d.Assessments, func(a *Assessment) {
			a.Notes = recs.Ptr(a.Notes)
			a.Extra = maps.Clone(a.Extra)
			a.Results = recs.Clone(a.Results, func(r *Result) { r.Extra = maps.Clone(r.Extra) })
		}),
	}
}

func ptr[T any](v T) *T { return &v }

// normalize brings every time of d to the wire's form (wall-clock reading
// in the UTC location, whole seconds; birth dates at midnight) and sorts
// every slice by id, the API's order (stable: duplicate ids keep their
// order).
func (d *Dataset) normalize() {
	recs.Each(d.Athletes, func(a *Athlete) {
		a.CreatedAt, a.UpdatedAt = asWall(a.CreatedAt), asWall(a.UpdatedAt)
		if a.BirthDate != nil {
			b := *a.BirthDate
			a.BirthDate = ptr(time.Date(b.Year(), b.Month(), b.Day(), 0, 0, 0, 0, time.UTC))
		}
	})
	recs.Each(d.Coaches, func(c *Coach) { c.CreatedAt, c.UpdatedAt = asWall(c.CreatedAt), asWall(c.UpdatedAt) })
	recs.Each(d.Workouts, func(w *Workout) {
		w.StartedAt, w.CreatedAt, w.UpdatedAt = asWall(w.StartedAt), asWall(w.CreatedAt), asWall(w.UpdatedAt)
	})
	recs.Each(d.Assessments, func(a *Assessment) {
		a.AssessedAt, a.CreatedAt, a.UpdatedAt = asWall(a.AssessedAt), asWall(a.CreatedAt), asWall(a.UpdatedAt)
	})
	slices.SortStableFunc(d.Athletes, func(a, b Athlete) int { return cmp.Compare(a.AthleteID, b.AthleteID) })
	slices.SortStableFunc(d.Coaches, func(a, b Coach) int { return cmp.Compare(a.CoachID, b.CoachID) })
	slices.SortStableFunc(d.Workouts, func(a, b Workout) int { return cmp.Compare(a.WorkoutID, b.WorkoutID) })
	slices.SortStableFunc(d.Assessments, func(a, b Assessment) int { return cmp.Compare(a.AssessmentID, b.AssessmentID) })
}

// index groups the positions of workouts and assessments by athlete (in
// id order). It is rebuilt after every change of the dataset.
type index struct {
	workoutsByAthlete    map[int64][]int
	assessmentsByAthlete map[int64][]int
}

func buildIndex(d *Dataset) *index {
	x := &index{workoutsByAthlete: map[int64][]int{}, assessmentsByAthlete: map[int64][]int{}}
	for i := range d.Workouts {
		id := d.Workouts[i].AthleteID
		x.workoutsByAthlete[id] = append(x.workoutsByAthlete[id], i)
	}
	for i := range d.Assessments {
		id := d.Assessments[i].AthleteID
		x.assessmentsByAthlete[id] = append(x.assessmentsByAthlete[id], i)
	}
	return x
}

// maxIDs are the highest ids of each table (0 for an empty one).
func (d *Dataset) maxIDs() (athlete, coach, workout, assessment int64) {
	for _, a := range d.Athletes {
		athlete = max(athlete, a.AthleteID)
	}
	for _, c := range d.Coaches {
		coach = max(coach, c.CoachID)
	}
	for _, w := range d.Workouts {
		workout = max(workout, w.WorkoutID)
	}
	for _, a := range d.Assessments {
		assessment = max(assessment, a.AssessmentID)
	}
	return
}
