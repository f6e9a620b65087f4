package views

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/athlake/athlake/schemas"
)

// Analysis views: SQL views over the current-state views, created at the end
// of every build (both modes), computed at query time. Their SQL and their
// data dictionary live here, side by side, so the two cannot drift apart:
// `athlake schemas` prints Analysis().

// Constants of the analysis views' formulas (the SQL and the docs use the
// same values).
const (
	// Gravity is standard gravity, m/s², in h = g·t²/8.
	Gravity = 9.80665
	// SampleMs is the duration one Team Pro sample stands for (10 Hz).
	SampleMs = 100
	// HighSpeedMS is the high-speed threshold in m/s (19.8 km/h); the
	// samples' speed is in m/s.
	HighSpeedMS = 5.5
	// ZoneToleranceMs and ZoneTolerancePct: a zone's time from the samples
	// differs from the vendor's when |ours − vendor's| exceeds the larger
	// of ZoneToleranceMs and ZoneTolerancePct % of the vendor's time.
	ZoneToleranceMs  = 5000
	ZoneTolerancePct = 2
)

// AnalysisColumn documents a column of an analysis view.
type AnalysisColumn struct {
	Name string
	Type string // DuckDB type
	Unit string
	Doc  string // meaning and formula
}

// AnalysisView is one analysis view: its SQL, what it reads and its
// dictionary entry.
type AnalysisView struct {
	Name string
	Doc  string
	// Grain is what one row stands for (the view's key).
	Grain []string
	// From lists the views it reads; a build without them skips it.
	From      []string
	Reference string
	Columns   []AnalysisColumn
	// Persons names the columns that identify a person, with where their
	// ids come from: "person" (athlake person ids) or a source (its
	// athlete ids); a research export replaces them by pseudonyms.
	Persons map[string]string
	// Query is the SELECT the view is created as, with placeholders for
	// the constants above (see SQL).
	Query string
}

// SQL is the SELECT the view is created as, with the formulas' constants
// filled in.
func (v AnalysisView) SQL() string { return placeholders.Replace(v.Query) }

// placeholders fills the formulas' constants into the SQL.
var placeholders = strings.NewReplacer(
	"{g}", strconv.FormatFloat(Gravity, 'f', -1, 64),
	"{sample_ms}", strconv.Itoa(SampleMs),
	"{high_speed}", strconv.FormatFloat(HighSpeedMS, 'f', -1, 64),
	"{tol_ms}", strconv.Itoa(ZoneToleranceMs),
	"{tol_pct}", strconv.Itoa(ZoneTolerancePct),
)

// Analysis returns the analysis views, each after the views it reads.
func Analysis() []AnalysisView {
	return []AnalysisView{dailyJumps(), sessionLoad(), dailyLoad()}
}

