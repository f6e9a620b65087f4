package teampro

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
)

// sampleFieldTime is the first field of every sample row: the offset from
// the session's start as an ISO-8601 duration.
const sampleFieldTime = "time"

// Sample channels, in the vendor's documented order of the fields.
const (
	chDistance = iota
	chHR
	chSpeed
	chCadence
	chLat
	chLon
	chAltitude
	chAccel
	chPower
	nChan
)

// channels are the channels' sample field names and the Sample fields
// of the float channels (power, an integer, has none).
var channels = [nChan]struct {
	name  string
	field func(x *Sample) **float64
}{
	chDistance: {"distance", func(x *Sample) **float64 { return &x.Distance }},
	chHR:       {"hr", func(x *Sample) **float64 { return &x.HR }},
	chSpeed:    {"speed", func(x *Sample) **float64 { return &x.Speed }},
	chCadence:  {"cadence", func(x *Sample) **float64 { return &x.Cadence }},
	chLat:      {"lat", func(x *Sample) **float64 { return &x.Lat }},
	chLon:      {"lon", func(x *Sample) **float64 { return &x.Lon }},
	chAltitude: {"altitude", func(x *Sample) **float64 { return &x.Altitude }},
	chAccel:    {"forward_acceleration", func(x *Sample) **float64 { return &x.ForwardAcceleration }},
	chPower:    {name: "power"},
}

// channelOf is the channel of a sample field name, or -1 ("time" and
// unknown names).
func channelOf(name string) int {
	for ch, c := range channels {
		if c.name == name {
			return ch
		}
	}
	return -1
}

// series is a session's samples in columns: NaN is null, a nil column is
// null throughout. rr holds the RR intervals in ms, -1 for null.
type series struct {
	n   int
	col [nChan][]float64
	rr  []int64
}

func (s *series) at(ch, i int) float64 {
	if c := s.col[ch]; c != nil && i < len(c) {
		return c[i]
	}
	return math.NaN()
}

// Program kinds: how a session's intensity unfolds.
const (
	progTraining = iota
	progMatch
	progDrill    // drills and tests: intervals
	progStrength // strength and conditioning: little running
	progRun      // an individual run
)

// profile is a player's physiology, derived from the player id so that a
// player is the same athlete in every session.
type profile struct {
	hrRest, hrMax float64 // bpm; hrMax <= 200
	vmax          float64 // top speed, m/s (<= 9)
	mass          float64 // kg
	age           float64
	female        bool
}

func profileOf(playerID string) profile {
	h := fnv.New64a()
	h.Write([]byte(playerID))
	r := rand.New(rand.NewPCG(h.Sum64(), 0x70726f66696c65))
	p := profile{
		hrRest: float64(46 + r.IntN(17)),
		hrMax:  float64(186 + r.IntN(15)),
		vmax:   7.6 + r.Float64()*1.4,
		age:    float64(17 + r.IntN(18)),
		female: r.IntN(3) == 0,
	}
	if p.female {
		p.mass = 55 + r.Float64()*20
	} else {
		p.mass = 65 + r.Float64()*27
	}
	p.mass = math.Round(p.mass)
	return p
}

// sampleSource is everything that determines a generated session's
// samples and RR intervals: they are produced again, identically, from it
// whenever they are needed. It is immutable once made.
type sampleSource struct {
	seed     uint64
	rows     int
	prog     int
	gps      bool
	lat0     float64 // pitch centre or run start
	lon0     float64
	alt0     float64 // m
	angle    float64 // pitch orientation, radians
	hasPower bool    // a power meter: power is sent and has zones
	hasRR    bool
	prof     profile
	rev      int // edit passes applied (Advance re-processes sessions)
}

// withRev is src with one more edit pass.
func (src *sampleSource) withRev() *sampleSource {
	c := *src
	c.rev++
	return &c
}

// Pitch half-sizes, m.
const (
	pitchHalfLength = 52.5
	pitchHalfWidth  = 34.0
	metresPerDegree = 111320.0
	sprintSpeed     = 6.5 // m/s
	maxSpeed        = 9.0
	hrFloor         = 60
	hrCeiling       = 195
)

