package optimo

import (
	"encoding/binary"
	"time"
)

// defaultZone is Europe/Copenhagen: from the system's zone database, or,
// where there is none (and the program does not embed time/tzdata), from
// the zone's current rules (CET-1CEST,M3.5.0,M10.5.0/3), which hold for
// every date since 1996.
func defaultZone() *time.Location {
	if loc, err := time.LoadLocation(DefaultZone); err == nil {
		return loc
	}
	return copenhagenRules()
}

// copenhagenRules builds a location from a minimal TZif (version 2) file:
// no transitions, one type, and the POSIX TZ footer that Go applies to all
// times after the last transition, here all times.
func copenhagenRules() *time.Location {
	const footer = "CET-1CEST,M3.5.0,M10.5.0/3"
	block := func(b []byte) []byte {
		hdr := make([]byte, 20+24)
		copy(hdr, "TZif2")
		// isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
		for i, n := range []uint32{0, 0, 0, 0, 1, 4} {
			binary.BigEndian.PutUint32(hdr[20+4*i:], n)
		}
		b = append(b, hdr...)
		b = binary.BigEndian.AppendUint32(b, 3600) // utoff
		b = append(b, 0, 0)                        // isdst, desigidx
		return append(b, "CET\x00"...)
	}
	// The version 1 block, then the version 2 block (without transitions
	// the two are the same), then the footer.
	data := block(block(nil))
	data = append(data, "\n"+footer+"\n"...)
	loc, err := time.LoadLocationFromTZData(DefaultZone, data)
	if err != nil {
		return time.FixedZone("CET", 3600) // not reached: the data is fixed
	}
	return loc
}

// wallOf is the wall-clock reading of instant t in loc, in the UTC
// location, truncated to the second.
func wallOf(t time.Time, loc *time.Location) time.Time {
	w := t.In(loc)
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, time.UTC)
}

// asWall is t's own wall-clock reading (whatever its location) in the UTC
// location, truncated to the second.
func asWall(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

// wallToUTC is the instant a wall-clock reading means in loc: the first
// occurrence of a repeated reading (the offset before an autumn change); a
// skipped reading is read with the offset before the spring change (02:30
// on the spring day of Copenhagen is 01:30 UTC, i.e. 03:30 summer time).
func wallToUTC(wall time.Time, loc *time.Location) time.Time {
	w := asWall(wall)
	var best time.Time
	for _, probe := range []time.Duration{-12 * time.Hour, 12 * time.Hour} {
		_, off := w.Add(probe).In(loc).Zone()
		at := w.Add(-time.Duration(off) * time.Second)
		if _, real := at.In(loc).Zone(); real != off {
			continue // that offset is not in force at that instant
		}
		if best.IsZero() || at.Before(best) {
			best = at
		}
	}
	if best.IsZero() {
		_, off := w.Add(-12 * time.Hour).In(loc).Zone()
		best = w.Add(-time.Duration(off) * time.Second)
	}
	return best.UTC()
}

// transition is a change of UTC offset at an instant.
type transition struct {
	at          time.Time // the first instant of the new offset
	before, now int       // offsets in seconds
}

// repeats reports whether the change repeats wall-clock readings (autumn).
func (t transition) repeats() bool { return t.now < t.before }

// skips reports whether the change skips wall-clock readings (spring).
func (t transition) skips() bool { return t.now > t.before }

// transitions are the offset changes of loc in [from, to].
func transitions(loc *time.Location, from, to time.Time) []transition {
	var out []transition
	t := from.In(loc)
	for range 1000 {
		_, end := t.ZoneBounds()
		if end.IsZero() || end.After(to) || !end.After(t) {
			break
		}
		_, before := end.Add(-time.Second).In(loc).Zone()
		_, now := end.In(loc).Zone()
		if before != now {
			out = append(out, transition{at: end.UTC(), before: before, now: now})
		}
		t = end.In(loc)
	}
	return out
}

// span is a range of instants [lo, hi).
type span struct{ lo, hi time.Time }

// repeatedSpans are the instants of loc in [from, to] whose wall-clock
// reading is the second occurrence of a repeated reading.
func repeatedSpans(loc *time.Location, from, to time.Time) []span {
	var out []span
	for _, tr := range transitions(loc, from.Add(-48*time.Hour), to) {
		if tr.repeats() {
			out = append(out, span{tr.at, tr.at.Add(time.Duration(tr.before-tr.now) * time.Second)})
		}
	}
	return out
}

// historyDays is the span of the generated history before start: at least
// MinHistoryDays, and long enough to hold the zone's latest spring and
// autumn changes with a week to spare (at most MaxHistoryDays).
func historyDays(loc *time.Location, start time.Time) int {
	days := MinHistoryDays
	var lastRepeat, lastSkip time.Time
	for _, tr := range transitions(loc, start.Add(-(MaxHistoryDays-7)*24*time.Hour), start) {
		if tr.repeats() {
			lastRepeat = tr.at
		} else if tr.skips() {
			lastSkip = tr.at
		}
	}
	for _, at := range []time.Time{lastRepeat, lastSkip} {
		if !at.IsZero() {
			days = max(days, int(start.Sub(at)/(24*time.Hour))+8)
		}
	}
	return min(days, MaxHistoryDays)
}
