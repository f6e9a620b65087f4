package jobs

import (
	"fmt"
	"testing"
	"time"
)

// wallUTCOracle returns the tests' own conversion of an Optimo wall-clock
// reading (held in a UTC time.Time) to the instant it names in the zone
// called name, for the expected values views are compared to. It shares
// nothing with the code under test (transform.WallToUTC) or the sandbox:
// it asks the zone database, through time.Date, for every instant whose
// reading in the zone is wall, and applies the rule extract/optimo and
// transform document:
//   - a reading that occurs twice (the hour repeated when clocks go back)
//     names its first occurrence, the earlier instant;
//   - a reading that never occurs (the hour skipped when clocks go forward)
//     is read in the offset in force just before the change, as a clock
//     that was not put forward would show it.
func wallUTCOracle(name string) func(time.Time) time.Time {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // the tests' zones are in the zone database
	}
	reads := func(at, wall time.Time) bool {
		l := at.In(loc)
		return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC).Equal(wall)
	}
	return func(wall time.Time) time.Time {
		guess := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), loc)
		// Every instant reading wall lies within a few hours of any
		// other (no zone moves its clock by more), on a quarter-hour
		// grid from the guess (offsets are whole quarter-hours).
		var first time.Time
		for d := -6 * time.Hour; d <= 6*time.Hour; d += 15 * time.Minute {
			if at := guess.Add(d); reads(at, wall) && (first.IsZero() || at.Before(first)) {
				first = at
			}
		}
		if !first.IsZero() {
			return first.UTC()
		}
		// Skipped: find the last minute before the change, whose reading
		// is still before wall, and read wall in the offset it has.
		var before time.Time
		for at := guess.Add(-6 * time.Hour); at.Before(guess.Add(6 * time.Hour)); at = at.Add(time.Minute) {
			l := at.In(loc)
			if time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), 0, time.UTC).Before(wall) {
				before = at
			}
		}
		if before.IsZero() {
			panic(fmt.Sprintf("wall-clock reading %v: no instant before it near %v in %s", wall, guess, name))
		}
		_, off := before.In(loc).Zone()
		return wall.Add(-time.Duration(off) * time.Second).UTC()
	}
}

// TestWallUTCOracle pins the oracle to instants worked out by hand around
// Copenhagen's DST changes (CET is UTC+1, CEST UTC+2; summer time ended
// 2025-10-26 at 03:00 CEST and began 2026-03-29 at 02:00 CET).
func TestWallUTCOracle(t *testing.T) {
	t.Parallel()
	utc := wallUTCOracle("Europe/Copenhagen")
	for _, c := range []struct{ wall, want string }{
		{"2026-06-01T12:00:00Z", "2026-06-01T10:00:00Z"}, // summer
		{"2026-01-10T12:00:00Z", "2026-01-10T11:00:00Z"}, // winter
		{"2025-10-26T01:59:59Z", "2025-10-25T23:59:59Z"}, // before the repeated hour
		{"2025-10-26T02:00:00Z", "2025-10-26T00:00:00Z"}, // repeated: its first occurrence (CEST)
		{"2025-10-26T02:30:00Z", "2025-10-26T00:30:00Z"},
		{"2025-10-26T02:59:59Z", "2025-10-26T00:59:59Z"},
		{"2025-10-26T03:00:00Z", "2025-10-26T02:00:00Z"}, // after it (CET)
		{"2026-03-29T01:45:00Z", "2026-03-29T00:45:00Z"}, // before the skipped hour (CET)
		{"2026-03-29T02:00:00Z", "2026-03-29T01:00:00Z"}, // skipped: read in CET
		{"2026-03-29T02:30:00Z", "2026-03-29T01:30:00Z"},
		{"2026-03-29T02:59:59Z", "2026-03-29T01:59:59Z"},
		{"2026-03-29T03:00:00Z", "2026-03-29T01:00:00Z"}, // the first reading after it (CEST)
	} {
		wall, _ := time.Parse(time.RFC3339, c.wall)
		if got := utc(wall).Format(time.RFC3339); got != c.want {
			t.Errorf("%s: %s, want %s", c.wall, got, c.want)
		}
	}
}