func dailyJumps() AnalysisView {
	return AnalysisView{
		Name: "athlake_daily_jumps",
		Doc: "Jumps per person and day, from the kept Plyomat reps (is_kept true; reps not kept, or of unknown status, are left out). " +
			"The day is the UTC date of the rep's captured_at (else its set's started_at): Plyomat sends UTC instants and no athlete time zone. " +
			"A row per person and day with at least one kept rep.",
		Grain:     []string{"person_id", "athlete_id", "day"},
		Persons:   map[string]string{"person_id": "person", "athlete_id": "plyomat"},
		From:      []string{"plyomat_reps", "plyomat_sets", PersonIDsView},
		Reference: "Jump height from flight time: Bosco, Luhtanen & Komi (1983), Eur J Appl Physiol 50:273–282. RSI: Young (1995), Flanagan & Comyns (2008).",
		Columns: []AnalysisColumn{
			{"person_id", "VARCHAR", "", "The person (athlake_person_ids; `plyomat:<athlete_id>` for an athlete it does not list)."},
			{"athlete_id", "VARCHAR", "", "Plyomat athlete id (of the set)."},
			{"day", "DATE", "", "UTC date of captured_at (else the set's started_at)."},
			{"jumps", "BIGINT", "reps", "Kept reps."},
			{"timed_jumps", "BIGINT", "reps", "Kept reps with a flight time > 0 (those the heights are computed from)."},
			{"best_jump_height_cm", "DOUBLE", "cm", "max over timed jumps of h = g·t²/8, g = 9.80665 m/s², t = flight_time_ms/1000 s; ×100."},
			{"mean_jump_height_cm", "DOUBLE", "cm", "mean over timed jumps of h = g·t²/8 (as above)."},
			{"drop_jumps", "BIGINT", "reps", "Kept reps of sets whose mode is drop_jump."},
			{"mean_rsi_drop_jumps", "DOUBLE", "m/s", "mean over drop jumps of RSI = the vendor's rsi, or where it is null, h (m, from flight time) / contact time (s); drop jumps with neither are left out."},
		},
		Query: `WITH r AS (
  SELECT s.athlete_id,
    CAST(timezone('UTC', coalesce(r.captured_at, s.started_at)) AS DATE) AS day,
    coalesce(lower(s.mode) = 'drop_jump', false) AS drop_jump,
    CASE WHEN r.flight_time_ms > 0 THEN {g} * power(r.flight_time_ms / 1000.0, 2) / 8 END AS h_m,
    r.contact_time_ms, r.rsi
  FROM plyomat_reps AS r JOIN plyomat_sets AS s ON s.id = r.set_id
  WHERE r.is_kept AND s.athlete_id IS NOT NULL AND coalesce(r.captured_at, s.started_at) IS NOT NULL
)
SELECT coalesce(p.person_id, 'plyomat:' || r.athlete_id) AS person_id, r.athlete_id, r.day,
  count(*) AS jumps,
  count(r.h_m) AS timed_jumps,
  100 * max(r.h_m) AS best_jump_height_cm,
  100 * avg(r.h_m) AS mean_jump_height_cm,
  count(*) FILTER (WHERE r.drop_jump) AS drop_jumps,
  avg(coalesce(r.rsi, CASE WHEN r.contact_time_ms > 0 THEN r.h_m / (r.contact_time_ms / 1000.0) END)) FILTER (WHERE r.drop_jump) AS mean_rsi_drop_jumps
FROM r LEFT JOIN ` + PersonIDsView + ` AS p ON p.source = 'plyomat' AND p.athlete_id = r.athlete_id
GROUP BY ALL`,
	}
}