// rnd rounds half away from zero, like math.Round, for |x| < 2^62 (and
// cheaper).
func rnd(x float64) float64 {
	if x >= 0 {
		return float64(int64(x + 0.5))
	}
	return -float64(int64(-x + 0.5))
}

func round1(x float64) float64 { return rnd(x*10) / 10 }
func round2(x float64) float64 { return rnd(x*100) / 100 }
func round7(x float64) float64 { return rnd(x*1e7) / 1e7 }
func f32(x float64) float64    { return float64(float32(x)) }

// Speed categories: target speed ranges (m/s) and how long (rows) a target
// is held.
const (
	catStand = iota
	catWalk
	catJog
	catRun
	catHigh
	catSprint
)

// Modes of a program's phases; each has its own mix of speed categories.
const (
	modeWarmup = iota
	modeIntervals
	modeGame
	modeRest
	modeCooldown
	modeStrength
	modeSteady
)

// phase is a stretch of a program: rows [.., end) in a mode.
type phase struct {
	end  int
	mode int
}

func (src *sampleSource) phases() []phase {
	n := src.rows
	at := func(f float64) int { return int(f * float64(n)) }
	var ps []phase
	switch src.prog {
	case progMatch:
		ps = []phase{{at(0.12), modeWarmup}, {at(0.52), modeGame}, {at(0.6), modeRest}, {at(0.97), modeGame}, {n, modeCooldown}}
	case progDrill:
		ps = []phase{{at(0.2), modeWarmup}, {at(0.8), modeIntervals}, {n, modeCooldown}}
	case progStrength:
		ps = []phase{{at(0.2), modeWarmup}, {at(0.9), modeStrength}, {n, modeCooldown}}
	case progRun:
		ps = []phase{{at(0.1), modeWarmup}, {at(0.9), modeSteady}, {n, modeCooldown}}
	default:
		ps = []phase{{at(0.15), modeWarmup}, {at(0.45), modeIntervals}, {at(0.85), modeGame}, {n, modeCooldown}}
	}
	return ps
}

// category draws a speed category for a mode; work tells intervals' work
// blocks from their rests.
func category(r *rand.Rand, mode int, work bool) int {
	x := r.Float64()
	pick := func(p ...float64) int {
		for i, q := range p {
			if x < q {
				return i
			}
			x -= q
		}
		return len(p)
	}
	switch mode {
	case modeWarmup:
		return pick(0.1, 0.3, 0.5, 0.1) // stand walk jog run
	case modeIntervals:
		if work {
			return catRun + pick(0.4, 0.35) // run high sprint
		}
		return pick(0.3, 0.5) // stand walk jog
	case modeGame:
		return pick(0.15, 0.33, 0.25, 0.14, 0.08) // ... sprint 5%
	case modeRest:
		return pick(0.6) // stand walk
	case modeStrength:
		return pick(0.5, 0.4, 0.08, 0.015) // mostly on the spot
	case modeSteady:
		return catJog + pick(0.2, 0.7, 0.08) // jog run high sprint
	}
	return pick(0.2, 0.5) // cool-down: stand walk jog
}

func target(r *rand.Rand, cat int, vmax float64) (v float64, hold int) {
	u := r.Float64()
	switch cat {
	case catStand:
		return u * 0.3, 20 + r.IntN(81)
	case catWalk:
		return 0.8 + u, 30 + r.IntN(71)
	case catJog:
		return 2 + 1.5*u, 30 + r.IntN(91)
	case catRun:
		return 3.5 + 2*u, 20 + r.IntN(61)
	case catHigh:
		return 5.5 + 1.5*u, 10 + r.IntN(31)
	}
	return 7 + (vmax-7)*u, 12 + r.IntN(24)
}

// window is rows [from, to).
type window struct{ from, to int }

func (w window) has(i int) bool { return i >= w.from && i < w.to }

// windows draws k stretches of length [lo, hi] rows in [first, n).
func windows(r *rand.Rand, k, lo, hi, first, n int) []window {
	var out []window
	for range k {
		l := lo + r.IntN(hi-lo+1)
		if n-first-l <= 0 {
			continue
		}
		a := first + r.IntN(n-first-l)
		out = append(out, window{a, a + l})
	}
	return out
}

