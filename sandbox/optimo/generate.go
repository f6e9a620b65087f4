package optimo

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/athlake/athlake/sandbox/internal/rgen"
	"github.com/athlake/athlake/sandbox/internal/scale"
)

// params are the volumes of a scale.
type params struct {
	athletes, coaches     int
	workoutsPerAthlete    float64 // mean over an athlete's active history
	assessmentsPerAthlete float64
}

func paramsFor(s scale.Scale) params {
	switch s {
	case scale.Medium:
		return params{athletes: 300, coaches: 12, workoutsPerAthlete: 21.3, assessmentsPerAthlete: 3.2}
	case scale.Large:
		return params{athletes: 3000, coaches: 40, workoutsPerAthlete: 28.5, assessmentsPerAthlete: 3.2}
	}
	return params{athletes: 25, coaches: 3, workoutsPerAthlete: 6.6, assessmentsPerAthlete: 2.6}
}

// The first id of each table (ids grow from there, in creation order).
const (
	firstCoachID      = 1
	firstAthleteID    = 1001
	firstWorkoutID    = 200001
	firstAssessmentID = 50001
)

// Word lists the generator picks from.
var (
	femaleNames = strings.Fields("Ida Freja Emma Sofie Clara Anna Maja Zoë Ingrid Åsa Frederikke Nora Amara Chloe Hana Isla Leila Maya Priya Rosa Saoirse José Ylva Aoife Beatriz Carmen")
	maleNames   = strings.Fields("Mikkel Søren Magnus Oliver Noah Lucas Emil Jürgen Kai Luca Oskar Ethan Jonas Malik Rafael Théo Victor Yusuf Aaron Nnamdi Caleb Diego Finn Hugo Kenji Marco Nils Omar")
	lastNames   = strings.Split("Jensen|Nielsen|Hansen|Pedersen|Andersen|Østergaard|Nørgaard|Christensen|Larsen|Sørensen|O'Brien|García|Müller|D'Souza|Kowalski|Nakamura|Okafor|Rossi|Dubois|Haddad|Silva|Novak|Kim|Walker|Schmidt|Ó Súilleabháin|van der Berg|Lindqvist|Chen|Petrov", "|")
	noteTexts   = strings.Split("Intervals 6×800 m @ <4:00/km> & cool-down|Felt great 💪|Knee niggle — stopped early|Coach said \"easy\", it wasn't|Line one\nline two of the notes|HR strap lost contact; max HR suspect|Tempo run, 'comfortably hard'|Recovery session|Race simulation: 3×10' Z4|Hot day (31 °C), drank 1.5 l|Back-to-back with the morning session|Group ride, drafting most of the way", "|")
	assessNotes = strings.Split("Retest in 6 weeks|Wet track, times slow|Athlete unwell the day before|Baseline after injury (ACL)|Good effort — new PB on sprint & CMJ|Tested with <new> timing gates|Morning test, fasted", "|")
	locations   = strings.Split("Lab 1|Lab 2|Indoor track|Gym — rack 3|Pitch 2|Pool (25 m)", "|")
	squads      = strings.Split("Senior|U21|U19|Academy|Rehab|Elite & Talent|Masters", "|")
	polarModels = strings.Split("Polar Vantage V3|Polar Grit X2 Pro|Polar Pacer Pro|Polar H10 + Beat", "|")
	timexModels = strings.Split("Timex Ironman R300|Timex Marathon GPS|Timex Expedition", "|")
)

// sport is a kind of workout with plausible ranges.
type sport struct {
	name           string
	minMin, maxMin int        // duration in minutes
	kmh            [2]float64 // speed range; zero: no distance
	met            float64    // energy cost (kcal per kg per hour)
	hrFrac         [2]float64 // average heart rate as a fraction of maximum
	weight         int        // relative frequency
}