func sessionLoad() AnalysisView {
	cols := []AnalysisColumn{
		{"player_session_id", "VARCHAR", "", "Team Pro player training session id."},
		{"player_id", "VARCHAR", "", "Team Pro player id."},
		{"person_id", "VARCHAR", "", "The person (athlake_person_ids; `teampro:<player_id>` for a player it does not list)."},
		{"day", "DATE", "", "Local calendar day: the date of start_time, the session's wall clock (so a 23- or 25-hour DST day is one day)."},
		{"start_time", "TIMESTAMP", "", "Session start, local wall clock."},
		{"start_time_utc", "TIMESTAMP WITH TIME ZONE", "", "Session start in UTC, where the offset is known."},
		{"type", "VARCHAR", "", "TEAM or INDIVIDUAL."},
		{"samples", "BIGINT", "samples", "Sample rows of the session."},
		{"hr_samples", "BIGINT", "samples", "Samples with a heart rate (null heart rates and missing samples count in no zone)."},
		{"hr_max_bpm", "BIGINT", "bpm", "The player's maximum heart rate: the top of the vendor's heart-rate zones for this session, else of the player's latest session that has them; null if none."},
		{"hr_max_source", "VARCHAR", "", "session or player: where hr_max_bpm comes from."},
	}
	for i := 1; i <= 5; i++ {
		lo, hi := 40+10*i, 50+10*i
		upper := fmt.Sprintf("hr < round(%d %% × hr_max_bpm)", hi)
		if i == 5 {
			upper = "no upper limit"
		}
		cols = append(cols, AnalysisColumn{fmt.Sprintf("zone%d_ms", i), "BIGINT", "ms",
			fmt.Sprintf("Time in zone %d from the samples: %d ms × samples with hr ≥ round(%d %% × hr_max_bpm) (whole bpm), %s; null without hr_max_bpm.", i, SampleMs, lo, upper)})
	}
	for i := 1; i <= 5; i++ {
		cols = append(cols, AnalysisColumn{fmt.Sprintf("vendor_zone%d_ms", i), "BIGINT", "ms", fmt.Sprintf("The vendor's time in heart-rate zone index %d (teampro_hr_zones.in_zone_ms).", i)})
	}
	cols = append(cols,
		AnalysisColumn{"zones_max_diff_ms", "BIGINT", "ms", "max over zones of abs(zone<i>_ms − vendor_zone<i>_ms); null without the vendor's zones."},
		AnalysisColumn{"zones_differ", "BOOLEAN", "", fmt.Sprintf("Whether some zone's abs(zone<i>_ms − vendor_zone<i>_ms) exceeds max(%d ms, %d %% of vendor_zone<i>_ms); null without the vendor's zones or hr_max_bpm.", ZoneToleranceMs, ZoneTolerancePct)},
		AnalysisColumn{"distance_m", "DOUBLE", "m", "max(distance) − min(distance) over the samples (the distance channel is cumulative)."},
		AnalysisColumn{"vendor_distance_m", "DOUBLE", "m", "The session's distance_meters, as sent."},
		AnalysisColumn{"high_speed_distance_m", "DOUBLE", "m", fmt.Sprintf("Σ speed × %d ms over the samples whose speed ≥ %g m/s (19.8 km/h; speed samples are m/s): the distance run at high speed, each sample standing for its 100 ms (a missing sample adds nothing); null without speed samples.", SampleMs, HighSpeedMS)},
		AnalysisColumn{"edwards_trimp", "DOUBLE", "AU", "Edwards TRIMP = Σ_{i=1..5} i × minutes in zone i (zone<i>_ms / 60000); null without heart-rate samples or hr_max_bpm."},
	)
	return AnalysisView{
		Name: "athlake_teampro_session_load",
		Doc: "Load of each Team Pro player session from its 10 Hz samples: time in the five heart-rate zones of 50–60–70–80–90–100 % of the player's maximum heart rate (beside the vendor's, flagged when they differ), " +
			"distance, high-speed distance and Edwards' TRIMP.",
		Grain:     []string{"player_session_id"},
		Persons:   map[string]string{"person_id": "person", "player_id": "teampro"},
		From:      []string{"teampro_player_sessions", "teampro_samples", "teampro_hr_zones", PersonIDsView},
		Reference: "Edwards S. (1993), The Heart Rate Monitor Book, Polar Electro: TRIMP = Σ minutes in zone × zone weight (1–5) over 50–100 % HRmax.",
		Columns:   cols,
		Query: `WITH vendor AS (
  SELECT player_session_id, max(higher_limit) AS top,
    CAST(sum(in_zone_ms) FILTER (WHERE "index" = 1) AS BIGINT) AS v1, CAST(sum(in_zone_ms) FILTER (WHERE "index" = 2) AS BIGINT) AS v2,
    CAST(sum(in_zone_ms) FILTER (WHERE "index" = 3) AS BIGINT) AS v3, CAST(sum(in_zone_ms) FILTER (WHERE "index" = 4) AS BIGINT) AS v4,
    CAST(sum(in_zone_ms) FILTER (WHERE "index" = 5) AS BIGINT) AS v5
  FROM teampro_hr_zones GROUP BY player_session_id
), sess AS (
  SELECT ps.id, ps.player_id, ps.type, ps.start_time, ps.start_time_utc, ps.distance_meters,
    v.top, v.v1, v.v2, v.v3, v.v4, v.v5
  FROM teampro_player_sessions AS ps LEFT JOIN vendor AS v ON v.player_session_id = ps.id
), player_max AS (
  SELECT player_id, arg_max(top, start_time) AS top FROM sess WHERE top IS NOT NULL AND start_time IS NOT NULL GROUP BY player_id
), lim AS (
  SELECT s.*, CAST(coalesce(s.top, pm.top) AS BIGINT) AS hr_max,
    CASE WHEN s.top IS NOT NULL THEN 'session' WHEN pm.top IS NOT NULL THEN 'player' END AS hr_max_source
  FROM sess AS s LEFT JOIN player_max AS pm ON pm.player_id = s.player_id
), zl AS (
  SELECT id, hr_max, round(hr_max * 0.5) AS z1, round(hr_max * 0.6) AS z2, round(hr_max * 0.7) AS z3,
    round(hr_max * 0.8) AS z4, round(hr_max * 0.9) AS z5
  FROM lim
), agg AS (
  SELECT m.player_session_id, count(*) AS samples, count(m.hr) AS hr_samples,
    count(*) FILTER (WHERE m.hr >= z.z1 AND m.hr < z.z2) AS n1,
    count(*) FILTER (WHERE m.hr >= z.z2 AND m.hr < z.z3) AS n2,
    count(*) FILTER (WHERE m.hr >= z.z3 AND m.hr < z.z4) AS n3,
    count(*) FILTER (WHERE m.hr >= z.z4 AND m.hr < z.z5) AS n4,
    count(*) FILTER (WHERE m.hr >= z.z5) AS n5,
    max(m.distance) - min(m.distance) AS distance_m,
    CASE WHEN count(m.speed) > 0 THEN coalesce(sum(m.speed) FILTER (WHERE m.speed >= {high_speed}), 0) * {sample_ms} / 1000.0 END AS high_speed_distance_m
  FROM teampro_samples AS m LEFT JOIN zl AS z ON z.id = m.player_session_id
  GROUP BY m.player_session_id
), zones AS (
  SELECT l.*, coalesce(a.samples, 0) AS samples, coalesce(a.hr_samples, 0) AS hr_samples,
    a.distance_m, a.high_speed_distance_m,
    CASE WHEN l.hr_max IS NOT NULL THEN {sample_ms} * coalesce(a.n1, 0) END AS zone1_ms,
    CASE WHEN l.hr_max IS NOT NULL THEN {sample_ms} * coalesce(a.n2, 0) END AS zone2_ms,
    CASE WHEN l.hr_max IS NOT NULL THEN {sample_ms} * coalesce(a.n3, 0) END AS zone3_ms,
    CASE WHEN l.hr_max IS NOT NULL THEN {sample_ms} * coalesce(a.n4, 0) END AS zone4_ms,
    CASE WHEN l.hr_max IS NOT NULL THEN {sample_ms} * coalesce(a.n5, 0) END AS zone5_ms
  FROM lim AS l LEFT JOIN agg AS a ON a.player_session_id = l.id
)
SELECT z.id AS player_session_id, z.player_id, coalesce(p.person_id, 'teampro:' || z.player_id) AS person_id,
  CAST(z.start_time AS DATE) AS day, z.start_time, z.start_time_utc, z.type,
  z.samples, z.hr_samples, z.hr_max AS hr_max_bpm, z.hr_max_source,
  z.zone1_ms, z.zone2_ms, z.zone3_ms, z.zone4_ms, z.zone5_ms,
  z.v1 AS vendor_zone1_ms, z.v2 AS vendor_zone2_ms, z.v3 AS vendor_zone3_ms, z.v4 AS vendor_zone4_ms, z.v5 AS vendor_zone5_ms,
  CASE WHEN z.top IS NOT NULL AND z.hr_max IS NOT NULL THEN greatest(
    abs(z.zone1_ms - coalesce(z.v1, 0)), abs(z.zone2_ms - coalesce(z.v2, 0)), abs(z.zone3_ms - coalesce(z.v3, 0)),
    abs(z.zone4_ms - coalesce(z.v4, 0)), abs(z.zone5_ms - coalesce(z.v5, 0))) END AS zones_max_diff_ms,
  CASE WHEN z.top IS NOT NULL AND z.hr_max IS NOT NULL THEN
    abs(z.zone1_ms - coalesce(z.v1, 0)) > greatest({tol_ms}, {tol_pct} * coalesce(z.v1, 0) / 100.0) OR
    abs(z.zone2_ms - coalesce(z.v2, 0)) > greatest({tol_ms}, {tol_pct} * coalesce(z.v2, 0) / 100.0) OR
    abs(z.zone3_ms - coalesce(z.v3, 0)) > greatest({tol_ms}, {tol_pct} * coalesce(z.v3, 0) / 100.0) OR
    abs(z.zone4_ms - coalesce(z.v4, 0)) > greatest({tol_ms}, {tol_pct} * coalesce(z.v4, 0) / 100.0) OR
    abs(z.zone5_ms - coalesce(z.v5, 0)) > greatest({tol_ms}, {tol_pct} * coalesce(z.v5, 0) / 100.0) END AS zones_differ,
  z.distance_m, z.distance_meters AS vendor_distance_m, z.high_speed_distance_m,
  CASE WHEN z.hr_samples > 0 AND z.hr_max IS NOT NULL THEN
    (1 * z.zone1_ms + 2 * z.zone2_ms + 3 * z.zone3_ms + 4 * z.zone4_ms + 5 * z.zone5_ms) / 60000.0 END AS edwards_trimp
FROM zones AS z LEFT JOIN ` + PersonIDsView + ` AS p ON p.source = 'teampro' AND p.athlete_id = z.player_id`,
	}
}