// generate produces the session's raw recording: every channel the device
// recorded (power estimated even without a power meter; lat, lon and
// altitude null throughout without GPS), before any field is left out.
func (src *sampleSource) generate() *series {
	n := max(src.rows, 0)
	r := rand.New(rand.NewPCG(src.seed, 0x73616d706c6573))
	s := &series{n: n}
	buf := make([]float64, nChan*n)
	for ch := range nChan {
		s.col[ch] = buf[ch*n : (ch+1)*n : (ch+1)*n]
	}
	p := src.prof
	plan := src.phases()

	// Dropouts, decided first: transmission glitches and strap loss (hr
	// null), GPS losses (lat, lon and altitude null).
	glitches := windows(r, 2+r.IntN(5), 1, 5, 1, n)
	var strap []window
	if r.Float64() < 0.2 {
		strap = windows(r, 1, 30, 200, 10, n)
	}
	var gpsLost []window
	if src.gps {
		gpsLost = windows(r, 1+r.IntN(4), 20, 150, 5, n)
	}

	var (
		v, prev, dist float64 // speed (raw), previous rounded speed, distance
		tgt           float64
		hold          int
		hr            = p.hrRest + 20 + r.Float64()*10
		x, y          float64
		nextBeat      = r.Float64() * 600 // ms
		work          = true
		block         = 0
		ph            = 0
		cosLat        = math.Cos(src.lat0 * math.Pi / 180)
		sinA, cosA    = math.Sincos(src.angle)
		hrTop         = min(hrCeiling, p.hrMax)
		turn          = 0.12
		altAmp        = 0.8
		altWave       = 3000.0
	)
	if src.prog == progRun {
		turn, altAmp, altWave = 0.02, 6, 9000
	} else {
		x = (r.Float64()*2 - 1) * pitchHalfLength * 0.8
		y = (r.Float64()*2 - 1) * pitchHalfWidth * 0.8
	}
	// The heading and the altitude's slow wave as unit vectors, turned a
	// little every sample (cheaper than trigonometry per sample).
	hy, hx := math.Sincos(r.Float64() * 2 * math.Pi)
	ay, ax := math.Sincos(r.Float64() * 2 * math.Pi)
	dy, dx := math.Sincos(2 * math.Pi / altWave)
	if src.hasRR {
		s.rr = make([]int64, 0, n/4)
	}
	lost := func(i int) bool { return false }
	if len(strap) > 0 {
		lost = func(i int) bool { return strap[0].has(i) }
	}

	for i := range n {
		for ph < len(plan)-1 && i >= plan[ph].end {
			ph++
		}
		mode := plan[ph].mode
		if mode == modeIntervals {
			if block <= 0 {
				work = !work
				if work {
					block = 150 + r.IntN(251)
				} else {
					block = 100 + r.IntN(151)
				}
				hold = 0
			}
			block--
		}
		if hold <= 0 {
			tgt, hold = target(r, category(r, mode, work), p.vmax)
		}
		hold--

		// Speed: towards the target, with bounded acceleration.
		dv := max(-0.45, min(0.35, (tgt-v)*0.2)) + (r.Float64()-0.5)*0.05
		if i == 0 {
			v, dv = 0, 0
		}
		v = max(0, min(min(maxSpeed, p.vmax), v+dv))
		speed := round2(v)
		accel := 0.0
		if i > 0 {
			accel = round2((speed - prev) * 10)
			dist += (speed + prev) / 2 * 0.1
		}
		prev = speed
		s.col[chSpeed][i] = speed
		s.col[chAccel][i] = accel
		s.col[chDistance][i] = round2(dist)

		// Cadence: steps per minute when walking or running.
		switch {
		case speed < 0.3:
			s.col[chCadence][i] = 0
		case speed < 2:
			s.col[chCadence][i] = rnd(93 + 12*speed + r.Float64()*4)
		default:
			s.col[chCadence][i] = min(215, rnd(147+6.5*speed+r.Float64()*6))
		}

		// Heart rate: a lagged response to the effort (concave in speed),
		// drifting up with fatigue.
		e := min(1, v/6.2)
		hrT := p.hrRest + (p.hrMax-p.hrRest)*(0.22+0.72*e*(1.25-0.25*e)) + 4*float64(i)/float64(n)
		tau := 15.0
		if hrT < hr {
			tau = 28
		}
		hr += (hrT-hr)*(0.1/tau) + (r.Float64()-0.5)*0.8
		hr = max(hrFloor, min(hrTop, hr))
		s.col[chHR][i] = max(hrFloor, min(hrTop, rnd(hr+r.NormFloat64()*0.6)))

		// Position: along the heading at the speed, inside the pitch.
		t := (r.Float64() - 0.5) * 3.4 * turn // the heading turns by t radians
		hx, hy = hx-t*hy, hy+t*hx
		norm := 1 / math.Sqrt(hx*hx+hy*hy)
		hx, hy = hx*norm, hy*norm
		step := speed * 0.1
		x += step * hx
		y += step * hy
		if src.prog != progRun {
			if x > pitchHalfLength || x < -pitchHalfLength {
				x = max(-pitchHalfLength, min(pitchHalfLength, x))
				hx = -hx
			}
			if y > pitchHalfWidth || y < -pitchHalfWidth {
				y = max(-pitchHalfWidth, min(pitchHalfWidth, y))
				hy = -hy
			}
		}
		east := x*cosA - y*sinA + (r.Float64()-0.5)*0.3
		north := x*sinA + y*cosA + (r.Float64()-0.5)*0.3
		s.col[chLat][i] = round7(src.lat0 + north/metresPerDegree)
		s.col[chLon][i] = round7(src.lon0 + east/(metresPerDegree*cosLat))
		s.col[chAltitude][i] = round1(src.alt0 + altAmp*ay + (r.Float64()-0.5)*0.5)
		ax, ay = ax*dx-ay*dy, ay*dx+ax*dy

		// Power: running cost plus the work of accelerating.
		s.col[chPower][i] = min(1500, rnd(p.mass*(1.04*speed+0.5*max(accel, 0)*speed)))

		// RR intervals: one per beat that falls in this sample.
		if src.hasRR {
			off := lost(i)
			for nextBeat < float64(i+1)*100 {
				rr := 60000 / hr * (1 + r.NormFloat64()*0.025)
				nextBeat += rr
				if off || r.Float64() < 0.012 {
					s.rr = append(s.rr, -1)
				} else {
					s.rr = append(s.rr, int64(rnd(rr)))
				}
			}
		}
	}
	for _, w := range slices.Concat(glitches, strap) {
		for i := w.from; i < w.to; i++ {
			s.col[chHR][i] = math.NaN()
		}
	}
	for _, w := range gpsLost {
		for i := w.from; i < w.to; i++ {
			s.col[chLat][i], s.col[chLon][i], s.col[chAltitude][i] = math.NaN(), math.NaN(), math.NaN()
		}
	}
	if !src.gps {
		s.col[chLat], s.col[chLon], s.col[chAltitude] = nil, nil, nil
	}
	for k := 1; k <= src.rev; k++ {
		src.edit(s, k)
	}
	return s
}

