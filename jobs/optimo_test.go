package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/sandbox"
	sbo "github.com/athlake/athlake/sandbox/optimo"
)

// opHarness is an Optimo simulator on a loopback listener and a lake
// with only the optimo source.
type opHarness struct{ *lake }

// newOPHarness starts the sandbox, behind wrap if given (a test's hook
// between requests).
func newOPHarness(t *testing.T, seed int64, o sbo.Options, wrap ...func(http.Handler) http.Handler) *opHarness {
	t.Helper()
	sb := sandbox.New(sandbox.Options{Seed: seed, Optimo: o})
	dir := t.TempDir()
	return &opHarness{openLake(t, "optimo", dir, optimoOn(t, dir, sb, wrap...))}
}

func i64(v int64) string { return strconv.FormatInt(v, 10) }

// opExpected renders the Optimo truth as the rows of each view; utc turns
// the truth's wall-clock readings into instants (wallUTCOracle: neither the
// product's conversion nor the sandbox's).
func opExpected(d *sbo.Dataset, utc func(time.Time) time.Time) map[string][][]string {
	return opExpectedIDs(d, utc, func(_ string, id int64) string { return i64(id) })
}

// opExpectedIDs is opExpected with the ids spelled by wid (the sandbox's
// WireID).
func opExpectedIDs(d *sbo.Dataset, utc func(time.Time) time.Time, wid func(kind string, id int64) string) map[string][][]string {
	wallUTC := func(t time.Time) string { return ts(utc(t)) }
	m := map[string][][]string{}
	add := func(table string, row ...string) { m[table] = append(m[table], row) }
	date := func(t *time.Time) string {
		if t == nil {
			return "NULL"
		}
		return t.Format("2006-01-02") + "T00:00:00Z"
	}
	for _, a := range d.Athletes {
		add("athletes", wid("athlete", a.AthleteID), a.FirstName, a.LastName, a.Email, date(a.BirthDate), a.Gender, pf(a.HeightCm), pf(a.WeightKg),
			pint(a.BodyFatPercentage), b(a.Active), ts(a.CreatedAt), wallUTC(a.CreatedAt), ts(a.UpdatedAt), wallUTC(a.UpdatedAt))
	}
	for _, c := range d.Coaches {
		add("coaches", i64(c.CoachID), c.FirstName, c.LastName, c.Email, b(c.IsAdmin), ts(c.CreatedAt), ts(c.UpdatedAt))
	}
	for _, w := range d.Workouts {
		add("workouts", wid("workout", w.WorkoutID), wid("athlete", w.AthleteID), w.Source, w.Sport, ts(w.StartedAt), wallUTC(w.StartedAt), i64(w.DurationSeconds),
			pf(w.DistanceKm), pint(w.AvgHR), pint(w.MaxHR), pint(w.Calories), pint(w.RPE), pint(w.IntensityPercentage), ps(w.Notes), ts(w.UpdatedAt))
	}
	for _, a := range d.Assessments {
		add("assessments", wid("assessment", a.AssessmentID), wid("athlete", a.AthleteID), a.Name, ts(a.AssessedAt), wallUTC(a.AssessedAt), ps(a.Notes), ts(a.UpdatedAt))
		for j, r := range a.Results {
			add("assessment_results", wid("assessment", a.AssessmentID), i(j), r.Metric, f(r.Value), r.Unit)
		}
	}
	return sortTables(m)
}

var opQueries = map[string]string{
	"athletes": `SELECT athlete_id, first_name, last_name, email, birth_date, gender, height_cm, weight_kg, body_fat_percentage, active,
		created_at, created_at_utc, updated_at, updated_at_utc FROM optimo_athletes`,
	"coaches": "SELECT coach_id, first_name, last_name, email, is_admin, created_at, updated_at FROM optimo_coaches",
	"workouts": `SELECT workout_id, athlete_id, source, sport, started_at, started_at_utc, duration_seconds, distance_km, avg_hr, max_hr,
		calories, rpe, intensity_percentage, notes, updated_at FROM optimo_workouts`,
	"assessments":        "SELECT assessment_id, athlete_id, name, assessed_at, assessed_at_utc, notes, updated_at FROM optimo_assessments",
	"assessment_results": "SELECT assessment_id, position, metric, value, unit FROM optimo_assessment_results",
}