func dailyLoad() AnalysisView {
	ewma := func(n int) string {
		return fmt.Sprintf("list_reduce(list_transform(loads[2:], lambda x: [x]), lambda acc, x: list_append(acc, (2.0 / %d) * x[1] + (1 - 2.0 / %d) * acc[-1]), [loads[1]])", n+1, n+1)
	}
	return AnalysisView{
		Name: "athlake_daily_load",
		Doc: "Daily load per person and its acute:chronic workload ratio, over every calendar day from the person's first to last Team Pro session (rest days count as load 0). " +
			"The load is the day's Edwards TRIMP (athlake_teampro_session_load; a session without one adds 0 and is counted in sessions_without_trimp); Plyomat and Optimo data do not enter it. " +
			"Days are local calendar days (the sessions' wall clock), so DST days of 23 or 25 hours are one day each. " +
			"Both ratios are null until the person's 28th calendar day, when the chronic window is full.",
		Grain:     []string{"person_id", "day"},
		Persons:   map[string]string{"person_id": "person"},
		From:      []string{"athlake_teampro_session_load"},
		Reference: "Rolling ACWR, uncoupled: Gabbett (2016), Br J Sports Med 50:273–280; Hulin et al. (2016); Lolli et al. (2019). EWMA ACWR: Williams, West, Cross & Stokes (2017), Br J Sports Med 51:209–210.",
		Columns: []AnalysisColumn{
			{"person_id", "VARCHAR", "", "The person."},
			{"day", "DATE", "", "Local calendar day."},
			{"day_index", "BIGINT", "days", "1 on the person's first day, +1 per calendar day."},
			{"load", "DOUBLE", "AU", "Σ edwards_trimp of the day's sessions; 0 on a rest day."},
			{"sessions", "BIGINT", "", "Team Pro sessions that day."},
			{"sessions_without_trimp", "BIGINT", "", "Of those, sessions without an Edwards TRIMP (no heart-rate samples or maximum): they add 0 to load."},
			{"acute_load_7d", "DOUBLE", "AU", "mean(load over days t−6..t); null before day_index 7."},
			{"chronic_load_uncoupled", "DOUBLE", "AU", "mean(load over days t−27..t−7), the 21 days of the 28-day window before the acute week; null before day_index 28."},
			{"acwr_rolling", "DOUBLE", "ratio", "acute_load_7d / chronic_load_uncoupled; null before day_index 28 or when the chronic load is 0."},
			{"ewma_7", "DOUBLE", "AU", "EWMA_t = λ·load_t + (1−λ)·EWMA_{t−1}, λ = 2/(7+1); seeded with the first day's load (EWMA_1 = load_1)."},
			{"ewma_28", "DOUBLE", "AU", "As ewma_7 with λ = 2/(28+1)."},
			{"acwr_ewma", "DOUBLE", "ratio", "ewma_7 / ewma_28; null before day_index 28 or when ewma_28 is 0."},
		},
		Query: `WITH s AS (
  SELECT person_id, day, sum(coalesce(edwards_trimp, 0)) AS load, count(*) AS sessions,
    count(*) FILTER (WHERE edwards_trimp IS NULL) AS sessions_without_trimp
  FROM athlake_teampro_session_load WHERE day IS NOT NULL GROUP BY person_id, day
), cal AS (
  SELECT person_id, CAST(unnest(generate_series(min(day), max(day), INTERVAL 1 DAY)) AS DATE) AS day
  FROM s GROUP BY person_id
), d AS (
  SELECT c.person_id, c.day, row_number() OVER (PARTITION BY c.person_id ORDER BY c.day) AS day_index,
    CAST(coalesce(s.load, 0) AS DOUBLE) AS load, coalesce(s.sessions, 0) AS sessions,
    coalesce(s.sessions_without_trimp, 0) AS sessions_without_trimp
  FROM cal AS c LEFT JOIN s ON s.person_id = c.person_id AND s.day = c.day
), e AS (
  SELECT person_id, unnest(range(1, len(loads) + 1)) AS day_index,
    unnest(` + ewma(7) + `) AS ewma_7,
    unnest(` + ewma(28) + `) AS ewma_28
  FROM (SELECT person_id, list(load ORDER BY day) AS loads FROM d GROUP BY person_id)
), w AS (
  SELECT d.*, e.ewma_7, e.ewma_28,
    avg(d.load) OVER (PARTITION BY d.person_id ORDER BY d.day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS acute,
    avg(d.load) OVER (PARTITION BY d.person_id ORDER BY d.day ROWS BETWEEN 27 PRECEDING AND 7 PRECEDING) AS chronic
  FROM d JOIN e ON e.person_id = d.person_id AND e.day_index = d.day_index
)
SELECT person_id, day, day_index, load, sessions, sessions_without_trimp,
  CASE WHEN day_index >= 7 THEN acute END AS acute_load_7d,
  CASE WHEN day_index >= 28 THEN chronic END AS chronic_load_uncoupled,
  CASE WHEN day_index >= 28 THEN acute / nullif(chronic, 0) END AS acwr_rolling,
  ewma_7, ewma_28,
  CASE WHEN day_index >= 28 THEN ewma_7 / nullif(ewma_28, 0) END AS acwr_ewma
FROM w`,
	}
}