// edit applies the k-th re-processing of a session: heart rate in a
// stretch shifted by a few beats, RR artefacts in a stretch repaired and a
// few new ones flagged.
func (src *sampleSource) edit(s *series, k int) {
	r := rand.New(rand.NewPCG(src.seed, 0x65646974^uint64(k)<<32))
	hrTop := math.Min(hrCeiling, src.prof.hrMax)
	if s.n > 0 {
		l := min(100+r.IntN(501), s.n)
		a := r.IntN(s.n - l + 1)
		delta := float64(1 + r.IntN(4))
		if r.IntN(2) == 0 {
			delta = -delta
		}
		hr := s.col[chHR]
		for i := a; i < a+l; i++ {
			if !math.IsNaN(hr[i]) {
				hr[i] = math.Max(hrFloor, math.Min(hrTop, hr[i]+delta))
			}
		}
	}
	if n := len(s.rr); n > 0 {
		l := min(50+r.IntN(300), n)
		a := r.IntN(n - l + 1)
		for i := a; i < a+l; i++ {
			if s.rr[i] < 0 && i > 0 && s.rr[i-1] > 0 {
				s.rr[i] = s.rr[i-1]
			}
		}
		for range 1 + r.IntN(3) {
			s.rr[r.IntN(n)] = -1
		}
	}
}

