package teampro

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/athlake/athlake/sandbox/internal/rgen"
	"github.com/athlake/athlake/sandbox/internal/scale"
)

// params are the volumes of a scale.
type params struct {
	teams, players, sessions int // sessions per team
	minDur, maxDur           time.Duration
	individual               int // INDIVIDUAL sessions in all
	indMin, indMax           time.Duration
	historyDays              int
	allPlay                  bool // every player takes part in every team session
}

func paramsFor(s scale.Scale) params {
	switch s {
	case scale.Medium:
		return params{teams: 2, players: 12, sessions: 10, minDur: 45 * time.Minute, maxDur: 90 * time.Minute,
			individual: 12, indMin: 25 * time.Minute, indMax: 60 * time.Minute, historyDays: 42}
	case scale.Large:
		return params{teams: 4, players: 20, sessions: 40, minDur: 45 * time.Minute, maxDur: 90 * time.Minute,
			individual: 80, indMin: 25 * time.Minute, indMax: 60 * time.Minute, historyDays: 140}
	}
	return params{teams: 1, players: 6, sessions: 3, minDur: 20 * time.Minute, maxDur: 40 * time.Minute,
		individual: 2, indMin: 20 * time.Minute, indMax: 40 * time.Minute, historyDays: 14, allPlay: true}
}

// Word lists the generator picks from.
var (
	firstNames = strings.Split("Ava|Mia|Zoe|Lena|Nora|Ingrid|Sofia|Amara|Freya|Hana|Isla|Jade|Maya|Nia|Priya|Saoirse|Yara|Ylva|Liam|Noah|Mateo|Kai|Luca|Oskar|Ethan|Jonas|Malik|Rafael|Theo|Victor|Yusuf|Bastian|Caleb|Diego|Emil|Finn|Hugo|Joaquín|Kenji|Lars|Nils|Omar|Pedro|Søren|Ólafur|Jürgen|Zoë|François", "|")
	lastNames  = strings.Split("Smith|Okafor|Nakamura|García|Müller|Rossi|Johansson|Kowalski|O'Brien|Dubois|Haddad|Silva|Novak|Andersen|Kim|Walker|Schmidt|Costa|Jensen|Murphy|Ibrahim|Fischer|Moreau|Park|Santos|Lindqvist|Nowak|Chen|Hughes|Petrov|van der Berg|Ó Súilleabháin|Nørgaard|Åberg", "|")
	nicknames  = strings.Split("Vikings|Falcons|Rovers|Wanderers|Athletic|United|Lions|Harbour|Academy|Ravens", "|")
	opponents  = strings.Split("Brazil national team|FC Nordvest|Lyngby Boldklub|Malmö FF U19|Hertha Zehlendorf|AFC Ajax Amateurs|Rosenborg 2|\"The Old Boys\"|SK Rapid II|Borussia Jugend", "|")
	teamNotes  = strings.Split("Game started very well, but we lost 0-8|Heavy rain, pitch slippery|Focus: pressing triggers\nsecond half: 4-4-2|Coach away – assistant led the session|Windy 12 m/s from NW|Good intensity ✓|New GPS vests on the U19s|Short session after travel|Δ tempo blocks vs last week|Altitude camp prep", "|")
	psNotes    = strings.Split("Awesome training.|Legs heavy|Tight hamstring (left)|Felt great 💪|Slept badly|Sore after Sunday's match|Strap slipped in 2nd half|Easy day|Pushed hard in the last block|\"Best session this month\"", "|")
	indNames   = strings.Split("Morning run|Recovery jog|Tempo run|Easy run|Long run|Hill repeats|Fartlek", "|")
	products   = strings.Split("Polar Team Pro Shirt|Polar Team Pro|Polar Verity Sense|Polar H10", "|")
	watches    = strings.Split("Polar Vantage V3|Polar Grit X2 Pro|Polar Pacer Pro|Polar Ignite 3", "|")
)

// city is a team's home town (all in the CET/CEST zone).
type city struct {
	name          string
	lat, lon, alt float64
}

func cities() []city {
	return []city{
		{"Copenhagen", 55.6761, 12.5683, 14},
		{"Berlin", 52.52, 13.405, 34},
		{"Stockholm", 59.3293, 18.0686, 28},
		{"Amsterdam", 52.3676, 4.9041, 2},
		{"Oslo", 59.9139, 10.7522, 23},
		{"Vienna", 48.2082, 16.3738, 190},
	}
}

