package plyomat

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/athlake/athlake/sandbox/internal/rgen"
	"github.com/athlake/athlake/sandbox/internal/scale"
)

// historyDays is how far back the generated history reaches.
const historyDays = 120

// params are the volumes of a scale.
type params struct {
	athletes, groups, devices, orgMembers int
	sessionsPerAthlete                    int // mean; each athlete has 50%–150% of it
}

func paramsFor(s scale.Scale) params {
	switch s {
	case scale.Medium:
		return params{athletes: 200, groups: 10, devices: 8, orgMembers: 10, sessionsPerAthlete: 15}
	case scale.Large:
		return params{athletes: 2000, groups: 40, devices: 25, orgMembers: 20, sessionsPerAthlete: 25}
	}
	return params{athletes: 20, groups: 3, devices: 3, orgMembers: 6, sessionsPerAthlete: 6}
}

// Word lists the generator picks from.
var (
	femaleNames = strings.Fields("Ava Mia Zoe Lena Nora Ingrid Sofia Amara Chloe Freya Hana Isla Jade Kaia Leila Maya Nia Olivia Priya Rosa Saoirse Tamsin Uma Yara Zara Ylva Aoife Beatriz Carmen Dalia")
	maleNames   = strings.Fields("Liam Noah Mateo Kai Luca Oskar Ethan Jonas Malik Rafael Sam Theo Victor Yusuf Aaron Bastian Caleb Diego Emil Finn Hugo Ivan Joaquin Kenji Lars Marco Nils Omar Pedro Ruben")
	lastNames   = strings.Split("Smith|Okafor|Nakamura|García|Müller|Rossi|Johansson|Kowalski|O'Brien|Dubois|Haddad|Silva|Novak|Andersen|Kim|Walker|Schmidt|Costa|Jensen|Murphy|Ibrahim|Fischer|Moreau|Park|Santos|Lindqvist|Nowak|Chen|Hughes|Petrov|van der Berg|Ó Súilleabháin", "|")
	groupNames  = strings.Split("Varsity Women|Varsity Men|Sprinters|Jumpers|Throwers|Academy U18|Academy U16|Return to Play|Basketball|Volleyball|Rugby Forwards|Rugby Backs|Soccer First Team|Soccer Reserves|Rowing|Tennis|Alpine Ski|Track Juniors|Masters|Injured List", "|")
	sessionKind = strings.Split("Weekly monitoring|Plyo block A|Plyo block B|Pre-season testing|Return-to-play check|Morning jumps|Post-match readiness|Reactive strength|Power day|Taper check", "|")
	noteTexts   = strings.Split("Felt heavy after travel|PB on the CMJ!|Left ankle taped|Coach: \"good stiffness\" on rebounds|Slept 5h — expect low numbers|Warm-up cut short|Mat moved to the turf hall|Δ +2 cm vs last week ✓|Athlete reported soreness (calves)|Testing under fatigue\nsecond line of notes", "|")
)

// gen makes synthetic records from one seeded random stream.
type gen struct {
	rgen.Gen
	al allocator
}

// changeLag bounds how long after its stamp a generated record was last
// changed.
const changeLag = 5 * 24 * time.Hour

func newGen(r *rand.Rand) *gen {
	return &gen{Gen: rgen.Gen{R: r, Step: time.Millisecond}}
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }
func round1(x float64) float64 { return math.Round(x*10) / 10 }

// uuid is a random (version 4 shaped) UUID from the seeded stream.
func (g *gen) uuid() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], g.R.Uint64())
	binary.BigEndian.PutUint64(b[8:], g.R.Uint64())
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // variant 10
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// instant is a random millisecond in (after, upTo]; ok is false when there
// is none.
func (g *gen) instant(after, upTo time.Time) (time.Time, bool) {
	lo := after.UTC().Truncate(time.Millisecond).Add(time.Millisecond)
	hi := upTo.UTC().Truncate(time.Millisecond)
	if hi.Before(lo) {
		return time.Time{}, false
	}
	n := int64(hi.Sub(lo) / time.Millisecond)
	return lo.Add(time.Duration(g.R.Int64N(n+1)) * time.Millisecond), true
}

// ability is an athlete's typical CMJ flight time in ms, derived from the
// id so that any athlete, however created, jumps consistently.
func ability(athleteID string) int {
	h := fnv.New32a()
	h.Write([]byte(athleteID))
	return 400 + int(h.Sum32()%201) // 400–600 ms
}