func sports() []sport {
	return []sport{
		{name: "running", minMin: 20, maxMin: 100, kmh: [2]float64{8.5, 15}, met: 10, hrFrac: [2]float64{0.72, 0.88}, weight: 30},
		{name: "cycling", minMin: 45, maxMin: 180, kmh: [2]float64{20, 34}, met: 8, hrFrac: [2]float64{0.65, 0.82}, weight: 18},
		{name: "swimming", minMin: 30, maxMin: 90, kmh: [2]float64{2.2, 3.8}, met: 8, hrFrac: [2]float64{0.65, 0.8}, weight: 8},
		{name: "strength_training", minMin: 30, maxMin: 90, met: 5, hrFrac: [2]float64{0.55, 0.7}, weight: 16},
		{name: "rowing", minMin: 20, maxMin: 70, kmh: [2]float64{9, 13}, met: 9, hrFrac: [2]float64{0.7, 0.86}, weight: 6},
		{name: "football", minMin: 60, maxMin: 100, kmh: [2]float64{6, 8}, met: 8, hrFrac: [2]float64{0.7, 0.85}, weight: 10},
		{name: "hiit", minMin: 20, maxMin: 45, met: 9, hrFrac: [2]float64{0.78, 0.9}, weight: 7},
		{name: "walking", minMin: 30, maxMin: 120, kmh: [2]float64{4.5, 6.2}, met: 3.5, hrFrac: [2]float64{0.5, 0.62}, weight: 5},
	}
}

// metric is a measured value of an assessment.
type metric struct {
	name, unit string
	lo, hi     float64
	step       float64 // values are multiples of step
	decimals   int     // and rounded to this many decimals
	attempts   bool    // some results carry <attempt>
}

func metrics() []metric {
	return []metric{
		{"vo2max", "ml/kg/min", 38, 68, 0.1, 1, false},
		{"yo_yo_ir1", "m", 400, 2800, 40, 0, false},
		{"resting_hr", "bpm", 40, 72, 1, 0, false},
		{"beep_test", "level", 7, 14, 0.5, 1, false},
		{"sprint_10m", "s", 1.65, 2.15, 0.01, 2, true},
		{"sprint_20m", "s", 2.85, 3.55, 0.01, 2, true},
		{"sprint_30m", "s", 3.95, 4.9, 0.01, 2, true},
		{"agility_t_test", "s", 8.8, 11.5, 0.01, 2, true},
		{"body_fat", "%", 6, 28, 1, 0, false},
		{"weight", "kg", 52, 100, 0.1, 1, false},
		{"lean_mass", "kg", 40, 85, 0.1, 1, false},
		{"waist", "cm", 64, 95, 0.5, 1, false},
		{"cmj", "cm", 25, 60, 0.1, 1, true},
		{"grip_strength", "kg", 28, 65, 0.1, 1, true},
		{"squat_1rm", "kg", 60, 200, 2.5, 1, false},
		{"sit_and_reach", "cm", -8, 32, 0.5, 1, false},
	}
}

// batteries name an assessment and the metrics it measures first (indexes
// into metrics()); "Pre-season screening" draws from all.
func batteries() []struct {
	name    string
	metrics []int
} {
	return []struct {
		name    string
		metrics []int
	}{
		{"Fitness test", []int{0, 1, 2, 3}},
		{"Speed test", []int{4, 5, 6, 7}},
		{"Body composition", []int{8, 9, 10, 11}},
		{"Strength & power", []int{12, 13, 14, 15}},
		{"Pre-season screening", nil},
	}
}

// gen makes synthetic records from one seeded random stream.
type gen struct {
	rgen.Gen
	loc     *time.Location
	rep     []span // instants whose reading repeats an earlier one: never stamped
	sports  []sport
	metrics []metric
	emails  map[string]bool
}

// newGen returns a generator whose instants lie in [from, to].
func newGen(r *rand.Rand, loc *time.Location, from, to time.Time) *gen {
	return &gen{Gen: rgen.Gen{R: r, Step: time.Second}, loc: loc, rep: repeatedSpans(loc, from, to), sports: sports(), metrics: metrics(), emails: map[string]bool{}}
}

func round(x float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(x*p)/p + 0 // + 0: no negative zero (a vendor sends "0", not "-0")
}

// uniform is a uniform float in [lo, hi).
func (g *gen) uniform(lo, hi float64) float64 { return lo + g.R.Float64()*(hi-lo) }

