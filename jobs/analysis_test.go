package jobs

import (
	"context"
	"log/slog"
	"math"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/athlake/athlake/internal/testlog"
	"github.com/athlake/athlake/load/views"
)

// TestAnalysisViewsOverSandbox syncs the sandbox (the demo) and checks the
// analysis views against the raw views, computed independently here, in a
// database of tables (the demo's) and in one of views over the files.
func TestAnalysisViewsOverSandbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	out := &testlog.Buffer{}
	env := &Env{Stdout: out, Stderr: out, Log: slog.New(slog.DiscardHandler)}
	dir := t.TempDir()
	if err := Demo(ctx, env, DemoOptions{Out: dir}); err != nil {
		t.Fatal(err)
	}
	cfg := SandboxConfig("http://127.0.0.1:1", dir) // views call no API
	cfg.Views = string(views.Files)
	cfg.DuckDB = filepath.Join(dir, "files.duckdb")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := Views(ctx, env, cfg, ViewsOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{filepath.Join(dir, "athlake.duckdb"), cfg.DuckDB} {
		t.Run(filepath.Base(db), func(t *testing.T) {
			query := func(q string) [][]string {
				t.Helper()
				_, rows, err := views.Query(ctx, db, q)
				if err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				return rows
			}
			checkDailyJumps(t, query)
			checkSessionLoad(t, query)
			checkDailyLoad(t, query)
		})
	}
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	if s == "NULL" {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// checkDailyJumps recomputes jumps per athlete and UTC day, and the best
// height from flight time, from the kept reps.
func checkDailyJumps(t *testing.T, query func(string) [][]string) {
	type day struct {
		jumps int
		best  float64
	}
	want := map[string]*day{}
	for _, r := range query(`SELECT s.athlete_id, r.captured_at, r.flight_time_ms FROM plyomat_reps r JOIN plyomat_sets s ON s.id = r.set_id WHERE r.is_kept AND r.captured_at IS NOT NULL`) {
		at, err := time.Parse(time.RFC3339Nano, r[1])
		if err != nil {
			t.Fatal(err)
		}
		k := "plyomat:" + r[0] + " " + at.UTC().Format(time.DateOnly)
		d := want[k]
		if d == nil {
			d = &day{best: math.NaN()}
			want[k] = d
		}
		d.jumps++
		if ft := num(t, r[2]); ft > 0 {
			h := 9.80665 * (ft / 1000) * (ft / 1000) / 8 * 100
			if math.IsNaN(d.best) || h > d.best {
				d.best = h
			}
		}
	}
	if len(want) == 0 {
		t.Fatal("the sandbox has no kept reps")
	}
	// Each row is its athlete's person (linked people included).
	if r := query(`SELECT count(*) FROM athlake_daily_jumps d JOIN athlake_person_ids p ON p.source = 'plyomat' AND p.athlete_id = d.athlete_id
		WHERE p.person_id <> d.person_id`); r[0][0] != "0" {
		t.Errorf("athlake_daily_jumps: %s rows of another person than their athlete's", r[0][0])
	}
	got := query(`SELECT 'plyomat:' || athlete_id, strftime(day, '%Y-%m-%d'), jumps, best_jump_height_cm FROM athlake_daily_jumps`)
	if len(got) != len(want) {
		t.Errorf("athlake_daily_jumps has %d person-days, the kept reps %d", len(got), len(want))
	}
	for _, r := range got {
		d := want[r[0]+" "+r[1]]
		switch {
		case d == nil:
			t.Errorf("athlake_daily_jumps: %v: no kept reps that day", r)
		case strconv.Itoa(d.jumps) != r[2]:
			t.Errorf("athlake_daily_jumps: %v: want %d jumps", r, d.jumps)
		case math.Abs(num(t, r[3])-d.best) > 1e-9 || math.IsNaN(num(t, r[3])) != math.IsNaN(d.best):
			t.Errorf("athlake_daily_jumps: %v: want best height %v cm", r, d.best)
		}
	}
}

// checkSessionLoad: one row per player session; where the samples carry
// heart rates, the time they put at or above 50 % of HRmax (the five zones
// together) is what the vendor's summary counts; TRIMP lies between 1× and
// 5× the minutes in zones.
func checkSessionLoad(t *testing.T, query func(string) [][]string) {
	if got, want := query(`SELECT count(*) FROM athlake_teampro_session_load`), query(`SELECT count(*) FROM teampro_player_sessions`); got[0][0] != want[0][0] {
		t.Errorf("athlake_teampro_session_load has %s rows, teampro_player_sessions %s", got[0][0], want[0][0])
	}
	rows := query(`SELECT player_session_id, zone1_ms + zone2_ms + zone3_ms + zone4_ms + zone5_ms,
		vendor_zone1_ms + vendor_zone2_ms + vendor_zone3_ms + vendor_zone4_ms + vendor_zone5_ms, edwards_trimp
		FROM athlake_teampro_session_load WHERE hr_samples > 0 AND hr_max_source = 'session'`)
	if len(rows) == 0 {
		t.Fatal("no Team Pro session with heart-rate samples and zones")
	}
	for _, r := range rows {
		ours, vendor, trimp := num(t, r[1]), num(t, r[2]), num(t, r[3])
		if ours != vendor {
			t.Errorf("session %s: %v ms in zones from the samples, %v at the vendor", r[0], ours, vendor)
		}
		if min := ours / 60000; trimp < min-1e-9 || trimp > 5*min+1e-9 {
			t.Errorf("session %s: TRIMP %v outside [%v, %v]", r[0], trimp, min, 5*min)
		}
	}
	// Time in zones never exceeds the heart-rate samples' time.
	if bad := query(`SELECT player_session_id FROM athlake_teampro_session_load
		WHERE zone1_ms + zone2_ms + zone3_ms + zone4_ms + zone5_ms > 100 * hr_samples`); len(bad) > 0 {
		t.Errorf("sessions with more time in zones than heart-rate samples: %v", bad)
	}
}

// checkDailyLoad: per person, a row per calendar day from the first to the
// last session, the loads summing to the sessions' TRIMP, and ratios only
// once the chronic window is full.
func checkDailyLoad(t *testing.T, query func(string) [][]string) {
	want := map[string][]string{}
	for _, r := range query(`SELECT person_id, CAST(max(day) - min(day) + 1 AS BIGINT), sum(coalesce(edwards_trimp, 0)), count(*)
		FROM athlake_teampro_session_load WHERE day IS NOT NULL GROUP BY 1`) {
		want[r[0]] = r[1:]
	}
	got := query(`SELECT person_id, count(*), sum(load), sum(sessions), count(*) FILTER (WHERE acwr_rolling IS NOT NULL AND day_index < 28), max(day_index)
		FROM athlake_daily_load GROUP BY 1`)
	if len(got) != len(want) || len(got) == 0 {
		t.Errorf("athlake_daily_load has %d persons, the sessions %d", len(got), len(want))
	}
	for _, r := range got {
		w := want[r[0]]
		switch {
		case w == nil:
			t.Errorf("athlake_daily_load: %v: no sessions", r)
		case r[1] != w[0] || r[5] != w[0]:
			t.Errorf("athlake_daily_load: %v: want %s calendar days", r, w[0])
		case math.Abs(num(t, r[2])-num(t, w[1])) > 1e-6:
			t.Errorf("athlake_daily_load: %v: want a load of %s", r, w[1])
		case r[3] != w[2]:
			t.Errorf("athlake_daily_load: %v: want %s sessions", r, w[2])
		case r[4] != "0":
			t.Errorf("athlake_daily_load: %v: a ratio before day 28", r)
		}
	}
}