func (g *gen) athlete(id string, created, limit time.Time) Athlete {
	a := Athlete{ID: id, CreatedAt: created}
	switch x := g.R.IntN(100); {
	case x < 48:
		a.Gender, a.FirstName = "female", g.Pick(femaleNames)
		a.BodyWeightKg = 50 + g.R.Float64()*32
	case x < 96:
		a.Gender, a.FirstName = "male", g.Pick(maleNames)
		a.BodyWeightKg = 62 + g.R.Float64()*45
	default:
		a.Gender = "non_binary"
		if g.Chance(0.5) {
			a.FirstName = g.Pick(femaleNames)
		} else {
			a.FirstName = g.Pick(maleNames)
		}
		a.BodyWeightKg = 55 + g.R.Float64()*35
	}
	a.LastName = g.Pick(lastNames)
	a.BodyWeightKg = g.weight(a.BodyWeightKg)
	if g.Chance(0.4) {
		src := []string{"teambuildr", "smartabase", "csv_import"}[g.R.IntN(3)]
		a.ExternalSource = g.al.strs.new(src)
		a.ExternalID = g.al.strs.new(fmt.Sprintf("%s-%05d", strings.ToUpper(src[:2]), g.R.IntN(100000)))
	}
	a.UpdatedAt = g.Later(created, limit, 0.3, changeLag)
	return a
}

// weight is w rounded to a whole kilogram about a third of the time, else to
// a tenth.
func (g *gen) weight(w float64) float64 {
	if g.Chance(0.35) {
		return math.Round(w)
	}
	return round1(w)
}

func (g *gen) group(name string, created, limit time.Time) Group {
	gr := Group{ID: g.uuid(), Name: name, CreatedAt: created}
	if g.Chance(0.6) {
		gr.Description = g.al.strs.new(name + " squad, tested weekly")
	}
	gr.UpdatedAt = g.Later(created, limit, 0.3, changeLag)
	return gr
}

func (g *gen) device(created, limit time.Time) Device {
	models := []string{"Plyomat Pro", "Plyomat Pro 2", "Plyomat Lite"}
	d := Device{
		ID:              g.uuid(),
		SerialNumber:    fmt.Sprintf("PM-%06d", g.R.IntN(1000000)),
		Model:           models[g.R.IntN(len(models))],
		FirmwareVersion: fmt.Sprintf("%d.%d.%d", g.Between(2, 4), g.R.IntN(10), g.R.IntN(20)),
		CreatedAt:       created,
	}
	d.UpdatedAt = g.Later(created, limit, 0.5, changeLag)
	d.Calibration = map[string]any{
		"offset_ms":  round2(g.R.Float64()*4 - 2),
		"checked_at": ms(d.UpdatedAt).Format(wireTime),
		"sensor":     map[string]any{"gain": round2(0.95 + g.R.Float64()*0.1), "zeroed": g.Chance(0.8)},
	}
	return d
}

func (g *gen) orgMembers(n int, start time.Time) []OrgMember {
	roles := []string{"owner"}
	for i := 1; i < n; i++ {
		if i%2 == 1 {
			roles = append(roles, "coach")
		} else {
			roles = append(roles, "staff")
		}
	}
	archived := 1 + g.R.IntN(2)
	out := make([]OrgMember, n)
	for i := range out {
		first := g.Pick(femaleNames)
		if g.Chance(0.5) {
			first = g.Pick(maleNames)
		}
		last := g.Pick(lastNames)
		created := start.Add(-g.Dur(200*24*time.Hour, 1000*24*time.Hour))
		m := OrgMember{
			ID:        g.uuid(),
			Email:     strings.ToLower(strings.NewReplacer(" ", "", "'", "").Replace(first+"."+last)) + fmt.Sprintf("%d@club.example", i),
			FirstName: first,
			LastName:  last,
			Role:      roles[i],
			CreatedAt: created,
		}
		m.UpdatedAt = g.Later(created, start.Add(-time.Hour), 0.3, changeLag)
		// The last members (never the owner) are archived.
		if i >= n-archived && i > 0 {
			at, _ := g.instant(created, start.Add(-time.Hour))
			m.Archived, m.ArchivedAt, m.UpdatedAt = true, g.al.times.new(at), at
		}
		out[i] = m
	}
	return out
}