// applyShort nulls, in each short row, the trailing values the wire leaves
// out (never the first field).
func applyShort(s *series, fields []string, short map[int]int) {
	for row, k := range short {
		if k = min(k, len(fields)-1); row < 0 || row >= s.n || k <= 0 {
			continue
		}
		for _, f := range fields[len(fields)-k:] {
			if ch := channelOf(f); ch >= 0 && s.col[ch] != nil {
				s.col[ch][row] = math.NaN()
			}
		}
	}
}

// maskFields nulls the channels a session does not send.
func maskFields(s *series, fields []string) {
	var sent [nChan]bool
	for _, f := range fields {
		if ch := channelOf(f); ch >= 0 {
			sent[ch] = true
		}
	}
	for ch := range nChan {
		if !sent[ch] {
			s.col[ch] = nil
		}
	}
}

// truthSeries is what the wire carries for a generated session: the raw
// recording with short rows cut and unsent fields nulled.
func (src *sampleSource) truthSeries(fields []string, short map[int]int) *series {
	s := src.generate()
	applyShort(s, fields, short)
	maskFields(s, fields)
	return s
}

// toSamples converts a series to the truth's samples; the pointers share
// one slab per session.
func (s *series) toSamples() []Sample {
	out := make([]Sample, s.n)
	vals := 0
	for ch := range nChan {
		if ch == chPower {
			continue
		}
		for _, v := range s.col[ch] {
			if !math.IsNaN(v) {
				vals++
			}
		}
	}
	slab := make([]float64, 0, vals)
	var powers []int64
	if c := s.col[chPower]; c != nil {
		powers = make([]int64, 0, len(c))
	}
	ptr := func(ch, i int) *float64 {
		v := s.at(ch, i)
		if math.IsNaN(v) {
			return nil
		}
		slab = append(slab, v)
		return &slab[len(slab)-1]
	}
	for i := range out {
		o := &out[i]
		o.OffsetMs = int64(i) * 100
		for ch, c := range channels[:chPower] {
			*c.field(o) = ptr(ch, i)
		}
		if v := s.at(chPower, i); !math.IsNaN(v) {
			powers = append(powers, int64(v))
			o.Power = &powers[len(powers)-1]
		}
	}
	return out
}

// rrList converts RR intervals to the truth's form.
func rrList(rr []int64) []*int {
	if rr == nil {
		return nil
	}
	out := make([]*int, len(rr))
	vals := make([]int, len(rr))
	for i, v := range rr {
		if v >= 0 {
			vals[i] = int(v)
			out[i] = &vals[i]
		}
	}
	return out
}

// seriesOf converts explicit samples (set through Mutate) to columns. The
// row index is the sample's position; OffsetMs is kept for the time column.
func seriesOf(samples []Sample, rr []*int) (*series, []int64) {
	n := len(samples)
	s := &series{n: n}
	buf := make([]float64, nChan*n)
	for ch := range nChan {
		s.col[ch] = buf[ch*n : (ch+1)*n : (ch+1)*n]
	}
	offsets := make([]int64, n)
	get := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	for i := range samples {
		x := &samples[i]
		offsets[i] = x.OffsetMs
		for ch, c := range channels[:chPower] {
			s.col[ch][i] = get(*c.field(x))
		}
		s.col[chPower][i] = math.NaN()
		if x.Power != nil {
			s.col[chPower][i] = float64(*x.Power)
		}
	}
	if rr != nil {
		s.rr = make([]int64, len(rr))
		for i, p := range rr {
			s.rr[i] = -1
			if p != nil {
				s.rr[i] = int64(*p)
			}
		}
	}
	return s, offsets
}