// instant is a uniform whole second in [lo, hi] that is not the second
// occurrence of a repeated wall-clock reading; ok is false when there is
// none.
func (g *gen) instant(lo, hi time.Time) (time.Time, bool) {
	lo = lo.UTC()
	if t := lo.Truncate(time.Second); !t.Equal(lo) {
		lo = t.Add(time.Second)
	}
	hi = hi.UTC().Truncate(time.Second)
	if hi.Before(lo) {
		return time.Time{}, false
	}
	pieces := []span{{lo, hi.Add(time.Second)}} // [lo, hi+1s)
	for _, s := range g.rep {
		var next []span
		for _, p := range pieces {
			if !s.lo.Before(p.hi) || !p.lo.Before(s.hi) {
				next = append(next, p)
				continue
			}
			if p.lo.Before(s.lo) {
				next = append(next, span{p.lo, s.lo})
			}
			if s.hi.Before(p.hi) {
				next = append(next, span{s.hi, p.hi})
			}
		}
		pieces = next
	}
	var total int64
	for _, p := range pieces {
		total += int64(p.hi.Sub(p.lo) / time.Second)
	}
	if total <= 0 {
		return time.Time{}, false
	}
	n := g.R.Int64N(total)
	for _, p := range pieces {
		size := int64(p.hi.Sub(p.lo) / time.Second)
		if n < size {
			return p.lo.Add(time.Duration(n) * time.Second), true
		}
		n -= size
	}
	return time.Time{}, false
}

// must is instant for ranges known to be non-empty (it falls back to lo).
func (g *gen) must(lo, hi time.Time) time.Time {
	if t, ok := g.instant(lo, hi); ok {
		return t
	}
	return lo.UTC().Truncate(time.Second)
}

// allowed moves t (truncated to the second) out of the second occurrence
// of a repeated reading, to the first instant after it.
func (g *gen) allowed(t time.Time) time.Time {
	t = t.UTC().Truncate(time.Second)
	for _, s := range g.rep {
		if !t.Before(s.lo) && t.Before(s.hi) {
			return s.hi
		}
	}
	return t
}

// wall is the account's wall-clock reading of instant t.
func (g *gen) wall(t time.Time) time.Time { return wallOf(t, g.loc) }

// later is the instant a record created at created was last changed:
// created itself, or with probability p a moment up to maxLater later
// (never after limit).
func (g *gen) later(created, limit time.Time, p float64, maxLater time.Duration) time.Time {
	if !g.Chance(p) || !limit.After(created) {
		return created
	}
	return g.must(created.Add(time.Second), minTime(created.Add(maxLater), limit))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// hash01 is a stable number in [0, 1) for an id and a purpose: the traits
// of an athlete that must not depend on the order of generation.
func hash01(id int64, purpose string) float64 {
	h := fnv.New64a()
	h.Write([]byte(purpose))
	h.Write([]byte(strconv.FormatInt(id, 10)))
	return float64(h.Sum64()>>11) / (1 << 53)
}

// fold makes an e-mail-safe lower-case ASCII word of a name.
func fold(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case strings.ContainsRune("áàâäåã", r):
			b.WriteByte('a')
		case strings.ContainsRune("éèêë", r):
			b.WriteByte('e')
		case strings.ContainsRune("íìîï", r):
			b.WriteByte('i')
		case strings.ContainsRune("óòôöõø", r):
			b.WriteByte('o')
		case strings.ContainsRune("úùûü", r):
			b.WriteByte('u')
		case r == 'æ':
			b.WriteString("ae")
		case r == 'ß':
			b.WriteString("ss")
		case r == 'ñ':
			b.WriteByte('n')
		case r == 'ç':
			b.WriteByte('c')
		}
	}
	if b.Len() == 0 {
		return "x"
	}
	return b.String()
}

// email is a unique address for a name at domain.
func (g *gen) email(first, last, domain string) string {
	base := fold(first) + "." + fold(last)
	e := base + "@" + domain
	for n := 2; g.emails[e]; n++ {
		e = base + strconv.Itoa(n) + "@" + domain
	}
	g.emails[e] = true
	return e
}