// assessment kinds: name, unit, and a score generator.
func (g *gen) assessment(athleteID string, assessed, limit time.Time) Assessment {
	a := Assessment{ID: g.uuid(), AthleteID: athleteID, AssessedAt: assessed}
	switch g.R.IntN(5) {
	case 0:
		a.Name, a.Unit = "CMJ height", "cm"
		a.Score = JumpHeightCm(ability(athleteID) + g.Between(-20, 20))
	case 1:
		a.Name, a.Unit = "RSI 10/5", "ratio"
		a.Score = round2(1.2 + g.R.Float64()*1.8)
	case 2:
		a.Name, a.Unit = "Squat 1RM", "kg"
		a.Score = float64(g.Between(16, 44) * 5) // whole numbers
	case 3:
		a.Name, a.Unit = "10 m sprint", "s"
		a.Score = round2(1.6 + g.R.Float64()*0.5)
	default:
		a.Name, a.Unit = "Readiness", "%"
		a.Score = round1(55 + g.R.Float64()*45)
	}
	a.CreatedAt = assessed.Add(g.Dur(time.Minute, time.Hour))
	if a.CreatedAt.After(limit) {
		a.CreatedAt = limit
	}
	a.UpdatedAt = g.Later(a.CreatedAt, limit, 0.15, changeLag)
	return a
}

// session makes a session of an athlete starting at start, with 2–5 sets
// of 3–8 reps. Everything it stamps lies within an hour of start. When
// later is true, some records get an update stamp after creation (never
// after limit).
func (g *gen) session(athleteID string, deviceID *string, start, limit time.Time, later bool) (Session, []Set) {
	s := Session{
		ID:        g.uuid(),
		AthleteID: athleteID,
		DeviceID:  deviceID,
		Name:      g.Pick(sessionKind),
		StartedAt: start,
	}
	if g.Chance(0.3) {
		s.Notes = g.al.strs.new(g.Pick(noteTexts))
	}
	base := ability(athleteID) + g.Between(-15, 15) // the day's form
	t := start.Add(g.Dur(time.Minute, 5*time.Minute))
	nSets := g.Between(2, 5)
	sets := make([]Set, nSets)
	pUpdate := 0.0
	if later {
		pUpdate = 0.08
	}
	for i := range sets {
		sets[i] = g.set(s, base, t)
		st := &sets[i]
		st.UpdatedAt = g.Later(st.CreatedAt, limit, pUpdate, changeLag)
		t = st.CreatedAt.Add(g.Dur(time.Minute, 4*time.Minute))
	}
	last := sets[nSets-1].CreatedAt
	if g.Chance(0.03) {
		// Never closed on the mat: no end, uploaded a minute later.
		s.CreatedAt = last.Add(time.Minute)
	} else {
		end := last.Add(g.Dur(30*time.Second, 5*time.Minute))
		s.EndedAt = g.al.times.new(end)
		s.CreatedAt = end.Add(g.Dur(0, 5*time.Second))
	}
	if later {
		s.UpdatedAt = g.Later(s.CreatedAt, limit, 0.1, changeLag)
	} else {
		s.UpdatedAt = s.CreatedAt
	}
	return s, sets
}

// set makes one set of a session starting at start.
func (g *gen) set(s Session, base int, start time.Time) Set {
	modes := []string{"cmj", "squat_jump", "drop_jump", "rebound"}
	st := Set{ID: g.uuid(), SessionID: s.ID, AthleteID: s.AthleteID, Mode: modes[g.R.IntN(len(modes))], StartedAt: start}
	var gap [2]time.Duration // time between reps
	switch st.Mode {
	case "cmj", "squat_jump":
		gap = [2]time.Duration{4 * time.Second, 10 * time.Second}
	case "drop_jump":
		heights := []float64{20, 30, 40, 60}
		st.DropHeightCm = g.al.floats.new(heights[g.R.IntN(len(heights))])
		gap = [2]time.Duration{10 * time.Second, 25 * time.Second}
	default: // rebound: continuous hops
		gap = [2]time.Duration{400 * time.Millisecond, 900 * time.Millisecond}
	}
	single := st.Mode == "rebound" && g.Chance(0.4) || g.Chance(0.1)
	n := g.Between(3, 8)
	st.Reps = make([]Rep, n)
	at := start.Add(g.Dur(1500*time.Millisecond, 4*time.Second))
	for i := range st.Reps {
		r := &st.Reps[i]
		r.RepIndex = i
		r.CapturedAt = at
		r.Side = "both"
		if single {
			r.Side = "left"
			if i%2 == 1 {
				r.Side = "right"
			}
		}
		r.IsKept = !g.Chance(0.1)
		ft := base + g.Between(-35, 35)
		switch st.Mode {
		case "squat_jump":
			ft -= 20
		case "drop_jump":
			ft -= 25
		case "rebound":
			ft -= 40
		}
		if single {
			ft -= 60
		}
		var ct *int
		switch st.Mode {
		case "drop_jump":
			ct = g.al.ints.new(g.Between(180, 350))
		case "rebound":
			ct = g.al.ints.new(g.Between(140, 260))
		}
		g.setJump(r, ft, ct)
		at = at.Add(g.Dur(gap[0], gap[1]))
	}
	st.CreatedAt = st.Reps[n-1].CapturedAt.Add(g.Dur(2*time.Second, 20*time.Second))
	st.UpdatedAt = st.CreatedAt
	return st
}

