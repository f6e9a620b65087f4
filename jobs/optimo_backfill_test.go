package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/sandbox"
	sbo "github.com/athlake/athlake/sandbox/optimo"
)

// backfillCase gives an athlete (hostile ids: one with an exact hostile
// id) 500 workouts over 250 days, twice a day at 07:15 and 19:15 wall
// clock, and three assessments, so that a window of months holds several
// pages of workout.list. It returns the athlete and the window: from the
// autumn DST day to the spring DST day, both ends at 07:15 (inclusive).
func backfillCase(t *testing.T, sb *sbo.Server) (athlete int64, since, until time.Time) {
	t.Helper()
	truth := sb.Truth()
	athlete = truth.Athletes[2].AthleteID // hostile: "<tag>&amp;"
	sb.Mutate(func(d *sbo.Dataset) {
		var maxW, maxA int64
		var proto sbo.Workout
		for _, w := range d.Workouts {
			maxW = max(maxW, w.WorkoutID)
			if w.AthleteID == athlete {
				proto = w
			}
		}
		for _, a := range d.Assessments {
			maxA = max(maxA, a.AssessmentID)
		}
		if proto.WorkoutID == 0 {
			proto = d.Workouts[0]
			proto.AthleteID = athlete
		}
		day0 := time.Date(2025, 8, 1, 7, 15, 0, 0, time.UTC)
		for k := range 500 {
			w := proto
			w.WorkoutID = maxW + 1 + int64(k)
			w.StartedAt = day0.AddDate(0, 0, k/2).Add(time.Duration(k%2) * 12 * time.Hour)
			w.CreatedAt = w.StartedAt.Add(2 * time.Hour)
			w.UpdatedAt = w.CreatedAt
			d.Workouts = append(d.Workouts, w)
		}
		for k, at := range []time.Time{
			time.Date(2025, 10, 26, 7, 15, 0, 0, time.UTC), // the window's first instant
			time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC),
			time.Date(2026, 3, 29, 7, 15, 1, 0, time.UTC), // a second after it
		} {
			a := d.Assessments[k]
			a.AssessmentID, a.AthleteID, a.AssessedAt = maxA+1+int64(k), athlete, at
			a.CreatedAt, a.UpdatedAt = at.Add(time.Hour), at.Add(time.Hour)
			a.Results = slices.Clone(a.Results)
			d.Assessments = append(d.Assessments, a)
		}
	})
	since = wallUTCOracle(sb.Zone().String())(time.Date(2025, 10, 26, 7, 15, 0, 0, time.UTC))
	until = wallUTCOracle(sb.Zone().String())(time.Date(2026, 3, 29, 7, 15, 0, 0, time.UTC))
	return athlete, since, until
}

// inWindow is the truth of one athlete's workouts and assessments whose
// start, converted through the account's zone, lies in [since, until].
func inWindow(sb *sbo.Server, athlete int64, since, until time.Time) *sbo.Dataset {
	d := sb.Truth()
	in := func(id int64, wall time.Time) bool {
		at := wallUTCOracle(sb.Zone().String())(wall)
		return id == athlete && !at.Before(since) && !at.After(until)
	}
	d.Athletes, d.Coaches = nil, nil
	d.Workouts = slices.DeleteFunc(d.Workouts, func(w sbo.Workout) bool { return !in(w.AthleteID, w.StartedAt) })
	d.Assessments = slices.DeleteFunc(d.Assessments, func(a sbo.Assessment) bool { return !in(a.AthleteID, a.AssessedAt) })
	return d
}

var opBackfillQueries = map[string]string{
	"workouts": opQueries["workouts"], "assessments": opQueries["assessments"], "assessment_results": opQueries["assessment_results"],
}