// athlete makes an athlete created at the instant created (its id is set
// later), last changed no later than limit.
func (g *gen) athlete(created, limit, today time.Time) Athlete {
	a := Athlete{Active: !g.Chance(0.1)}
	var height, weight [2]float64
	var fat [2]int
	switch x := g.R.IntN(100); {
	case x < 48:
		a.Gender, a.FirstName = "female", g.Pick(femaleNames)
		height, weight, fat = [2]float64{155, 185}, [2]float64{50, 80}, [2]int{16, 30}
	case x < 96:
		a.Gender, a.FirstName = "male", g.Pick(maleNames)
		height, weight, fat = [2]float64{168, 200}, [2]float64{62, 105}, [2]int{7, 20}
	default:
		a.Gender = "other"
		a.FirstName = g.Pick(append(femaleNames[:len(femaleNames):len(femaleNames)], maleNames...))
		height, weight, fat = [2]float64{158, 192}, [2]float64{55, 95}, [2]int{10, 26}
	}
	a.LastName = g.Pick(lastNames)
	a.Email = g.email(a.FirstName, a.LastName, "athletes.example")
	if !g.Chance(0.05) {
		age := g.uniform(15, 40)
		born := today.Add(-time.Duration(age * 365.25 * 24 * float64(time.Hour)))
		a.BirthDate = ptr(time.Date(born.Year(), born.Month(), born.Day(), 0, 0, 0, 0, time.UTC))
	}
	if !g.Chance(0.1) {
		a.HeightCm = ptr(round(g.uniform(height[0], height[1]), 1))
	}
	if !g.Chance(0.08) {
		a.WeightKg = ptr(round(g.uniform(weight[0], weight[1]), 1))
	}
	if !g.Chance(0.4) {
		a.BodyFatPercentage = ptr(g.Between(fat[0], fat[1]))
	}
	if g.Chance(0.7) {
		a.Extra = Extra{"custom_field": g.Pick(squads)}
	}
	a.CreatedAt = g.wall(created)
	a.UpdatedAt = g.wall(g.later(created, limit, 0.4, 120*24*time.Hour))
	return a
}

// coach makes a coach created at created.
func (g *gen) coach(created, limit time.Time, admin bool) Coach {
	c := Coach{IsAdmin: admin}
	if g.Chance(0.5) {
		c.FirstName = g.Pick(femaleNames)
	} else {
		c.FirstName = g.Pick(maleNames)
	}
	c.LastName = g.Pick(lastNames)
	c.Email = g.email(c.FirstName, c.LastName, "club.example")
	if g.Chance(0.6) {
		c.Extra = Extra{"phone": fmt.Sprintf("+45 %02d %02d %02d %02d", g.Between(20, 99), g.R.IntN(100), g.R.IntN(100), g.R.IntN(100))}
	}
	c.CreatedAt = g.wall(created)
	c.UpdatedAt = g.wall(g.later(created, limit, 0.3, 300*24*time.Hour))
	return c
}

// profile is what a workout or an assessment needs to know of its athlete.
type profile struct {
	id       int64
	hrMax    int
	weightKg float64
	level    float64 // 0..1, the athlete's fitness
}

func profileOf(a *Athlete, today time.Time) profile {
	age := 25.0
	if a.BirthDate != nil {
		age = today.Sub(*a.BirthDate).Hours() / (24 * 365.25)
	}
	w := 72.0
	if a.WeightKg != nil {
		w = *a.WeightKg
	}
	return profile{
		id:       a.AthleteID,
		hrMax:    int(math.Round(208-0.7*age)) + int(hash01(a.AthleteID, "hr")*13) - 6,
		weightKg: w,
		level:    0.2 + 0.6*hash01(a.AthleteID, "level"),
	}
}