// TestOptimoBackfillMinimumRequests: a backfill makes one request per page
// of each method, no more (the conformance suite proves it exact).
func TestOptimoBackfillMinimumRequests(t *testing.T) {
	t.Parallel()
	h := newOPHarness(t, 41, sbo.Options{})
	sum, err := h.run(RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.assertExact(opExpected(h.sb.Optimo.Truth(), wallUTCOracle(h.sb.Optimo.Zone().String())))
	// The minimum: one request per page of each method.
	truth := h.sb.Optimo.Truth()
	pages := func(n int) int { return max(1, (n+99)/100) }
	minimum := pages(len(truth.Athletes)) + pages(len(truth.Coaches)) + pages(len(truth.Workouts)) + pages(len(truth.Assessments))
	got := int(sum.Requests["optimo"].Requests)
	t.Logf("backfill: %d requests, minimum (pages x methods) %d", got, minimum)
	if got != minimum {
		t.Errorf("backfill made %d requests, the minimum is %d", got, minimum)
	}
}

// TestOptimoQuotaStopsAndResumes: the budget runs out in the middle of a
// backfill; the run stops with its state saved (exit 75), spends no more
// than the budget, and a run the next day finishes exactly.
func TestOptimoQuotaStopsAndResumes(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)}
	h := newOPHarness(t, 42, sbo.Options{Clock: clock.Now})
	// Four methods: a budget of 4 is one request each a day, so the
	// two-page workout list cannot finish on the first day.
	h.cfg.Sources.optimo().DailyRequestBudget = 4
	stops := 0
	for day := 0; ; day++ {
		if day > 10 {
			t.Fatal("the backfill never finished")
		}
		before := h.sb.Optimo.Stats().Total
		_, err := Run(context.Background(), &Env{Stdout: h.logs, Stderr: h.logs, Log: slog.New(slog.DiscardHandler)}, h.cfg,
			RunOptions{Command: "sync", Run: connector.Run{Clock: clock.Now, Sleep: clock.Sleep, Backoff: time.Millisecond}})
		spent := h.sb.Optimo.Stats().Total - before
		if spent > 4 {
			t.Fatalf("day %d: %d requests, budget 4", day, spent)
		}
		// A second run the same day makes no request at all.
		if err != nil && errors.Is(err, pipeline.ErrStopEarly) {
			if code := ExitCode(err); code != ExitStopped {
				t.Fatalf("day %d: a run the quota stopped exits %d, want 75: %v", day, code, err)
			}
			stops++
			again := h.sb.Optimo.Stats().Total
			if _, err := Run(context.Background(), &Env{Stdout: h.logs, Stderr: h.logs, Log: slog.New(slog.DiscardHandler)}, h.cfg,
				RunOptions{Command: "sync", Run: connector.Run{Clock: clock.Now, Sleep: clock.Sleep}}); !errors.Is(err, pipeline.ErrStopEarly) || ExitCode(err) != ExitStopped {
				t.Fatalf("day %d, second run: %v (exit %d), want a stop (exit 75)", day, err, ExitCode(err))
			}
			if n := h.sb.Optimo.Stats().Total - again; n != 0 {
				t.Fatalf("day %d: the second run made %d requests past the budget", day, n)
			}
			clock.Sleep(context.Background(), 24*time.Hour)
			continue
		}
		if err != nil {
			t.Fatalf("day %d: %v", day, err)
		}
		t.Logf("finished on day %d", day)
		break
	}
	if stops == 0 {
		t.Fatal("the budget never ran out: the test did not test the quota")
	}
	h.assertExact(opExpected(h.sb.Optimo.Truth(), wallUTCOracle(h.sb.Optimo.Zone().String())))
	for _, q := range []string{
		"SELECT count(*) - count(DISTINCT workout_id) FROM optimo_workouts",
		"SELECT count(*) - count(DISTINCT (assessment_id, position)) FROM optimo_assessment_results",
	} {
		if got := h.query(q); got[0][0] != "0" {
			t.Errorf("%s = %s", q, got[0][0])
		}
	}
}

func TestOptimoVendorQuotaAnd429(t *testing.T) {
	t.Parallel()
	for _, as429 := range []bool{false, true} {
		t.Run(fmt.Sprint("429=", as429), func(t *testing.T) {
			h := newOPHarness(t, 43, sbo.Options{QuotaAs429: as429, DailyQuota: 4})
			_, err := h.run(RunOptions{})
			if !errors.Is(err, pipeline.ErrStopEarly) {
				t.Fatalf("err = %v, want a stop", err)
			}
			if st := h.sb.Optimo.Stats(); st.QuotaRefused != 1 {
				t.Errorf("the refused request was retried: %+v", st)
			}
		})
	}
}

func TestOptimoCoachTokenSkipsCoaches(t *testing.T) {
	t.Parallel()
	h := newOPHarness(t, 45, sbo.Options{})
	h.cfg.Sources.optimo().Token = connector.Secret(sandbox.OptimoCoachToken)
	sum, err := h.run(RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.query("SELECT count(*) FROM optimo_coaches"); got[0][0] != "0" {
		t.Errorf("coaches read with a coach token: %v", got)
	}
	if len(sum.Anomalies) == 0 {
		t.Error("skipping coach.list was not reported")
	}
	if got := h.query("SELECT count(*) FROM optimo_workouts"); got[0][0] == "0" {
		t.Error("no workouts")
	}
}

// TestOptimoEmptiedCoachesEmpty: the coaches snapshot follows the vendor
// down to nothing (the conformance suite proves an unchanged sync writes
// nothing).
func TestOptimoEmptiedCoachesEmpty(t *testing.T) {
	t.Parallel()
	h := newOPHarness(t, 47, sbo.Options{})
	if _, err := h.run(RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := h.query("SELECT count(*) > 0 FROM optimo_coaches"); n[0][0] != "true" {
		t.Fatal("no coaches: the test would prove nothing")
	}

	// Every coach deleted at the vendor: the view empties.
	h.sb.Optimo.Mutate(func(d *sbo.Dataset) { d.Coaches = nil })
	if _, err := h.run(RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := h.query("SELECT count(*) FROM optimo_coaches"); n[0][0] != "0" {
		t.Errorf("optimo_coaches has %s rows after every coach was deleted at the vendor", n[0][0])
	}
}