// Team sports; the indoor ones have no GPS.
func teamSports() []string {
	return []string{"SOCCER", "RUGBY", "FIELD_HOCKEY", "HANDBALL", "BASKETBALL"}
}

func indoor(sport string) bool { return sport == "HANDBALL" || sport == "BASKETBALL" }

func roles(sport string) []string {
	switch sport {
	case "RUGBY":
		return []string{"Prop", "Hooker", "Lock", "Flanker", "Scrum-half", "Fly-half", "Centre", "Wing", "Fullback"}
	case "HANDBALL":
		return []string{"Goalkeeper", "Wing", "Back", "Pivot"}
	case "BASKETBALL":
		return []string{"Point guard", "Shooting guard", "Small forward", "Power forward", "Center"}
	}
	return []string{"Goalkeeper", "Defender", "Midfielder", "Forward"}
}

// gen makes synthetic records from one seeded random stream.
type gen struct {
	rgen.Gen
	taken func(string) bool // ids in use before this generator
	made  map[string]bool
	// maxDur, if set, caps every session's duration (Options.MaxDuration).
	maxDur time.Duration
}

// changeLag bounds how long after its stamp a generated record was last
// changed.
const changeLag = 4 * 24 * time.Hour

func newGen(r *rand.Rand, taken func(string) bool, maxDur time.Duration) *gen {
	return &gen{Gen: rgen.Gen{R: r, Step: time.Second}, taken: taken, made: map[string]bool{}, maxDur: maxDur}
}

// capped is d within Options.MaxDuration.
func (g *gen) capped(d time.Duration) time.Duration {
	if g.maxDur > 0 {
		return min(d, g.maxDur)
	}
	return d
}

func (g *gen) strp(list []string, p float64) *string {
	if !g.Chance(p) {
		return nil
	}
	s := g.Pick(list)
	return &s
}

// id is a new 8-character id like the vendor's ("wMYz6L4w").
func (g *gen) id() string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b [8]byte
	for {
		for i := range b {
			b[i] = alphabet[g.R.IntN(len(alphabet))]
		}
		id := string(b[:])
		if !g.made[id] && (g.taken == nil || !g.taken(id)) {
			g.made[id] = true
			return id
		}
	}
}