// setJump sets a rep's measured values and the values computed from them.
func (g *gen) setJump(r *Rep, flightMs int, contactMs *int) {
	flightMs = min(max(flightMs, 300), 650)
	r.FlightTimeMs = flightMs
	r.JumpHeightCm = JumpHeightCm(flightMs)
	r.ContactTimeMs = contactMs
	r.RSI = nil
	if contactMs != nil {
		*contactMs = min(max(*contactMs, 140), 350)
		r.RSI = g.al.floats.new(ReactiveStrengthIndex(r.JumpHeightCm, *contactMs))
	}
}

// generate builds the organisation's history before start.
func generate(g *gen, p params, start time.Time) Dataset {
	var d Dataset
	limit := start.Add(-time.Minute) // every history stamp is before start
	histStart := start.Add(-historyDays * 24 * time.Hour)

	for i := range p.groups {
		name := groupNames[i%len(groupNames)]
		if i >= len(groupNames) {
			name = fmt.Sprintf("%s %d", name, i/len(groupNames)+1)
		}
		d.Groups = append(d.Groups, g.group(name, histStart.Add(-g.Dur(30*24*time.Hour, 700*24*time.Hour)), limit))
	}
	for range p.devices {
		d.Devices = append(d.Devices, g.device(histStart.Add(-g.Dur(24*time.Hour, 700*24*time.Hour)), limit))
	}
	d.OrgMembers = g.orgMembers(p.orgMembers, start)

	day := start.Truncate(24 * time.Hour)
	nSessions := p.athletes * p.sessionsPerAthlete
	d.Sessions = make([]Session, 0, nSessions+nSessions/10)
	d.Sets = make([]Set, 0, nSessions*4)
	for range p.athletes {
		id := g.uuid()
		a := g.athlete(id, histStart.Add(-g.Dur(24*time.Hour, 400*24*time.Hour)), limit)
		d.Athletes = append(d.Athletes, a)
		// 0–2 groups.
		nGroups := 0
		switch x := g.R.IntN(100); {
		case x < 55:
			nGroups = 1
		case x < 80:
			nGroups = 2
		}
		for _, gi := range g.R.Perm(len(d.Groups))[:min(nGroups, len(d.Groups))] {
			d.Memberships = append(d.Memberships, Membership{GroupID: d.Groups[gi].ID, AthleteID: id})
		}
		// Sessions on distinct days of the history, between 06:00 and 19:59.
		n := min(p.sessionsPerAthlete/2+g.R.IntN(p.sessionsPerAthlete+1), historyDays)
		for _, dd := range g.R.Perm(historyDays)[:n] {
			at := day.Add(-time.Duration(dd+1) * 24 * time.Hour).Add(g.Dur(6*time.Hour, 14*time.Hour))
			var dev *string
			if len(d.Devices) > 0 && g.Chance(0.92) {
				dev = g.al.strs.new(d.Devices[g.R.IntN(len(d.Devices))].ID)
			}
			s, sets := g.session(id, dev, at, limit, true)
			d.Sessions = append(d.Sessions, s)
			d.Sets = append(d.Sets, sets...)
		}
		for range g.R.IntN(5) {
			at := histStart.Add(g.Dur(0, historyDays*24*time.Hour-2*time.Hour))
			d.Assessments = append(d.Assessments, g.assessment(id, at, limit))
		}
	}
	d.normalize()
	d.sort()
	return d
}