// workout makes a workout of p started at the instant started and
// imported after it ended, after the instant after and no later than limit
// (ok is false when that cannot be). With edits, some are changed later.
func (g *gen) workout(p profile, started, after, limit time.Time, edits bool) (Workout, bool) {
	w := Workout{AthleteID: p.id}
	switch x := g.R.IntN(100); {
	case x < 50:
		w.Source = "polar"
	case x < 80:
		w.Source = "timex"
	default:
		w.Source = "csv"
	}
	total := 0
	for _, s := range g.sports {
		total += s.weight
	}
	sp, n := g.sports[len(g.sports)-1], g.R.IntN(total)
	for _, s := range g.sports {
		if n < s.weight {
			sp = s
			break
		}
		n -= s.weight
	}
	w.Sport = sp.name
	d := time.Duration(g.Between(sp.minMin, sp.maxMin))*time.Minute + time.Duration(g.R.IntN(60))*time.Second
	w.DurationSeconds = int64(d / time.Second)
	hours := d.Hours()
	if sp.kmh[1] > 0 && !(w.Source == "csv" && g.Chance(0.2)) {
		speed := sp.kmh[0] + (sp.kmh[1]-sp.kmh[0])*clamp01(p.level+g.uniform(-0.2, 0.2))
		w.DistanceKm = ptr(round(speed*hours, 2))
	}
	frac := g.uniform(sp.hrFrac[0], sp.hrFrac[1])
	if !(w.Source == "csv" && g.Chance(0.5)) {
		avg := int(math.Round(float64(p.hrMax) * frac))
		peak := min(avg+g.Between(8, 25), p.hrMax)
		w.AvgHR, w.MaxHR = ptr(avg), ptr(peak)
		if !g.Chance(0.05) {
			w.IntensityPercentage = ptr(int(math.Round(float64(avg) / float64(p.hrMax) * 100)))
		}
	}
	if !(w.Source == "csv" && g.Chance(0.3)) {
		w.Calories = ptr(int(math.Round(sp.met * p.weightKg * hours * g.uniform(0.9, 1.1))))
	}
	if !g.Chance(0.25) {
		w.RPE = ptr(min(max(int(math.Round((frac-0.45)*20))+g.Between(-1, 1), 1), 10))
	}
	if g.Chance(0.3) {
		w.Notes = ptr(g.Pick(noteTexts))
	}
	switch w.Source {
	case "polar":
		w.Extra = Extra{"device": g.Pick(polarModels)}
	case "timex":
		w.Extra = Extra{"device": g.Pick(timexModels)}
	}
	end := started.Add(d)
	var lag time.Duration
	switch w.Source {
	case "polar":
		lag = g.Dur(2*time.Minute, 90*time.Minute)
	case "timex":
		lag = g.Dur(time.Hour, 72*time.Hour)
	default:
		lag = g.Dur(24*time.Hour, 14*24*time.Hour)
	}
	created, updated, ok := g.entered(end.Add(lag), maxTime(end, after), limit, edits, 10*24*time.Hour)
	if !ok {
		return w, false
	}
	w.StartedAt, w.CreatedAt, w.UpdatedAt = g.wall(started), created, updated
	return w, true
}

func clamp01(x float64) float64 { return min(max(x, 0), 1) }

// value is a plausible value of metric m for an athlete of the given level.
func (g *gen) value(m metric, level float64) float64 {
	x := clamp01(level + g.uniform(-0.15, 0.15))
	switch m.name {
	case "sprint_10m", "sprint_20m", "sprint_30m", "agility_t_test", "resting_hr", "body_fat", "waist":
		x = 1 - x // lower is fitter
	}
	v := m.lo + (m.hi-m.lo)*x
	v = math.Round(v/m.step) * m.step
	return round(v, m.decimals)
}

// assessment makes an assessment of p at the instant assessed, entered
// after the instant after and no later than limit (ok is false when that
// cannot be). With edits, some are changed later.
func (g *gen) assessment(p profile, assessed, after, limit time.Time, edits bool) (Assessment, bool) {
	bs := batteries()
	b := bs[g.R.IntN(len(bs))]
	a := Assessment{AthleteID: p.id, Name: b.name}
	n := g.Between(2, 6)
	order := slices.Clone(b.metrics)
	g.R.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for _, i := range g.R.Perm(len(g.metrics)) {
		if !slices.Contains(order, i) {
			order = append(order, i)
		}
	}
	for _, i := range order[:n] {
		m := g.metrics[i]
		r := Result{Metric: m.name, Value: g.value(m, p.level), Unit: m.unit}
		if m.attempts && g.Chance(0.5) {
			r.Extra = Extra{"attempt": strconv.Itoa(g.Between(1, 3))}
		}
		a.Results = append(a.Results, r)
	}
	if g.Chance(0.35) {
		a.Notes = ptr(g.Pick(assessNotes))
	}
	if g.Chance(0.7) {
		a.Extra = Extra{"location": g.Pick(locations)}
	}
	// Entered no earlier than assessed (entered takes a bound to be after).
	notBefore := maxTime(assessed.Add(-time.Nanosecond), after)
	created, updated, ok := g.entered(assessed.Add(g.Dur(10*time.Minute, 48*time.Hour)), notBefore, limit, edits, 20*24*time.Hour)
	if !ok {
		return a, false
	}
	a.AssessedAt, a.CreatedAt, a.UpdatedAt = g.wall(assessed), created, updated
	return a, true
}

