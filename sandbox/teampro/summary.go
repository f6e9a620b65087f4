package teampro

import (
	"math"
	"time"
)

// totals are what a session's recording gives its player session and its
// summary (see Summary for the definitions).
type totals struct {
	hasHR                    bool
	hrMax, hrAvg, hrMin      int
	hrMaxRef                 int // the player's maximum heart rate
	hasDistance              bool
	distance                 float64
	hasSpeed                 bool
	speedAvgKmh, speedMaxKmh float64
	hasCadence               bool
	cadenceAvg, cadenceMax   int
	sprints                  int
	calories                 float64
	cardio, training, muscle float64
	recoveryMs               float64
	fatPercent               int
	hasAltitude              bool
	ascent, descent          float64
	hasFix                   bool
	lat, lon                 float64 // first fix, float32 precision
	hrZones                  []HRZone
	speedZones               []SpeedZone
	accelZones               []AccelZone
	powerZones               []PowerZone
}

// Speed zone limits, km/h (the vendor's defaults for team sports).
func speedZoneLimits() [6]int { return [6]int{3, 7, 11, 15, 19, 40} }

// analyse computes the totals of a recording (raw channels, short rows
// already cut).
func analyse(s *series, p profile, hasPower bool) totals {
	var t totals
	hrMax := int(p.hrMax)
	t.hrMaxRef = hrMax
	n := s.n
	dur := float64(n) / 600 // minutes

	// Heart rate.
	var hrLim [6]int
	for i := range 5 {
		hrLim[i] = int(math.Round(p.hrMax * (0.5 + 0.1*float64(i))))
	}
	hrLim[5] = hrMax
	t.hrZones = make([]HRZone, 5)
	for i := range t.hrZones {
		t.hrZones[i] = HRZone{Index: i + 1, LowerLimit: hrLim[i], HigherLimit: hrLim[i+1]}
	}
	hrSum, hrN := 0.0, 0
	trimp := 0.0
	var hist [256]int
	for i := range n {
		hr := s.at(chHR, i)
		if math.IsNaN(hr) {
			continue
		}
		h := int(hr)
		if hrN == 0 || h > t.hrMax {
			t.hrMax = h
		}
		if hrN == 0 || h < t.hrMin {
			t.hrMin = h
		}
		hrSum += hr
		hrN++
		if z := zoneOf(hr, hrLim[:]); z >= 0 {
			t.hrZones[z].InZoneMs += 100
		}
		if hr >= 0 && hr < float64(len(hist)) && hr == math.Trunc(hr) {
			hist[int(hr)]++ // heart rates are whole: weigh each value once
		} else {
			trimp += trimpWeight(hr, p)
		}
	}
	for h, c := range hist {
		if c > 0 {
			trimp += float64(c) * trimpWeight(float64(h), p)
		}
	}
	avgHR := 0.0
	if hrN > 0 {
		t.hasHR = true
		avgHR = hrSum / float64(hrN)
		t.hrAvg = int(math.Round(avgHR))
	}
	t.cardio = round1(trimp)
	t.training = math.Round(trimp * 1.3)
	t.recoveryMs = math.Round((6 + trimp*0.2) * 3.6e6)
	if t.hasHR {
		t.fatPercent = max(5, min(60, int(math.Round(100-100*avgHR/p.hrMax))))
		// Keytel et al. (2005), kcal.
		var perMin float64
		if p.female {
			perMin = (-20.4022 + 0.4472*avgHR - 0.1263*p.mass + 0.074*p.age) / 4.184
		} else {
			perMin = (-55.0969 + 0.6309*avgHR + 0.1988*p.mass + 0.2017*p.age) / 4.184
		}
		t.calories = math.Round(math.Max(0, perMin) * dur)
	}

	// Speed, distance, sprints, speed zones.
	lim := speedZoneLimits()
	t.speedZones = make([]SpeedZone, 5)
	for i := range t.speedZones {
		t.speedZones[i] = SpeedZone{Index: i + 1, LowerLimit: lim[i], HigherLimit: lim[i+1]}
	}
	var spSum float64
	spN, run := 0, 0
	for i := range n {
		d := s.at(chDistance, i)
		if !math.IsNaN(d) {
			t.hasDistance, t.distance = true, d
		}
		v := s.at(chSpeed, i)
		if math.IsNaN(v) {
			run = 0
			continue
		}
		spSum += v
		spN++
		kmh := v * 3.6
		if spN == 1 || kmh > t.speedMaxKmh {
			t.speedMaxKmh = kmh
		}
		if v >= sprintSpeed {
			run++
			if run == 10 {
				t.sprints++
			}
		} else {
			run = 0
		}
		if i > 0 {
			d0 := s.at(chDistance, i-1)
			if z := zoneOfLimits(kmh, lim[:]); z >= 0 && !math.IsNaN(d) && !math.IsNaN(d0) {
				t.speedZones[z].InZoneMeters += d - d0
			}
		}
	}
	for i := range t.speedZones {
		t.speedZones[i].InZoneMeters = round1(t.speedZones[i].InZoneMeters)
	}
	if spN > 0 {
		t.hasSpeed = true
		t.speedAvgKmh = round1(spSum / float64(spN) * 3.6)
		t.speedMaxKmh = round1(t.speedMaxKmh)
	}

	// Cadence.
	cadSum, cadN := 0.0, 0
	for i := range n {
		c := s.at(chCadence, i)
		if math.IsNaN(c) {
			continue
		}
		t.hasCadence = true
		t.cadenceMax = max(t.cadenceMax, int(c))
		if c > 0 {
			cadSum += c
			cadN++
		}
	}
	if cadN > 0 {
		t.cadenceAvg = int(math.Round(cadSum / float64(cadN)))
	}

	// Accelerations: runs beyond ±1 m/s², zoned by their peak.
	t.accelZones = []AccelZone{{Limit: -3}, {Limit: -2}, {Limit: -1}, {Limit: 1}, {Limit: 2}, {Limit: 3}}
	sign, peak := 0, 0.0
	flush := func() {
		if sign == 0 {
			return
		}
		m := math.Min(3, math.Floor(math.Abs(peak)))
		idx := 2 + int(m) // 1 -> 3, 2 -> 4, 3 -> 5
		if sign < 0 {
			idx = 3 - int(m) // -1 -> 2, -2 -> 1, -3 -> 0
		}
		t.accelZones[idx].Counter++
		sign = 0
	}
	for i := range n {
		a := s.at(chAccel, i)
		switch {
		case math.IsNaN(a):
			flush()
		case a >= 1:
			if sign < 0 {
				flush()
			}
			if sign == 0 {
				sign, peak = 1, a
			}
			peak = math.Max(peak, a)
		case a <= -1:
			if sign > 0 {
				flush()
			}
			if sign == 0 {
				sign, peak = -1, a
			}
			peak = math.Min(peak, a)
		default:
			flush()
		}
	}
	flush()

	// Power zones and muscle load (work, kJ).
	mapW := p.mass * 1.04 * 5
	var pLim [6]int
	for i := range 5 {
		pLim[i] = int(math.Round(mapW * (0.5 + 0.1*float64(i))))
	}
	pLim[5] = int(math.Round(mapW))
	t.powerZones = make([]PowerZone, 5)
	for i := range t.powerZones {
		t.powerZones[i] = PowerZone{Index: i + 1, LowerLimit: pLim[i], HigherLimit: pLim[i+1]}
	}
	work := 0.0
	for i := range n {
		w := s.at(chPower, i)
		if math.IsNaN(w) {
			continue
		}
		work += w * 0.1 / 1000
		if !hasPower {
			continue
		}
		if z := zoneOf(w, pLim[:]); z >= 0 {
			t.powerZones[z].InZoneMs += 100
			t.powerZones[z].InZoneMuscleLoad += w * 0.1 / 1000
		}
	}
	for i := range t.powerZones {
		t.powerZones[i].InZoneMuscleLoad = round1(t.powerZones[i].InZoneMuscleLoad)
	}
	t.muscle = round1(work)

	// Altitude: ascent and descent with a 1 m hysteresis.
	ref := math.NaN()
	for i := range n {
		a := s.at(chAltitude, i)
		if math.IsNaN(a) {
			continue
		}
		t.hasAltitude = true
		switch {
		case math.IsNaN(ref):
			ref = a
		case a-ref >= 1:
			t.ascent += a - ref
			ref = a
		case ref-a >= 1:
			t.descent += ref - a
			ref = a
		}
	}
	t.ascent, t.descent = round1(t.ascent), round1(t.descent)

	for i := range n {
		la, lo := s.at(chLat, i), s.at(chLon, i)
		if !math.IsNaN(la) && !math.IsNaN(lo) {
			t.hasFix, t.lat, t.lon = true, f32(la), f32(lo)
			break
		}
	}
	return t
}

