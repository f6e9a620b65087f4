package transform

import (
	"fmt"
	"testing"
	"time"
)

func TestParseISODuration(t *testing.T) {
	cases := map[string]int64{
		"PT0S": 0, "PT0.1S": 100, "PT4S": 4000, "PT59.9S": 59900, "PT1M2.3S": 62300,
		"PT1H2M3.4S": 3723400, "PT1H0M5S": 3605000, "P1DT2H": 93600000, "PT0.0005S": 1,
		"PT4.25S": 4250, "PT90M": 5400000, "-PT1S": -1000,
	}
	for in, want := range cases {
		got, err := ParseISODuration(in)
		if err != nil || got != want {
			t.Errorf("ParseISODuration(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "P", "PT", "4S", "PT1S2M", "P1Y", "PT.5S", "PT5.S", "PTS", "PT1H1H", "P1W", "PT1.2.3S", "PTT1S"} {
		if got, err := ParseISODuration(bad); err == nil {
			t.Errorf("ParseISODuration(%q) = %d, want an error", bad, got)
		}
	}
}

func FuzzISODuration(f *testing.F) {
	for _, s := range []string{"PT0.1S", "PT1M2.3S", "P1DT2H", "PT", "-PT9S"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseISODuration(s)
		if err != nil {
			return
		}
		// Whatever parses must round-trip through a canonical form.
		neg := ms < 0
		if neg {
			ms = -ms
		}
		canon := fmt.Sprintf("PT%d.%03dS", ms/1000, ms%1000)
		if neg {
			canon = "-" + canon
		}
		back, err := ParseISODuration(canon)
		if err != nil || (back != ms && back != -ms) {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, ms, canon, back, err)
		}
	})
}

func TestWallToUTC(t *testing.T) {
	cph, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatal(err)
	}
	w := func(s string) time.Time { v, _ := time.Parse("2006-01-02 15:04:05", s); return v }
	cases := map[string]string{
		"2026-06-01 12:00:00": "2026-06-01T10:00:00Z", // CEST
		"2026-01-15 12:00:00": "2026-01-15T11:00:00Z", // CET
		"2026-10-25 02:30:00": "2026-10-25T00:30:00Z", // repeated hour: the first (CEST)
		"2026-10-25 03:30:00": "2026-10-25T02:30:00Z",
		"2026-03-29 02:30:00": "2026-03-29T01:30:00Z", // skipped hour: read in CET
		"2026-03-29 03:30:00": "2026-03-29T01:30:00Z",
		"2026-03-29 01:59:59": "2026-03-29T00:59:59Z",
	}
	for in, want := range cases {
		if got := WallToUTC(w(in), cph).Format(time.RFC3339); got != want {
			t.Errorf("WallToUTC(%s) = %s, want %s", in, got, want)
		}
	}
}
