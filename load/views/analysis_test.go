package views

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/athlake/athlake/schemas"
)

// Golden tests of the analysis views: tiny hand-built tables, the expected
// numbers worked by hand in the comments.

// analysisDB is an in-memory database holding an empty table per lake
// table (under the views' names, as a build in tables mode makes them), on
// one connection whose session time zone is Europe/Copenhagen: the views
// must not depend on the reader's zone.
func analysisDB(t *testing.T) *sql.Conn {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := create(ctx, conn, schemas.All().Tables(), "/lake", "test"); err != nil {
		t.Fatal(err)
	}
	exec(t, conn, "SET TimeZone = 'Europe/Copenhagen'")
	return conn
}

func exec(t *testing.T, conn *sql.Conn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := conn.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// rows runs a query and returns its rows (NULL as nil).
func rows(t *testing.T, conn *sql.Conn, q string) [][]any {
	t.Helper()
	rs, err := conn.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var out [][]any
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var approx = cmpopts.EquateApprox(0, 1e-9)

func checkRows(t *testing.T, conn *sql.Conn, q string, want [][]any) {
	t.Helper()
	if d := cmp.Diff(want, rows(t, conn, q), approx); d != "" {
		t.Errorf("%s (-want +got):\n%s", q, d)
	}
}

// testPeople are athletes queries of the three vendors, as their
// connectors declare them (Connector.Athletes), for the people views.
var testPeople = []PeopleSource{
	{"plyomat", "SELECT id AS athlete_id, first_name, last_name, NULL::DATE AS birth_date, external_id, external_source FROM plyomat_athletes"},
	{"optimo", "SELECT athlete_id, first_name, last_name, birth_date, NULL AS external_id, NULL AS external_source FROM optimo_athletes"},
	{"teampro", "SELECT player_id AS athlete_id, any_value(first_name) AS first_name, any_value(last_name) AS last_name, NULL AS birth_date, NULL AS external_id, NULL AS external_source FROM teampro_players GROUP BY player_id"},
}

// buildAnalysis builds the people views, with links, then the analysis
// views, as a views build does.
func buildAnalysis(t *testing.T, conn *sql.Conn, links ...Link) {
	t.Helper()
	ctx := context.Background()
	err := createPeople(ctx, &People{Sources: testPeople, Links: links}, func(ctx context.Context, stmt string) error {
		_, err := conn.ExecContext(ctx, stmt)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := createAnalysis(ctx, conn, schemas.All().Tables()); err != nil {
		t.Fatal(err)
	}
}

func TestAnalysisDailyJumps(t *testing.T) {
	conn := analysisDB(t)
	exec(t, conn,
		`INSERT INTO plyomat_athletes (id) VALUES ('a1'), ('a2')`,
		`INSERT INTO plyomat_sets (id, athlete_id, mode, started_at) VALUES
		 ('s1', 'a1', 'cmj', '2026-05-04 09:00:00+00'),
		 ('s2', 'a1', 'drop_jump', '2026-05-04 23:00:00+00'),
		 ('s3', 'a1', 'cmj', '2026-05-05 08:00:00+00'),
		 ('s4', 'a2', 'cmj', '2026-05-04 08:00:00+00')`,
		`INSERT INTO plyomat_reps (set_id, rep_index, flight_time_ms, contact_time_ms, jump_height_cm, rsi, is_kept, captured_at) VALUES
		 ('s1', 0, 500, NULL, 99, NULL, true, '2026-05-04 09:00:01+00'),
		 ('s1', 1, 400, NULL, 99, NULL, true, '2026-05-04 09:00:05+00'),
		 ('s1', 2, 600, NULL, 99, NULL, false, '2026-05-04 09:00:09+00'),
		 ('s1', 3, 700, NULL, 99, NULL, NULL, '2026-05-04 09:00:12+00'),
		 ('s2', 0, 500, 200, 99, NULL, true, '2026-05-04 23:30:00+00'),
		 ('s2', 1, 400, 250, 99, 0.9, true, '2026-05-04 23:30:04+00'),
		 ('s2', 2, 300, 150, 99, 5.0, false, '2026-05-04 23:30:08+00'),
		 ('s3', 0, NULL, NULL, 99, NULL, true, NULL),
		 ('s4', 0, 100, NULL, 99, NULL, false, '2026-05-04 08:00:01+00')`)
	buildAnalysis(t, conn)
	// 2026-05-04 (UTC; 23:30Z is already the 5th in Copenhagen, the
	// session's zone here, but Plyomat days are UTC days):
	//   kept: s1 reps 0 (500 ms) and 1 (400 ms), s2 reps 0 (500 ms) and 1
	//   (400 ms); s1 rep 2 is not kept and rep 3's status is unknown: out.
	//   h(500 ms) = 9.80665 · 0.5² / 8 = 0.3064578125 m = 30.64578125 cm
	//   h(400 ms) = 9.80665 · 0.4² / 8 = 0.196133 m = 19.6133 cm
	//   best = 30.64578125 (the 600 ms rep, 44.13 cm, is not kept)
	//   mean = (30.64578125 + 19.6133 + 30.64578125 + 19.6133) / 4 = 25.129540625
	//   drop jumps (s2): rep 0 has no rsi: 0.3064578125 m / 0.200 s = 1.5322890625;
	//   rep 1 has the vendor's 0.9 (not 0.196133 / 0.25 = 0.784532);
	//   rep 2 (5.0) is not kept. mean = (1.5322890625 + 0.9) / 2 = 1.21614453125
	// 2026-05-05: s3's rep has no flight time and no captured_at: the set's
	//   day, counted as a jump, no height.
	// a2 kept no rep: no row. The jump_height_cm sent (99) is not used.
	checkRows(t, conn, `SELECT person_id, athlete_id, CAST(day AS VARCHAR), jumps, timed_jumps, best_jump_height_cm, mean_jump_height_cm, drop_jumps, mean_rsi_drop_jumps
		FROM athlake_daily_jumps ORDER BY ALL`, [][]any{
		{"plyomat:a1", "a1", "2026-05-04", int64(4), int64(4), 30.64578125, 25.129540625, int64(2), 1.21614453125},
		{"plyomat:a1", "a1", "2026-05-05", int64(1), int64(0), nil, nil, int64(0), nil},
	})
}

// TestAnalysisPersonIDs: the views join through athlake_person_ids: a
// linked athlete counts for their person, an unlinked one is their own
// person, and a player on two teams is one.
func TestAnalysisPersonIDs(t *testing.T) {
	conn := analysisDB(t)
	exec(t, conn,
		`INSERT INTO plyomat_athletes (id) VALUES ('a1'), ('a2')`,
		`INSERT INTO plyomat_sets (id, athlete_id, mode, started_at) VALUES ('s1', 'a1', 'cmj', '2026-05-04 09:00:00+00'), ('s2', 'a2', 'cmj', '2026-05-04 09:00:00+00')`,
		`INSERT INTO plyomat_reps (set_id, rep_index, flight_time_ms, is_kept) VALUES ('s1', 0, 500, true), ('s2', 0, 500, true)`,
		`INSERT INTO optimo_athletes (athlete_id) VALUES ('17')`,
		`INSERT INTO teampro_players (team_id, player_id) VALUES ('t1', 'p1'), ('t2', 'p1')`)
	buildAnalysis(t, conn, Link{PersonID: "person-7", Source: "plyomat", AthleteID: "a1"})
	checkRows(t, conn, `SELECT person_id, jumps FROM athlake_daily_jumps ORDER BY ALL`, [][]any{{"person-7", int64(1)}, {"plyomat:a2", int64(1)}})
	checkRows(t, conn, `SELECT source, athlete_id, person_id FROM athlake_person_ids ORDER BY ALL`, [][]any{
		{"optimo", "17", "optimo:17"}, {"plyomat", "a1", "person-7"}, {"plyomat", "a2", "plyomat:a2"}, {"teampro", "p1", "teampro:p1"},
	})
}

func TestAnalysisSessionLoad(t *testing.T) {
	conn := analysisDB(t)
	zones := func(ps string, top int, inZone ...int) string {
		var v []string
		for i, ms := range inZone {
			lo, hi := top*(5+i)/10, top*(6+i)/10
			v = append(v, "('"+ps+"', "+strconv.Itoa(i+1)+", "+strconv.Itoa(lo)+", "+strconv.Itoa(hi)+", "+strconv.Itoa(ms)+")")
		}
		return `INSERT INTO teampro_hr_zones (player_session_id, "index", lower_limit, higher_limit, in_zone_ms) VALUES ` + strings.Join(v, ", ")
	}
	exec(t, conn,
		`INSERT INTO teampro_players (team_id, player_id) VALUES ('t1', 'pl1'), ('t1', 'pl2')`,
		// 2026-03-29 is a 23-hour day in Copenhagen (CET to CEST at 02:00):
		// ps1 starts at 00:30 CET (23:30Z on the 28th), ps2 at 23:30 CEST
		// (21:30Z): both on the local day 2026-03-29.
		`INSERT INTO teampro_player_sessions (id, player_id, type, start_time, start_time_utc, timezone_offset, distance_meters) VALUES
		 ('ps1', 'pl1', 'TEAM', '2026-03-29 00:30:00', '2026-03-28 23:30:00+00', 60, 2.5),
		 ('ps2', 'pl1', 'INDIVIDUAL', '2026-03-29 23:30:00', '2026-03-29 21:30:00+00', 120, NULL),
		 ('ps3', 'pl2', 'TEAM', '2026-03-28 10:00:00', '2026-03-28 09:00:00+00', 60, NULL),
		 ('ps4', 'pl2', 'TEAM', '2026-03-30 10:00:00', '2026-03-30 08:00:00+00', 120, NULL)`,
		// ps1: HRmax 200, limits 100, 120, 140, 160, 180 bpm.
		`INSERT INTO teampro_samples (player_session_id, offset_ms, hr, speed, distance) VALUES
		 ('ps1', 0, 95, 1.0, 0),
		 ('ps1', 100, 100, 6.0, 0.6),
		 ('ps1', 200, NULL, 7.0, 1.2),
		 ('ps1', 300, 139, 5.5, 1.75),
		 ('ps1', 500, 140, 2.0, NULL),
		 ('ps1', 600, 180, 3.0, 2.05),
		 ('ps1', 700, 210, NULL, 2.35),
		 ('ps2', 0, 190, NULL, NULL), ('ps2', 100, 190, NULL, NULL), ('ps2', 200, 190, NULL, NULL),
		 ('ps3', 0, NULL, NULL, NULL),
		 ('ps4', 0, 80, NULL, NULL)`,
		zones("ps1", 200, 100, 100, 100, 0, 200),
		// ps3: HRmax 180; the vendor counts a minute in zone 2 the samples
		// do not show (no heart rate in them).
		zones("ps3", 180, 0, 60000, 0, 0, 0),
		// ps4: 5 s in zone 1 at the vendor, none in the samples: within
		// the tolerance (max(5000 ms, 2 % of 5000 ms) = 5000 ms).
		zones("ps4", 180, 5000, 0, 0, 0, 0))
	buildAnalysis(t, conn)
	// ps1: 7 samples (the one at 400 ms is missing), 6 with a heart rate.
	//   95 < 100: no zone; 100: z1; null: none; 139: z2; 140: z3; 180 and
	//   210 (above HRmax): z5 → 100, 100, 100, 0, 200 ms, as the vendor's.
	//   TRIMP = (1·100 + 2·100 + 3·100 + 4·0 + 5·200) ms / 60000 = 1600 / 60000 = 0.02666…
	//   distance = 2.35 − 0 = 2.35 m (the vendor's 2.5 beside it)
	//   high speed (≥ 5.5 m/s): (6.0 + 7.0 + 5.5) m/s × 0.1 s = 1.85 m (at
	//   100, 200 and 300 ms; 1.0, 2.0, 3.0 m/s and the null speed at 700 ms
	//   are not high speed; the missing sample at 400 ms adds nothing).
	// ps2: no zones of its own: the player's HRmax from ps1 (200); 3 × 190
	//   bpm in z5 = 300 ms; TRIMP = 5 · 300 / 60000 = 0.025. No distance.
	// ps3: no heart rate: zones 0, TRIMP null; the vendor's 60000 ms in
	//   zone 2 differ by more than max(5000, 2 % · 60000 = 1200).
	// ps4: 80 bpm < 90 (50 % of 180): no zone; TRIMP 0.
	checkRows(t, conn, `SELECT player_session_id, person_id, CAST(day AS VARCHAR), samples, hr_samples, hr_max_bpm, hr_max_source,
		zone1_ms, zone2_ms, zone3_ms, zone4_ms, zone5_ms, vendor_zone2_ms, zones_max_diff_ms, zones_differ,
		distance_m, vendor_distance_m, high_speed_distance_m, edwards_trimp
		FROM athlake_teampro_session_load ORDER BY 1`, [][]any{
		{"ps1", "teampro:pl1", "2026-03-29", int64(7), int64(6), int64(200), "session", int64(100), int64(100), int64(100), int64(0), int64(200), int64(100), int64(0), false, 2.35, 2.5, 1.85, 1600.0 / 60000},
		{"ps2", "teampro:pl1", "2026-03-29", int64(3), int64(3), int64(200), "player", int64(0), int64(0), int64(0), int64(0), int64(300), nil, nil, nil, nil, nil, nil, 0.025},
		{"ps3", "teampro:pl2", "2026-03-28", int64(1), int64(0), int64(180), "session", int64(0), int64(0), int64(0), int64(0), int64(0), int64(60000), int64(60000), true, nil, nil, nil, nil},
		{"ps4", "teampro:pl2", "2026-03-30", int64(1), int64(1), int64(180), "session", int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(5000), false, nil, nil, nil, 0.0},
	})
	// The daily load over them: pl1's two sessions share the DST day; pl2
	// has 2026-03-28 (ps3: no TRIMP, load 0), a rest day, and 2026-03-30.
	checkRows(t, conn, `SELECT person_id, CAST(day AS VARCHAR), day_index, load, sessions, sessions_without_trimp, ewma_7
		FROM athlake_daily_load ORDER BY ALL`, [][]any{
		{"teampro:pl1", "2026-03-29", int64(1), 1600.0/60000 + 0.025, int64(2), int64(0), 1600.0/60000 + 0.025},
		{"teampro:pl2", "2026-03-28", int64(1), 0.0, int64(1), int64(1), 0.0},
		{"teampro:pl2", "2026-03-29", int64(2), 0.0, int64(0), int64(0), 0.0},
		{"teampro:pl2", "2026-03-30", int64(3), 0.0, int64(1), int64(0), 0.0},
	})
}

// TestAnalysisDailyLoad works the acute:chronic ratios over a stand-in for
// the session view: person x trains 21 days at 21 AU (2026-03-01..21),
// rests six days, loads 70 on day 28, rests on day 29 (2026-03-29, the
// 23-hour DST day), and on day 30 has a session of 7 and one without TRIMP;
// person y has one day; person z trains around the 25-hour DST day.
func TestAnalysisDailyLoad(t *testing.T) {
	conn := analysisDB(t)
	exec(t, conn, `CREATE TABLE athlake_teampro_session_load (person_id VARCHAR, day DATE, edwards_trimp DOUBLE)`,
		`INSERT INTO athlake_teampro_session_load SELECT 'x', DATE '2026-03-01' + CAST(i AS INTEGER), 21 FROM range(21) t(i)`,
		`INSERT INTO athlake_teampro_session_load VALUES ('x', '2026-03-28', 70), ('x', '2026-03-30', 7), ('x', '2026-03-30', NULL), ('y', '2026-03-10', 5)`,
		// z trains either side of 2026-10-25, a 25-hour day in Copenhagen.
		`INSERT INTO athlake_teampro_session_load VALUES ('z', '2026-10-24', 1), ('z', '2026-10-26', 2)`)
	v := dailyLoad()
	exec(t, conn, "CREATE VIEW "+v.Name+" AS "+v.SQL())

	// The calendar: 30 days for x (each date once, 2026-03-29 included),
	// rest days as rows of load 0; one for y.
	checkRows(t, conn, `SELECT person_id, count(*), count(DISTINCT day), sum(load), count(*) FILTER (WHERE load = 0 AND sessions = 0) FROM athlake_daily_load GROUP BY 1 ORDER BY 1`,
		[][]any{{"x", int64(30), int64(30), 21.0*21 + 70 + 7, int64(7)}, {"y", int64(1), int64(1), 5.0, int64(0)}, {"z", int64(3), int64(3), 3.0, int64(1)}})
	// z: the 25-hour day is one rest day. EWMA7: 1, then 0.75·1 = 0.75,
	// then 0.25·2 + 0.75·0.75 = 1.0625.
	checkRows(t, conn, `SELECT CAST(day AS VARCHAR), day_index, load, ewma_7 FROM athlake_daily_load WHERE person_id = 'z' ORDER BY day`, [][]any{
		{"2026-10-24", int64(1), 1.0, 1.0}, {"2026-10-25", int64(2), 0.0, 0.75}, {"2026-10-26", int64(3), 2.0, 1.0625},
	})

	// Rolling (uncoupled): acute = mean(t−6..t), chronic = mean(t−27..t−7).
	//   day 6:  acute null (6 days only)
	//   day 7:  acute = 7·21/7 = 21
	//   day 27: acute = (21 + 6·0)/7 = 3; chronic null (day 27 < 28)
	//   day 28: acute = (6·0 + 70)/7 = 10; chronic = days 1..21 = 21 → 10/21
	//   day 29: acute = 70/7 = 10 (days 23..29); chronic = days 2..22 = (20·21 + 0)/21 = 20 → 0.5
	//   day 30: acute = (70 + 0 + 7)/7 = 11; chronic = days 3..23 = 19·21/21 = 19 → 11/19
	// EWMA (λ7 = 2/8 = 0.25, λ28 = 2/29), seeded with day 1's 21: a
	// constant 21 until day 21; six rest days: EWMA7 = 21·0.75⁶ =
	// 3.737548828125, EWMA28 = 21·(27/29)⁶ = 13.677725774642246;
	//   day 28: EWMA7 = 0.25·70 + 0.75·3.737548828125 = 20.30316162109375,
	//           EWMA28 = (2/29)·70 + (27/29)·13.677725774642246 = 17.562020548804853
	//   day 29: EWMA7 = 0.75·20.30316162109375 = 15.227371215820312
	//   day 30: EWMA7 = 0.25·7 + 0.75·15.227371215820312 = 13.170528411865234,
	//           EWMA28 = 15.705960737311221
	checkRows(t, conn, `SELECT CAST(day AS VARCHAR), day_index, load, sessions, sessions_without_trimp, acute_load_7d, chronic_load_uncoupled, acwr_rolling, ewma_7, ewma_28, acwr_ewma
		FROM athlake_daily_load WHERE person_id = 'x' AND day_index IN (1, 6, 7, 27, 28, 29, 30) ORDER BY day`, [][]any{
		{"2026-03-01", int64(1), 21.0, int64(1), int64(0), nil, nil, nil, 21.0, 21.0, nil},
		{"2026-03-06", int64(6), 21.0, int64(1), int64(0), nil, nil, nil, 21.0, 21.0, nil},
		{"2026-03-07", int64(7), 21.0, int64(1), int64(0), 21.0, nil, nil, 21.0, 21.0, nil},
		{"2026-03-27", int64(27), 0.0, int64(0), int64(0), 3.0, nil, nil, 3.737548828125, 13.677725774642246, nil},
		{"2026-03-28", int64(28), 70.0, int64(1), int64(0), 10.0, 21.0, 10.0 / 21, 20.30316162109375, 17.562020548804853, 20.30316162109375 / 17.562020548804853},
		{"2026-03-29", int64(29), 0.0, int64(0), int64(0), 10.0, 20.0, 0.5, 15.227371215820312, 16.350846717852793, 15.227371215820312 / 16.350846717852793},
		{"2026-03-30", int64(30), 7.0, int64(2), int64(1), 11.0, 19.0, 11.0 / 19, 13.170528411865234, 15.705960737311221, 13.170528411865234 / 15.705960737311221},
	})
	// y: one day: the seed, no ratio.
	checkRows(t, conn, `SELECT load, ewma_7, ewma_28, acute_load_7d, acwr_rolling, acwr_ewma FROM athlake_daily_load WHERE person_id = 'y'`,
		[][]any{{5.0, 5.0, 5.0, nil, nil, nil}})
}

// TestAnalysisColumnsAsDocumented: each analysis view has exactly the
// columns, in order and with the types, its dictionary entry lists.
func TestAnalysisColumnsAsDocumented(t *testing.T) {
	conn := analysisDB(t)
	buildAnalysis(t, conn)
	for _, v := range Analysis() {
		var want [][]any
		for _, c := range v.Columns {
			want = append(want, []any{c.Name, c.Type})
		}
		checkRows(t, conn, "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = '"+v.Name+"' ORDER BY column_index", want)
	}
}