// trimpWeight is one sample's (100 ms) share of Banister's TRIMP.
func trimpWeight(hr float64, p profile) float64 {
	hrr := math.Max(0, math.Min(1, (hr-p.hrRest)/(p.hrMax-p.hrRest)))
	return 0.1 / 60 * hrr * 0.64 * math.Exp(1.92*hrr)
}

// zoneOf is the zone of x for limits l[0] < l[1] < ... < l[5]: i when
// l[i] <= x < l[i+1]; the top zone also takes x >= l[5]; -1 below l[0].
func zoneOf(x float64, l []int) int {
	if x < float64(l[0]) {
		return -1
	}
	for i := len(l) - 2; i >= 0; i-- {
		if x >= float64(l[i]) {
			return i
		}
	}
	return -1
}

// zoneOfLimits is zoneOf without the open top: -1 at or above the last
// limit.
func zoneOfLimits(x float64, l []int) int {
	if x >= float64(l[len(l)-1]) {
		return -1
	}
	return zoneOf(x, l)
}

// setTotals writes a recording's totals into a player session and, for a
// TEAM session, its summary (ts is its team session, nil otherwise).
func setTotals(ps *PlayerSession, t totals, ts *TeamSession, running bool) {
	fp := func(ok bool, v float64) *float64 {
		if !ok {
			return nil
		}
		return &v
	}
	ip := func(ok bool, v int) *int {
		if !ok {
			return nil
		}
		return &v
	}
	ps.Calories = fp(t.hasHR, t.calories)
	ps.DistanceMeters = fp(t.hasDistance, t.distance)
	ps.TrainingLoad = fp(t.hasHR, t.training)
	ps.CardioLoad = fp(t.hasHR, t.cardio)
	ps.MuscleLoad = fp(true, t.muscle)
	ps.RecoveryTimeMs = fp(t.hasHR, t.recoveryMs)
	ps.FatPercentage = ip(t.hasHR, t.fatPercent)
	ps.HeartRateMax = ip(t.hasHR, t.hrMax)
	ps.HeartRateAvg = ip(t.hasHR, t.hrAvg)
	ps.SprintCounter = ip(t.hasSpeed, t.sprints)
	ps.Ascent = fp(t.hasAltitude, t.ascent)
	ps.Descent = fp(t.hasAltitude, t.descent)
	ps.Latitude = fp(t.hasFix, t.lat)
	ps.Longitude = fp(t.hasFix, t.lon)
	if running && t.hasSpeed && t.hasHR {
		// Polar's running index: speed relative to heart-rate reserve.
		ri := int(math.Round(30 + t.speedAvgKmh*2.2 - float64(t.hrAvg-120)*0.1))
		ps.RunningIndex = &ri
	} else {
		ps.RunningIndex = nil
	}
	if ts == nil {
		ps.Summary = nil
		return
	}
	pct := func(v int) int { return int(math.Round(100 * float64(v) / float64(max(t.hrMaxRef, 1)))) }
	sm := &Summary{
		PlayerSessionID:     ps.ID,
		Created:             ps.Created,
		Modified:            laterOf(ts.Modified, ps.Modified),
		TrimmedStartTime:    ts.StartTime,
		DurationMs:          ps.DurationMs,
		DistanceMeters:      fp(t.hasDistance, t.distance),
		KiloCalories:        fp(t.hasHR, t.calories),
		HeartRateMax:        ip(t.hasHR, t.hrMax),
		HeartRateAvg:        ip(t.hasHR, t.hrAvg),
		HeartRateMin:        ip(t.hasHR, t.hrMin),
		HeartRateMaxPercent: ip(t.hasHR, pct(t.hrMax)),
		HeartRateAvgPercent: ip(t.hasHR, pct(t.hrAvg)),
		HeartRateMinPercent: ip(t.hasHR, pct(t.hrMin)),
		SprintCounter:       ip(t.hasSpeed, t.sprints),
		SpeedAvgKmh:         fp(t.hasSpeed, t.speedAvgKmh),
		SpeedMaxKmh:         fp(t.hasSpeed, t.speedMaxKmh),
		CadenceAvg:          ip(t.hasCadence, t.cadenceAvg),
		CadenceMax:          ip(t.hasCadence, t.cadenceMax),
		TrainingLoad:        fp(t.hasHR, t.training),
		CardioLoad:          fp(t.hasHR, t.cardio),
		MuscleLoad:          fp(true, t.muscle),
		HeartRateZones:      t.hrZones,
		SpeedZones:          t.speedZones,
		AccelerationZones:   t.accelZones,
		PowerZones:          t.powerZones,
	}
	ps.Summary = sm
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