// CET/CEST: summer time from the last Sunday of March, 01:00 UTC, to the
// last Sunday of October, 01:00 UTC.
func cetOffset(utc time.Time) int {
	y := utc.Year()
	lastSunday := func(m time.Month) time.Time {
		t := time.Date(y, m+1, 1, 1, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
		return t.AddDate(0, 0, -int(t.Weekday()))
	}
	if !utc.Before(lastSunday(time.March)) && utc.Before(lastSunday(time.October)) {
		return 120
	}
	return 60
}

// wallOf is the wall-clock reading of an instant at an offset (minutes),
// in the UTC location.
func wallOf(utc time.Time, offset int) time.Time {
	return utc.UTC().Add(time.Duration(offset) * time.Minute)
}

// utcOfWall is the instant of a CET/CEST wall-clock reading, and its
// offset.
func utcOfWall(wall time.Time) (time.Time, int) {
	off := cetOffset(wall.Add(-time.Hour))
	u := wall.Add(-time.Duration(off) * time.Minute)
	if o := cetOffset(u); o != off {
		off, u = o, wall.Add(-time.Duration(o)*time.Minute)
	}
	return u, off
}

// venue is where a team trains.
type venue struct {
	lat, lon, alt, angle float64
	arena                string
}

func (g *gen) venue(c city, name string) venue {
	return venue{
		lat:   c.lat + (g.R.Float64()*2-1)*0.04,
		lon:   c.lon + (g.R.Float64()*2-1)*0.06,
		alt:   c.alt + float64(g.Between(-5, 15)),
		angle: g.R.Float64() * math.Pi,
		arena: name,
	}
}

// home is where and what a team plays: not part of the API's data, kept
// by the server for the sessions Advance makes.
type home struct {
	sport string
	city  city
	venue venue
}

// teamCtx is what sessions need to know of their team.
type teamCtx struct {
	team *Team
	home
}

func (g *gen) team(i int, c city, sport string, created, limit time.Time, players int) teamCtx {
	nick := nicknames[i%len(nicknames)]
	suffix := []string{"First Team", "U19", "U17", "Women", "Reserves"}[g.R.IntN(5)]
	t := &Team{
		ID:           g.id(),
		Name:         fmt.Sprintf("%s %s %s", c.name, nick, suffix),
		Organisation: c.name + " " + nick + " Sports Club",
		Created:      created,
	}
	t.Modified = g.Later(created, limit, 0.5, changeLag)
	rs := roles(sport)
	numbers := g.R.Perm(99)
	for k := range players {
		role := rs[g.R.IntN(len(rs))]
		if g.Chance(0.05) {
			role = "" // not set by the coach
		}
		t.Players = append(t.Players, Player{
			PlayerID:     g.id(),
			PlayerNumber: numbers[k] + 1,
			Role:         role,
			FirstName:    g.Pick(firstNames),
			LastName:     g.Pick(lastNames),
		})
	}
	slices.SortFunc(t.Players, func(a, b Player) int { return a.PlayerNumber - b.PlayerNumber })
	arena := fmt.Sprintf("%s Sports Park, pitch %d", c.name, g.Between(1, 4))
	if indoor(sport) {
		arena = c.name + " Arena, hall " + strconv.Itoa(g.Between(1, 3))
	}
	return teamCtx{team: t, home: home{sport: sport, city: c, venue: g.venue(c, arena)}}
}

// Team session types with their weights (percent).
func sessionType(x int) string {
	switch {
	case x < 55:
		return "TRAINING"
	case x < 70:
		return "MATCH"
	case x < 75:
		return "GAME"
	case x < 83:
		return "DRILL"
	case x < 88:
		return "TEST"
	case x < 95:
		return "STRENGTH AND CONDITION"
	}
	return "OTHER"
}

func program(typ string) int {
	switch typ {
	case "MATCH", "GAME":
		return progMatch
	case "DRILL", "TEST":
		return progDrill
	case "STRENGTH AND CONDITION":
		return progStrength
	}
	return progTraining
}

func (g *gen) sessionName(typ string, wall time.Time) string {
	switch typ {
	case "MATCH":
		return []string{"Match against ", "League match: ", "Cup match vs "}[g.R.IntN(3)] + g.Pick(opponents)
	case "GAME":
		return []string{"Internal game", "Friendly vs " + g.Pick(opponents)}[g.R.IntN(2)]
	case "DRILL":
		return []string{"Passing drills", "Finishing drills", "Set pieces"}[g.R.IntN(3)]
	case "TEST":
		return []string{"Yo-Yo IR1 test", "30-15 IFT", "Sprint test 30 m"}[g.R.IntN(3)]
	case "STRENGTH AND CONDITION":
		return []string{"Gym + conditioning", "S&C block"}[g.R.IntN(2)]
	case "OTHER":
		return []string{"Team walk", "Mobility & yoga"}[g.R.IntN(2)]
	}
	if g.Chance(0.5) {
		return wall.Weekday().String() + " training"
	}
	return []string{"Technical session", "Possession game", "Pre-match activation", "Recovery training"}[g.R.IntN(4)]
}

// Marker names of a program's phases.
func phaseName(prog, k int) string {
	switch prog {
	case progMatch:
		return []string{"Warm-up", "First half", "Half-time", "Second half", "Cool-down"}[min(k, 4)]
	case progDrill:
		return []string{"Warm-up", "Intervals", "Cool-down"}[min(k, 2)]
	case progStrength:
		return []string{"Warm-up", "Circuit", "Stretching"}[min(k, 2)]
	}
	return []string{"Warm-up", "Intervals", "Small-sided games", "Cool-down"}[min(k, 3)]
}

// markers puts phase markers on a session's phases, and notes and a
// recovery here and there. Times are instants with milliseconds.
func (g *gen) markers(prog, rows int, utcStart time.Time) []Marker {
	src := sampleSource{rows: rows, prog: prog}
	phases := src.phases()
	at := func(row int) time.Time {
		return utcStart.Add(time.Duration(row)*100*time.Millisecond + time.Duration(g.R.IntN(1000))*time.Millisecond)
	}
	var out []Marker
	from := 0
	for k, ph := range phases {
		if g.Chance(0.85) {
			m := Marker{StartTime: at(from), EndTime: at(ph.end), MarkerType: "PHASE", Name: phaseName(prog, k)}
			if g.Chance(0.3) {
				m.Note = &[]string{"Cooling down", "High tempo", "Focus on transitions", "Keep it light"}[g.R.IntN(4)]
			}
			out = append(out, m)
		}
		from = ph.end
	}
	for range g.R.IntN(3) {
		t := at(g.R.IntN(max(rows, 1)))
		note := []string{"Sub: #7 on", "Injury stop", "Goal ⚽", "Drinks", "Player left early"}[g.R.IntN(5)]
		out = append(out, Marker{StartTime: t, EndTime: t, MarkerType: "NOTE", Name: "Note", Note: &note})
	}
	if prog != progMatch && g.Chance(0.4) && rows > 0 {
		a := g.R.IntN(rows)
		out = append(out, Marker{StartTime: at(a), EndTime: at(min(rows, a+600+g.R.IntN(1200))), MarkerType: "RECOVERY", Name: "Water break"})
	}
	slices.SortStableFunc(out, func(a, b Marker) int { return a.StartTime.Compare(b.StartTime) })
	return out
}

func (g *gen) feeling() *string {
	if g.Chance(0.35) {
		return nil
	}
	var f string
	switch x := g.R.IntN(100); {
	case x < 5:
		f = "BAD"
	case x < 15:
		f = "NOT_GOOD"
	case x < 50:
		f = "OKAY"
	case x < 85:
		f = "GREAT"
	default:
		f = "AWESOME"
	}
	if g.Chance(0.3) {
		f += "," // as the vendor's example sends it
	}
	return &f
}

// fields picks the sample fields a session sends: time first, then a
// seeded subset in the documented order or (a third of the time) shuffled.
func (g *gen) fields(gps, power bool) []string {
	var fs []string
	add := func(p float64, names ...string) {
		if g.Chance(p) {
			fs = append(fs, names...)
		}
	}
	add(0.9, "distance")
	add(0.95, "hr")
	add(0.95, "speed")
	add(0.7, "cadence")
	if gps {
		add(0.9, "lat", "lon")
		add(0.6, "altitude")
	}
	add(0.7, "forward_acceleration")
	if power {
		fs = append(fs, "power")
	}
	if len(fs) == 0 {
		fs = append(fs, "hr")
	}
	if g.Chance(0.35) {
		g.R.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
	}
	return append([]string{sampleFieldTime}, fs...)
}

// anomalies picks a few short rows and a few rows with extra values.
func (g *gen) anomalies(rows, nFields int) (extra, short map[int]int) {
	if rows == 0 {
		return nil, nil
	}
	used := map[int]bool{}
	row := func() int {
		for {
			if i := g.R.IntN(rows); !used[i] || len(used) >= rows {
				used[i] = true
				return i
			}
		}
	}
	if g.Chance(0.4) && nFields > 1 {
		short = map[int]int{}
		if g.Chance(0.3) {
			used[0] = true
			short[0] = 1 // like the vendor's first example row
		}
		for range g.Between(1, 3) {
			short[row()] = g.Between(1, min(3, nFields-1))
		}
	}
	if g.Chance(0.3) {
		extra = map[int]int{}
		for range g.Between(1, 3) {
			extra[row()] = g.Between(1, 2)
		}
	}
	return extra, short
}

// pending is a generated player session whose totals are still to be
// computed from its recording.
type pending struct {
	ps  *PlayerSession
	src *sampleSource
	ts  *TeamSession // nil for INDIVIDUAL
}

// teamSession makes a team session of tc starting at utcStart (whole
// seconds), with a player session for each participant (indexes into the
// roster). Everything it stamps lies before utcStart + dur + 2 h, and
// before limit.
func (g *gen) teamSession(tc teamCtx, utcStart time.Time, d time.Duration, limit time.Time, participants []int, edited bool) (TeamSession, []PlayerSession, []*sampleSource) {
	d = g.capped(d)
	off := cetOffset(utcStart)
	wallStart := wallOf(utcStart, off)
	typ := sessionType(g.R.IntN(100))
	prog := program(typ)
	v := tc.venue
	if typ == "MATCH" && g.Chance(0.5) {
		v = g.venue(tc.city, g.Pick(opponents)+" stadium")
	}
	gps := !indoor(tc.sport) && g.Chance(0.92)
	ts := TeamSession{
		ID:              g.id(),
		TeamID:          tc.team.ID,
		Name:            g.sessionName(typ, wallStart),
		Type:            typ,
		Note:            g.strp(teamNotes, 0.4),
		RecordStartTime: wallStart.Add(-g.Dur(0, 5*time.Minute)),
		StartTime:       wallStart,
		EndTime:         wallStart.Add(d),
		Sport:           tc.sport,
	}
	ts.RecordEndTime = ts.EndTime.Add(g.Dur(0, 10*time.Minute))
	if gps {
		lat, lon := f32(v.lat), f32(v.lon)
		ts.Latitude, ts.Longitude = &lat, &lon
	}
	if g.Chance(0.85) {
		a := v.arena
		ts.Arena = &a
	}
	recordEnd := utcStart.Add(ts.RecordEndTime.Sub(ts.StartTime))
	ts.Created = minTime(recordEnd.Add(g.Dur(5*time.Minute, 90*time.Minute)), limit)
	ts.Modified = ts.Created
	if edited {
		ts.Modified = g.Later(ts.Created, limit, 0.2, changeLag)
	}
	rows := int(d / (100 * time.Millisecond))
	ts.Markers = g.markers(prog, rows, utcStart)

	var out []PlayerSession
	var srcs []*sampleSource
	for _, k := range participants {
		pl := tc.team.Players[k]
		tsID := ts.ID
		ps := PlayerSession{
			ID:            g.id(),
			PlayerID:      pl.PlayerID,
			TeamSessionID: &tsID,
			Type:          TypeTeam,
			Created:       minTime(ts.Created.Add(g.Dur(time.Second, 30*time.Second)), limit),
			Sport:         tc.sport,
			Name:          ts.Name,
			Feeling:       g.feeling(),
			Note:          g.strp(psNotes, 0.25),
			StartTime:     ts.StartTime,
			StopTime:      ts.EndTime,
			DurationMs:    d.Milliseconds(),
			Product:       g.strp(products, 0.95),
		}
		g.stamp(&ps, off, limit, edited)
		src := &sampleSource{
			seed: g.R.Uint64(), rows: rows, prog: prog, gps: gps,
			lat0: v.lat, lon0: v.lon, alt0: v.alt, angle: v.angle,
			hasPower: g.Chance(0.25), hasRR: g.Chance(0.85), prof: profileOf(pl.PlayerID),
		}
		ps.Fields = g.fields(gps, src.hasPower)
		ps.Extra, ps.Short = g.anomalies(rows, len(ps.Fields))
		ts.Participants = append(ts.Participants, Participant{
			PlayerID: pl.PlayerID, PlayerNumber: pl.PlayerNumber, Role: pl.Role, PlayerSessionID: ps.ID,
		})
		out = append(out, ps)
		srcs = append(srcs, src)
	}
	return ts, out, srcs
}

// individual makes a player's own run starting at utcStart.
func (g *gen) individual(tc teamCtx, player Player, utcStart time.Time, d time.Duration, limit time.Time, edited bool) (PlayerSession, *sampleSource) {
	d = g.capped(d)
	off := cetOffset(utcStart)
	wallStart := wallOf(utcStart, off)
	rows := int(d / (100 * time.Millisecond))
	gps := g.Chance(0.95)
	ps := PlayerSession{
		ID:         g.id(),
		PlayerID:   player.PlayerID,
		Type:       TypeIndividual,
		Created:    minTime(utcStart.Add(d).Add(g.Dur(2*time.Minute, 2*time.Hour)), limit),
		Sport:      "RUNNING",
		Name:       g.Pick(indNames),
		Feeling:    g.feeling(),
		Note:       g.strp(psNotes, 0.3),
		StartTime:  wallStart,
		StopTime:   wallStart.Add(d),
		DurationMs: d.Milliseconds(),
		Product:    g.strp(watches, 0.97),
	}
	g.stamp(&ps, off, limit, edited)
	start := g.venue(tc.city, "")
	src := &sampleSource{
		seed: g.R.Uint64(), rows: rows, prog: progRun, gps: gps,
		lat0: start.lat, lon0: start.lon, alt0: start.alt, angle: 0,
		hasPower: g.Chance(0.4), hasRR: g.Chance(0.7), prof: profileOf(player.PlayerID),
	}
	ps.Fields = g.fields(gps, src.hasPower)
	ps.Extra, ps.Short = g.anomalies(rows, len(ps.Fields))
	return ps, src
}

// stamp sets a new player session's modified stamp (sometimes later than
// created when edited, never after limit) and, for most, its timezone
// offset off.
func (g *gen) stamp(ps *PlayerSession, off int, limit time.Time, edited bool) {
	ps.Modified = ps.Created
	if edited {
		ps.Modified = g.Later(ps.Created, limit, 0.15, changeLag)
	}
	if g.Chance(0.92) {
		ps.TimezoneOffset = &off
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// participants picks who takes part in a team session.
func (g *gen) participants(n int, all bool) []int {
	var out []int
	for k := range n {
		if all || g.Chance(0.9) {
			out = append(out, k)
		}
	}
	if len(out) < min(2, n) {
		out = []int{0, n - 1}[:min(2, n)]
	}
	return out
}

// generate builds the organisation's history before start.
func generate(g *gen, p params, start time.Time) (Dataset, map[string]*sampleSource, map[string]home) {
	var d Dataset
	srcs := map[string]*sampleSource{}
	homes := map[string]home{}
	limit := start.Add(-time.Minute)
	today := start.Truncate(24 * time.Hour)
	cs := cities()
	sports := teamSports()
	var teams []teamCtx
	for i := range p.teams {
		sport := "SOCCER"
		if i > 0 {
			sport = sports[g.R.IntN(len(sports))]
		}
		created := start.Add(-time.Duration(p.historyDays)*24*time.Hour - g.Dur(30*24*time.Hour, 900*24*time.Hour))
		tc := g.team(i, cs[i%len(cs)], sport, created, limit, p.players)
		teams = append(teams, tc)
		homes[tc.team.ID] = tc.home
		d.Teams = append(d.Teams, *tc.team)
	}

	var work []pending
	for _, tc := range teams {
		days := g.R.Perm(p.historyDays)[:min(p.sessions, p.historyDays)]
		for _, dd := range days {
			// Local 09:00–19:30.
			wall := today.Add(-time.Duration(dd+1) * 24 * time.Hour).Add(g.Dur(9*time.Hour, 19*time.Hour+30*time.Minute))
			utcStart, _ := utcOfWall(wall)
			ts, pss, ss := g.teamSession(tc, utcStart, g.Dur(p.minDur, p.maxDur), limit, g.participants(len(tc.team.Players), p.allPlay), true)
			d.TeamSessions = append(d.TeamSessions, ts)
			for k := range pss {
				d.PlayerSessions = append(d.PlayerSessions, pss[k])
				srcs[pss[k].ID] = ss[k]
			}
		}
	}
	// INDIVIDUAL sessions: morning runs (local 06:00–07:59), before any team
	// session of the day. At small scale, one each for two players.
	var who []int
	if p.allPlay {
		who = g.R.Perm(p.players)[:min(p.individual, p.players)]
	}
	for k := range p.individual {
		tc := teams[g.R.IntN(len(teams))]
		pi := g.R.IntN(len(tc.team.Players))
		if who != nil {
			tc, pi = teams[0], who[k%len(who)]
		}
		wall := today.Add(-time.Duration(g.R.IntN(p.historyDays)+1) * 24 * time.Hour).Add(g.Dur(6*time.Hour, 8*time.Hour-time.Second))
		utcStart, _ := utcOfWall(wall)
		ps, src := g.individual(tc, tc.team.Players[pi], utcStart, g.Dur(p.indMin, p.indMax), limit, true)
		d.PlayerSessions = append(d.PlayerSessions, ps)
		srcs[ps.ID] = src
	}

	tsByID := map[string]*TeamSession{}
	for i := range d.TeamSessions {
		tsByID[d.TeamSessions[i].ID] = &d.TeamSessions[i]
	}
	for i := range d.PlayerSessions {
		ps := &d.PlayerSessions[i]
		var ts *TeamSession
		if ps.TeamSessionID != nil {
			ts = tsByID[*ps.TeamSessionID]
		}
		work = append(work, pending{ps: ps, src: srcs[ps.ID], ts: ts})
	}
	computeTotals(work)
	d.normalize()
	d.sort()
	return d, srcs, homes
}

// computeTotals computes the totals (and summaries) of sessions from their
// recordings, in parallel: each is generated, analysed and dropped.
func computeTotals(work []pending) {
	parallel(len(work), func(i int) {
		w := work[i]
		s := w.src.generate()
		applyShort(s, w.ps.Fields, w.ps.Short)
		setTotals(w.ps, analyse(s, w.src.prof, w.src.hasPower), w.ts, w.ps.Sport == "RUNNING")
	})
}

// parallel runs fn(0) ... fn(n-1) on GOMAXPROCS goroutines and waits.
func parallel(n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}