// entered is when a record is entered at the vendor and last changed, as
// wall readings. It is created at the instant at, or at limit if that is
// earlier, moved out of a repeated reading's second occurrence; ok is false
// unless that is after the instant after and no later than limit. With
// edits, some are changed later, up to maxLater after.
func (g *gen) entered(at, after, limit time.Time, edits bool, maxLater time.Duration) (created, updated time.Time, ok bool) {
	c := g.allowed(minTime(at, limit))
	if !c.After(after) || c.After(limit) {
		return time.Time{}, time.Time{}, false
	}
	u := c
	if edits {
		u = g.later(c, limit, 0.15, maxLater)
	}
	return g.wall(c), g.wall(u), true
}

// daytime is an instant between 06:00 and 21:00 (wall clock, roughly: the
// hours are counted from local midnight) on the local day of t.
func (g *gen) daytime(t time.Time) (time.Time, bool) {
	w := t.In(g.loc)
	mid := time.Date(w.Year(), w.Month(), w.Day(), 0, 0, 0, 0, g.loc)
	return g.instant(mid.Add(6*time.Hour), mid.Add(21*time.Hour))
}

// daytimeIn is a daytime instant on the local day of an instant drawn in
// [from, to], itself in [from, to]; ok is false when there is none.
func (g *gen) daytimeIn(from, to time.Time) (time.Time, bool) {
	at, ok := g.daytime(g.must(from, to))
	return at, ok && !at.Before(from) && !at.After(to)
}

// office is a daytime instant on the local day of t (t itself when there
// is none).
func (g *gen) office(t time.Time) time.Time {
	if at, ok := g.daytime(t); ok {
		return at
	}
	return t
}

// byCreated orders records by creation, the order in which the vendor hands
// out ids (wall readings are monotonic: no stamp is a repeated reading's
// second occurrence).
func byCreated(a, b time.Time) int { return a.Compare(b) }

// generate builds the account's history before start.
func generate(g *gen, p params, start time.Time, days int) Dataset {
	var d Dataset
	limit := start.Add(-time.Minute) // every history stamp is before start
	histStart := start.Add(-time.Duration(days) * 24 * time.Hour)
	today := g.wall(start)

	// Coaches: on staff before the history began; the first is the admin.
	created := make([]time.Time, p.coaches)
	for i := range created {
		created[i] = g.office(g.must(histStart.Add(-3*365*24*time.Hour), histStart.Add(-30*24*time.Hour)))
	}
	slices.SortFunc(created, byCreated)
	for i, c := range created {
		co := g.coach(c, limit, i == 0 || (i == 1 && p.coaches >= 10))
		co.CoachID = int64(firstCoachID + i)
		d.Coaches = append(d.Coaches, co)
	}

	// Athletes: most joined before the history, some during it.
	created = make([]time.Time, p.athletes)
	for i := range created {
		if g.Chance(0.85) {
			created[i] = g.office(g.must(histStart.Add(-2*365*24*time.Hour), histStart))
		} else {
			created[i] = g.office(g.must(histStart, start.Add(-14*24*time.Hour)))
		}
	}
	slices.SortFunc(created, byCreated)
	joined := make([]time.Time, p.athletes) // instants
	for i, c := range created {
		a := g.athlete(c, limit, today)
		a.AthleteID = int64(firstAthleteID + i)
		d.Athletes = append(d.Athletes, a)
		joined[i] = c
	}
	if len(d.Athletes) > 2 {
		// Names that need escaping, and an e-mail with a plus.
		a := &d.Athletes[2]
		a.FirstName, a.LastName, a.Email = `Zoë "Z"`, "Dupont & Fils <Jr>", "zoe.dupont+fils@athletes.example"
	}

	// Workouts and assessments over each athlete's active part of the
	// history, daytime only.
	lastStart := start.Add(-4 * time.Hour)
	for i := range d.Athletes {
		pr := profileOf(&d.Athletes[i], today)
		from := histStart
		if joined[i].After(from) {
			from = joined[i].Add(24 * time.Hour)
		}
		if !lastStart.After(from) {
			continue
		}
		share := lastStart.Sub(from).Hours() / lastStart.Sub(histStart).Hours()
		nw := int(math.Round(p.workoutsPerAthlete * share * g.uniform(0.5, 1.5)))
		for range nw {
			if at, ok := g.daytimeIn(from, lastStart); ok {
				if w, ok := g.workout(pr, at, time.Time{}, limit, true); ok {
					d.Workouts = append(d.Workouts, w)
				}
			}
		}
		na := int(math.Round(p.assessmentsPerAthlete * share * g.uniform(0.5, 1.5)))
		for range na {
			if at, ok := g.daytimeIn(from, lastStart); ok {
				if a, ok := g.assessment(pr, at, time.Time{}, limit, true); ok {
					d.Assessments = append(d.Assessments, a)
				}
			}
		}
	}
	g.plantDST(&d, joined, histStart, start, today)

	// Ids in creation order (the order of import, not of started_at).
	slices.SortStableFunc(d.Workouts, func(a, b Workout) int { return byCreated(a.CreatedAt, b.CreatedAt) })
	for i := range d.Workouts {
		d.Workouts[i].WorkoutID = int64(firstWorkoutID + i)
	}
	slices.SortStableFunc(d.Assessments, func(a, b Assessment) int { return byCreated(a.CreatedAt, b.CreatedAt) })
	for i := range d.Assessments {
		d.Assessments[i].AssessmentID = int64(firstAssessmentID + i)
	}
	d.normalize()
	return d
}