// TestOptimoBackfillAthleteWindow: `backfill --athlete --since --until`
// reads exactly one athlete's workouts and assessments in the window (the
// instants mapped to Optimo's wall-clock dates), with a hostile athlete id
// too; a small daily budget stops it, and the same command resumes it the
// next days, reading no page twice but the one it stopped at.
func TestOptimoBackfillAthleteWindow(t *testing.T) {
	t.Parallel()
	for _, hostile := range []bool{false, true} {
		t.Run(fmt.Sprint("hostile=", hostile), func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{t: time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)}
			h := newOPHarness(t, 54, sbo.Options{HostileIDs: hostile, RecordCalls: true, Clock: clock.Now})
			sb := h.sb.Optimo
			athlete, since, until := backfillCase(t, sb)
			wire := sb.WireID("athlete", athlete)
			if hostile && wire != sbo.HostileIDs[2] {
				t.Fatalf("athlete id %q, want the hostile %q", wire, sbo.HostileIDs[2])
			}
			h.cfg.Sources.optimo().DailyRequestBudget = 2
			o := RunOptions{Command: "backfill", Run: connector.Run{Backfill: true, Athletes: []string{wire}, Since: since, Until: until}}
			stops := 0
			for day := 0; ; day++ {
				if day > 10 {
					t.Fatal("the backfill never finished")
				}
				_, err := h.runAt(clock, o)
				if errors.Is(err, pipeline.ErrStopEarly) {
					stops++
					clock.Sleep(context.Background(), 24*time.Hour)
					continue
				}
				if err != nil {
					t.Fatalf("day %d: %v", day, err)
				}
				break
			}
			t.Logf("%d stops", stops)
			if stops < 2 {
				t.Fatalf("%d stops: the quota did not cut the backfill mid-list", stops)
			}
			want := opExpectedIDs(inWindow(sb, athlete, since, until), wallUTCOracle(sb.Zone().String()), sb.WireID)
			if n := len(want["workouts"]); n < 300 {
				t.Fatalf("%d workouts in the window: fewer than three pages", n)
			}
			assertViews(t, h.query, "optimo_", opBackfillQueries, want)
			if got := h.query("SELECT count(*) FROM optimo_athletes"); got[0][0] != "0" {
				t.Errorf("%s athletes written: the athletes were given, not listed", got[0][0])
			}

			// The calls: the athlete's id and the window's dates (widened
			// by a day) as sent; every page once, but the ones a stop cut.
			truth := sb.Truth()
			lo, hi := time.Date(2025, 10, 25, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
			n := map[string]int{}
			for _, w := range truth.Workouts {
				if w.AthleteID == athlete && !w.StartedAt.Before(lo) && w.StartedAt.Before(hi) {
					n["workout.list"]++
				}
			}
			for _, a := range truth.Assessments {
				if a.AthleteID == athlete && !a.AssessedAt.Before(lo) && a.AssessedAt.Before(hi) {
					n["assessment.list"]++
				}
			}
			fetched := map[string]int{}
			dup := 0
			for _, c := range sb.Calls() {
				if c.Method != "workout.list" && c.Method != "assessment.list" {
					t.Errorf("a %s call", c.Method)
					continue
				}
				if c.Args["athlete_id"] != wire || c.Args["date_from"] != "2025-10-25" || c.Args["date_to"] != "2026-03-30" {
					t.Errorf("%s arguments %q", c.Method, c.Args)
				}
				k := c.Method + " page " + c.Args["page"]
				fetched[k]++
				if fetched[k] > 1 {
					dup++
				}
				if fetched[k] > 2 {
					t.Errorf("%s fetched %d times", k, fetched[k])
				}
			}
			wantPages := (n["workout.list"]+99)/100 + (n["assessment.list"]+99)/100
			t.Logf("pages fetched: %v (%d again)", fetched, dup)
			if len(fetched) != wantPages || dup > stops {
				t.Errorf("fetched %v: want %d pages, each once but at most one a stop (%d stops, %d fetched again)", fetched, wantPages, stops, dup)
			}
		})
	}
}

// TestOptimoBackfillKeepsIncrementalState: a backfill of every athlete
// (listed through athlete.list) over a lake that is kept current leaves
// the incremental streams' state as it was and loses nothing; run again
// once complete, it is done again.
func TestOptimoBackfillKeepsIncrementalState(t *testing.T) {
	t.Parallel()
	h := newOPHarness(t, 55, sbo.Options{HostileIDs: true, RecordCalls: true})
	sb := h.sb.Optimo
	if _, err := h.run(RunOptions{}); err != nil {
		t.Fatal(err)
	}
	streams := []string{"athletes", "coaches", "workouts", "assessments"}
	before := map[string]string{}
	for _, s := range streams {
		before[s] = fmt.Sprint(h.streamState(s))
	}
	sb.Advance(24 * time.Hour)
	clock := &fakeClock{t: time.Now()}
	for round := range 2 {
		calls := len(sb.Calls())
		if _, err := h.runAt(clock, RunOptions{Command: "backfill", Run: connector.Run{Backfill: true}}); err != nil {
			t.Fatalf("backfill %d: %v", round, err)
		}
		perAthlete := 0
		for _, c := range sb.Calls()[calls:] {
			if c.Args["athlete_id"] != "" {
				perAthlete++
			}
		}
		if want := 2 * len(sb.Truth().Athletes); perAthlete != want {
			t.Errorf("backfill %d: %d per-athlete calls, want %d (two lists of one page each per athlete)", round, perAthlete, want)
		}
		if bf := h.streamState("backfill"); !strings.HasPrefix(fmt.Sprint(bf["params"]), "complete:") {
			t.Errorf("backfill %d: state %v, want complete", round, bf)
		}
	}
	for _, s := range streams {
		if got := fmt.Sprint(h.streamState(s)); got != before[s] {
			t.Errorf("the backfill moved %s's state:\n got %s\nwant %s", s, got, before[s])
		}
	}
	// The backfill read the day's changes of workouts and assessments;
	// the next sync brings the rest (the coaches) and the views are exact.
	if _, err := h.run(RunOptions{}); err != nil {
		t.Fatal(err)
	}
	h.assertExact(opExpectedIDs(sb.Truth(), wallUTCOracle(sb.Zone().String()), sb.WireID))
	assertInsideLake(t, h.cfg, "optimo")
}