// createAnalysis creates the analysis views over the views (or tables) of
// a database, skipping those whose inputs the database lacks (a build of
// some tables only, without the people views).
func createAnalysis(ctx context.Context, db execer, built []*schemas.Table) error {
	have := map[string]bool{}
	for _, t := range built {
		have[t.ViewName()] = true
	}
	// The person map comes from the people views (createPeople).
	var ok bool
	err := db.QueryRowContext(ctx, "SELECT count(*) > 0 FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?", PersonIDsView).Scan(&ok)
	if err != nil {
		return err
	}
	have[PersonIDsView] = ok
	for _, v := range Analysis() {
		missing := false
		for _, f := range v.From {
			missing = missing || !have[f]
		}
		if missing {
			continue
		}
		if _, err := db.ExecContext(ctx, "CREATE OR REPLACE VIEW "+ident(v.Name)+" AS "+v.SQL()); err != nil {
			return fmt.Errorf("view %s: %w", v.Name, err)
		}
		have[v.Name] = true
	}
	return nil
}

// createDerived (re)creates what a build derives from the lake's tables:
// the people views, then the analysis views over them.
func createDerived(ctx context.Context, db execer, o Options) error {
	err := createPeople(ctx, o.People, func(ctx context.Context, stmt string) error {
		_, err := db.ExecContext(ctx, stmt)
		return err
	})
	if err != nil {
		return err
	}
	return createAnalysis(ctx, db, o.Tables)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