// plantDST adds records at the zone's latest DST changes within the
// history: in the repeated hour of the autumn change (first occurrence) and
// around the skipped hour of the spring change. See the package comment.
func (g *gen) plantDST(d *Dataset, joined []time.Time, histStart, start, today time.Time) {
	var autumn, spring *transition
	for _, tr := range transitions(g.loc, histStart.Add(24*time.Hour), start.Add(-24*time.Hour)) {
		if tr.repeats() {
			autumn = &tr
		} else if tr.skips() {
			spring = &tr
		}
	}
	// athleteBefore is an athlete who had joined a day before t.
	athleteBefore := func(t time.Time, skip int) (profile, bool) {
		for i := range d.Athletes {
			if joined[i].Before(t.Add(-24 * time.Hour)) {
				if skip == 0 {
					return profileOf(&d.Athletes[i], today), true
				}
				skip--
			}
		}
		return profile{}, false
	}
	// plant adds a workout started at the instant started, lasting dur,
	// imported at created.
	plant := func(p profile, started time.Time, dur time.Duration, created time.Time, note string) {
		w, _ := g.workout(p, started, time.Time{}, start, false)
		w.Source, w.Sport = "polar", "running"
		w.Extra = Extra{"device": polarModels[0]}
		w.DurationSeconds = int64(dur / time.Second)
		w.DistanceKm = ptr(round(11*dur.Hours(), 2))
		w.Notes = ptr(note)
		w.StartedAt, w.CreatedAt, w.UpdatedAt = g.wall(started), g.wall(created), g.wall(created)
		d.Workouts = append(d.Workouts, w)
	}
	if autumn != nil {
		t := autumn.at // the first instant of the second occurrence
		if p, ok := athleteBefore(t, 0); ok {
			plant(p, t.Add(-30*time.Minute), 20*time.Minute, t.Add(-5*time.Minute), "Night run in the repeated hour (summer time)")
			if a, ok := g.assessment(p, t.Add(-45*time.Minute), time.Time{}, start, false); ok {
				a.Notes = ptr("Assessed in the repeated hour (summer time)")
				a.CreatedAt, a.UpdatedAt = g.wall(t.Add(-10*time.Minute)), g.wall(t.Add(-10*time.Minute))
				d.Assessments = append(d.Assessments, a)
			}
		}
	}
	if spring != nil {
		t := spring.at // the first instant after the skipped readings
		if p, ok := athleteBefore(t, 0); ok {
			plant(p, t.Add(-15*time.Minute), 40*time.Minute, t.Add(30*time.Minute), "Run across the skipped hour")
		}
		if p, ok := athleteBefore(t, 1); ok {
			plant(p, t, 30*time.Minute, t.Add(35*time.Minute), "Started right after the clocks went forward")
		}
	}
}