// TestOptimoBackfillAllAthletesResumes: a backfill of every athlete, cut
// by the daily budget; between two days the vendor deletes athletes on the
// athlete page already done, so later athletes move onto it: the resumed
// backfill notices and reads that page too, and no athlete is skipped.
func TestOptimoBackfillAllAthletesResumes(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)}
	h := newOPHarness(t, 56, sbo.Options{Scale: sandbox.ScaleMedium, Clock: clock.Now, RecordCalls: true})
	sb := h.sb.Optimo
	h.cfg.Sources.optimo().DailyRequestBudget = 150
	var deleted []sbo.Athlete
	stops := 0
	for day := 0; ; day++ {
		if day > 12 {
			t.Fatal("the backfill never finished")
		}
		_, err := h.runAt(clock, RunOptions{Command: "backfill", Run: connector.Run{Backfill: true}})
		if err == nil {
			break
		}
		if !errors.Is(err, pipeline.ErrStopEarly) {
			t.Fatalf("day %d: %v", day, err)
		}
		stops++
		if bf := h.streamState("backfill"); deleted == nil && bf["athlete_page"] == 2.0 {
			sb.Mutate(func(d *sbo.Dataset) {
				// Most of page 1: the rest of page 2, not done yet, moves
				// onto it.
				deleted = slices.Clone(d.Athletes[5:95])
				d.Athletes = slices.Delete(d.Athletes, 5, 95)
			})
		}
		clock.Sleep(context.Background(), 24*time.Hour)
	}
	if deleted == nil {
		t.Fatal("the backfill never stopped on the second athlete page: the test tests nothing")
	}
	truth := sb.Truth()
	truth.Athletes = append(truth.Athletes, deleted...)
	want := opExpected(truth, wallUTCOracle(sb.Zone().String()))
	assertViews(t, h.query, "optimo_", map[string]string{"athletes": opQueries["athletes"], "workouts": opQueries["workouts"],
		"assessments": opQueries["assessments"], "assessment_results": opQueries["assessment_results"]}, want)
	athletePages := 0
	for _, c := range sb.Calls() {
		if c.Method == "athlete.list" {
			athletePages++
		}
	}
	t.Logf("%d stops, %d athlete pages read", stops, athletePages)
	if athletePages > 3+2*stops {
		t.Errorf("%d athlete pages read for 3 pages and %d stops", athletePages, stops)
	}
}

// TestOptimoBackfillDeletionsBetweenPages: workouts deleted at the vendor
// while the backfill reads an athlete's list: the next page's total drops,
// the backfill reads the page before again, and no workout is skipped.
func TestOptimoBackfillDeletionsBetweenPages(t *testing.T) {
	t.Parallel()
	var h *opHarness
	var athlete int64
	var deleted []sbo.Workout
	h = newOPHarness(t, 57, sbo.Options{RecordCalls: true}, afterCall("workout.list", 1, func() {
		h.sb.Optimo.Mutate(func(d *sbo.Dataset) {
			var mine []int // the athlete's workouts in the dates asked, in id order
			for i, w := range d.Workouts {
				if w.AthleteID == athlete && !w.StartedAt.Before(time.Date(2025, 10, 25, 0, 0, 0, 0, time.UTC)) {
					mine = append(mine, i)
				}
			}
			for _, i := range slices.Backward(mine[20:23]) { // on page 1
				deleted = append(deleted, d.Workouts[i])
				d.Workouts = slices.Delete(d.Workouts, i, i+1)
			}
		})
	}))
	sb := h.sb.Optimo
	var since, until time.Time
	athlete, since, until = backfillCase(t, sb)
	if _, err := h.runNow(RunOptions{Command: "backfill", Run: connector.Run{Backfill: true, Athletes: []string{sb.WireID("athlete", athlete)}, Since: since, Until: until}}); err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 3 {
		t.Fatal("the deletions never happened")
	}
	truth := inWindow(sb, athlete, since, until)
	truth.Workouts = append(truth.Workouts, deleted...) // read before they were deleted, all in the window
	assertViews(t, h.query, "optimo_", opBackfillQueries, opExpected(truth, wallUTCOracle(sb.Zone().String())))
	var pages []string
	for _, c := range sb.Calls() {
		if c.Method == "workout.list" {
			pages = append(pages, c.Args["page"])
		}
	}
	if want := []string{"1", "2", "1", "2", "3", "4"}; !slices.Equal(pages, want) {
		t.Errorf("workout.list pages %v, want %v", pages, want)
	}
}

// runNow runs with the given options on the real clock.
func (h *opHarness) runNow(o RunOptions) (*Summary, error) {
	return h.runAt(&fakeClock{t: time.Now()}, o)
}
