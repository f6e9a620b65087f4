package teampro

import (
	"testing"
	"time"
)

// TestBackfillWindow: the vendor's exclusive wall-clock window holds every
// session that can start in [since, until] at any offset, and keep takes
// exactly those, both bounds inclusive to the millisecond.
func TestBackfillWindow(t *testing.T) {
	since := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	until := time.Date(2026, 5, 2, 10, 0, 0, 0, time.UTC)
	w, keep := backfillWindow(since, until)
	q := w.values()
	if got, want := q.Get("since"), "2026-04-30T21:59:59"; got != want {
		t.Errorf("since = %s, want %s", got, want)
	}
	if got, want := q.Get("until"), "2026-05-03T00:00:01"; got != want {
		t.Errorf("until = %s, want %s", got, want)
	}
	off := func(m int64) *int64 { return &m }
	for _, c := range []struct {
		start  string
		offset *int64
		want   bool
	}{
		{"2026-05-01T12:00:00", off(120), true}, // at since
		{"2026-05-01T11:59:59.999", off(120), false},
		{"2026-05-02T12:00:00", off(120), true}, // at until
		{"2026-05-02T12:00:00.001", off(120), false},
		{"2026-05-01T10:00:00", nil, true}, // no offset: read as UTC
		{"2026-05-01T09:59:59.999", nil, false},
		{"2026-04-30T22:00:00", off(-720), true}, // UTC-12, at since
		{"2026-05-03T00:00:00", off(840), true},  // UTC+14, at until
		{"2026-05-03T00:00:00", off(-720), false},
	} {
		if got := keep(listed{StartTime: c.start, TimezoneOffset: c.offset}); got != c.want {
			t.Errorf("start %s offset %v: keep = %v, want %v", c.start, c.offset, got, c.want)
		}
		// Every session kept is inside the vendor's window.
		wall, _ := time.Parse("2006-01-02T15:04:05.999", c.start)
		if c.want && !(wall.After(w.Since) && wall.Before(w.Until)) {
			t.Errorf("start %s kept but outside the vendor's window (%s, %s)", c.start, q.Get("since"), q.Get("until"))
		}
	}
	// Unbounded: no filter sent, everything kept.
	w, keep = backfillWindow(time.Time{}, time.Time{})
	if q := w.values(); len(q) != 0 || !keep(listed{StartTime: "1999-01-01T00:00:00"}) {
		t.Errorf("unbounded window: %v", q)
	}
}
