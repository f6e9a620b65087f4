package optimo

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// Clone returns a deep copy of the dataset: no slice, map or pointer is
// shared with d.
func (d *Dataset) Clone() *Dataset {
	out := &Dataset{
		Athletes:    slices.Clone(d.Athletes),
		Coaches:     slices.Clone(d.Coaches),
		Workouts:    slices.Clone(d.Workouts),
		Assessments: slices.Clone(d.Assessments),
	}
	for i := range out.Athletes {
		a := &out.Athletes[i]
		a.BirthDate = clonep(a.BirthDate)
		a.HeightCm = clonep(a.HeightCm)
		a.WeightKg = clonep(a.WeightKg)
		a.BodyFatPercentage = clonep(a.BodyFatPercentage)
		a.Extra = maps.Clone(a.Extra)
	}
	for i := range out.Coaches {
		out.Coaches[i].Extra = maps.Clone(out.Coaches[i].Extra)
	}
	for i := range out.Workouts {
		w := &out.Workouts[i]
		w.DistanceKm = clonep(w.DistanceKm)
		w.AvgHR = clonep(w.AvgHR)
		w.MaxHR = clonep(w.MaxHR)
		w.Calories = clonep(w.Calories)
		w.RPE = clonep(w.RPE)
		w.IntensityPercentage = clonep(w.IntensityPercentage)
		w.Notes = clonep(w.Notes)
		w.Extra = maps.Clone(w.Extra)
	}
	for i := range out.Assessments {
		a := &out.Assessments[i]
		a.Notes = clonep(a.Notes)
		a.Extra = maps.Clone(a.Extra)
		a.Results = slices.Clone(a.Results)
		for j := range a.Results {
			a.Results[j].Extra = maps.Clone(a.Results[j].Extra)
		}
	}
	return out
}

func clonep[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func ptr[T any](v T) *T { return &v }

// normalize brings every time of d to the wire's form (wall-clock reading
// in the UTC location, whole seconds; birth dates at midnight) and sorts
// every slice by id, the API's order (stable: duplicate ids keep their
// order).
func (d *Dataset) normalize() {
	for i := range d.Athletes {
		a := &d.Athletes[i]
		a.CreatedAt, a.UpdatedAt = asWall(a.CreatedAt), asWall(a.UpdatedAt)
		if a.BirthDate != nil {
			b := *a.BirthDate
			a.BirthDate = ptr(time.Date(b.Year(), b.Month(), b.Day(), 0, 0, 0, 0, time.UTC))
		}
	}
	for i := range d.Coaches {
		c := &d.Coaches[i]
		c.CreatedAt, c.UpdatedAt = asWall(c.CreatedAt), asWall(c.UpdatedAt)
	}
	for i := range d.Workouts {
		w := &d.Workouts[i]
		w.StartedAt, w.CreatedAt, w.UpdatedAt = asWall(w.StartedAt), asWall(w.CreatedAt), asWall(w.UpdatedAt)
	}
	for i := range d.Assessments {
		a := &d.Assessments[i]
		a.AssessedAt, a.CreatedAt, a.UpdatedAt = asWall(a.AssessedAt), asWall(a.CreatedAt), asWall(a.UpdatedAt)
	}
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
