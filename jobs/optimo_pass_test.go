package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/athlake/athlake/extract/optimo"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/sandbox"
	sbo "github.com/athlake/athlake/sandbox/optimo"
)

// runAt runs a sync (or o.Command) on the fake clock (the budget's day).
func (h *opHarness) runAt(clock *fakeClock, o RunOptions) (*Summary, error) {
	o.Clock, o.Sleep, o.Backoff = clock.Now, clock.Sleep, time.Millisecond
	return h.run(o)
}

// streamState reads one Optimo stream's state from the lake.
func (h *opHarness) streamState(stream string) map[string]any {
	h.t.Helper()
	var m map[string]any
	if raw := h.readState()[stream]; raw != nil {
		if err := json.Unmarshal(raw, &m); err != nil {
			h.t.Fatal(err)
		}
	}
	return m
}

// wallOf is the account's wall-clock reading of instant t (the sandbox's
// zone), as the truth holds it.
func wallOf(t time.Time, loc *time.Location) time.Time {
	w := t.In(loc)
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, time.UTC)
}

// withDeleted is the truth plus the workouts deleted at the vendor after
// the lake had read them: Optimo has no deletion feed, so they stay.
func withDeleted(d *sbo.Dataset, deleted []sbo.Workout) *sbo.Dataset {
	d.Workouts = append(d.Workouts, deleted...)
	return d
}

// afterCall runs hook once, after the sandbox answered the first request
// for page of method.
func afterCall(method string, page int, hook func()) func(http.Handler) http.Handler {
	var once sync.Once
	want := []string{`method="` + method + `"`, "<page>" + strconv.Itoa(page) + "</page>"}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			next.ServeHTTP(w, r)
			if bytes.Contains(body, []byte(want[0])) && bytes.Contains(body, []byte(want[1])) {
				once.Do(hook)
			}
		})
	}
}

// TestOptimoDeletionsBetweenPages: rows deleted at the vendor between two
// pages of a pass move later rows onto the page already read; the pass
// sees the total drop and reads that page again, so no row is skipped.
func TestOptimoDeletionsBetweenPages(t *testing.T) {
	t.Parallel()
	var h *opHarness
	var deleted []sbo.Workout
	h = newOPHarness(t, 47, sbo.Options{RecordCalls: true}, afterCall("workout.list", 1, func() {
		h.sb.Optimo.Mutate(func(d *sbo.Dataset) {
			deleted = slices.Clone(d.Workouts[10:13])
			d.Workouts = slices.Delete(d.Workouts, 10, 13)
		})
	}))
	if n := len(h.sb.Optimo.Truth().Workouts); n <= 100 {
		t.Fatalf("%d workouts: one page, nothing to shift", n)
	}
	if _, err := h.run(RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 3 {
		t.Fatal("the deletions never happened")
	}
	h.assertExact(opExpected(withDeleted(h.sb.Optimo.Truth(), deleted), wallUTCOracle(h.sb.Optimo.Zone().String())))
	var pages []string
	for _, c := range h.sb.Optimo.Calls() {
		if c.Method == "workout.list" {
			pages = append(pages, c.Args["page"])
		}
	}
	if want := []string{"1", "2", "1"}; !slices.Equal(pages, want) {
		t.Errorf("workout.list pages %v, want %v (page 1 again once the total dropped)", pages, want)
	}
}

// TestOptimoUpdateDuringPassIsNotSkipped: a record on a page already read
// is updated while the pass reads a later page whose rows carry newer
// stamps; the watermark stays at the pass's start (vendor's clock), so the
// next pass reads the update.
func TestOptimoUpdateDuringPassIsNotSkipped(t *testing.T) {
	t.Parallel()
	var h *opHarness
	var x int64
	h = newOPHarness(t, 48, sbo.Options{RecordCalls: true}, afterCall("workout.list", 1, func() {
		start := wallOf(h.sb.Optimo.Now(), h.sb.Optimo.Zone())
		h.sb.Optimo.Advance(3 * time.Hour)
		h.sb.Optimo.Mutate(func(d *sbo.Dataset) {
			w := &d.Workouts[5] // on page 1, read already
			x = w.WorkoutID
			w.Notes = ptrTo("edited while the pass ran")
			w.UpdatedAt = start.Add(10 * time.Minute)
			d.Workouts[len(d.Workouts)-1].UpdatedAt = start.Add(3 * time.Hour) // on the last page, still to read
		})
	}))
	if _, err := h.run(RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if x == 0 {
		t.Fatal("the update never happened")
	}
	h.sb.Optimo.Advance(24 * time.Hour)
	if _, err := h.run(RunOptions{}); err != nil {
		t.Fatal(err)
	}
	h.assertExact(opExpected(h.sb.Optimo.Truth(), wallUTCOracle(h.sb.Optimo.Zone().String())))
	if got := h.query("SELECT notes FROM optimo_workouts WHERE workout_id = '" + i64(x) + "'"); len(got) != 1 || got[0][0] != "edited while the pass ran" {
		t.Errorf("workout %d: %v, want the edit made during the first pass", x, got)
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestOptimoPassSpanningDays: the quota cuts the first pass of workouts;
// before the next day the vendor deletes rows of the page it stopped at
// and updates a record on its first page, and a record still to read gets
// a newer stamp. The resumed pass reads its last page again (no row
// skipped), and its watermark is no later than its start, so the next pass
// reads the update. Views exact against the truth (plus the deleted rows,
// which Optimo never reports).
func TestOptimoPassSpanningDays(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)}
	h := newOPHarness(t, 49, sbo.Options{Scale: sandbox.ScaleMedium, Clock: clock.Now, RecordCalls: true})
	h.cfg.Sources.optimo().DailyRequestBudget = 20
	loc := h.sb.Optimo.Zone()
	var deleted []sbo.Workout
	var x int64
	if _, err := h.runAt(clock, RunOptions{}); !errors.Is(err, pipeline.ErrStopEarly) {
		t.Fatalf("first day: %v, want a stop", err)
	}
	p, _ := h.streamState("workouts")["pass"].(map[string]any)
	if p == nil {
		t.Fatal("the first pass of workouts finished on the first day: the test tests nothing")
	}
	done := int(p["pages_done"].(float64))
	started, err := time.Parse(time.RFC3339, p["started_at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if want := wallOf(h.sb.Optimo.Now(), loc); !started.Equal(want) {
		t.Errorf("pass started_at %s, want the vendor's wall clock %s", started, want)
	}
	h.sb.Optimo.Advance(24 * time.Hour)
	h.sb.Optimo.Mutate(func(d *sbo.Dataset) {
		at := (done-1)*100 + 40 // on the page the pass stopped at
		deleted = slices.Clone(d.Workouts[at : at+3])
		d.Workouts = slices.Delete(d.Workouts, at, at+3)
		w := &d.Workouts[5] // on page 1
		x = w.WorkoutID
		w.Notes = ptrTo("edited between two days of the pass")
		w.UpdatedAt = started.Add(30 * time.Minute)
		d.Workouts[len(d.Workouts)-1].UpdatedAt = started.Add(20 * time.Hour) // still to read
	})
	// Day by day until the pass completes, then until a whole sync (with
	// the next incremental pass) finishes.
	complete := false
	for day := 1; ; day++ {
		if day > 15 {
			t.Fatal("the pass never finished")
		}
		clock.Sleep(context.Background(), 24*time.Hour)
		_, err := h.runAt(clock, RunOptions{})
		if err != nil && !errors.Is(err, pipeline.ErrStopEarly) {
			t.Fatalf("day %d: %v", day, err)
		}
		if !complete {
			complete = h.streamState("workouts")["pass"] == nil
			continue
		}
		if err == nil {
			break
		}
	}
	h.assertExact(opExpected(withDeleted(h.sb.Optimo.Truth(), deleted), wallUTCOracle(h.sb.Optimo.Zone().String())))
	if got := h.query("SELECT notes FROM optimo_workouts WHERE workout_id = '" + i64(x) + "'"); len(got) != 1 || got[0][0] != "edited between two days of the pass" {
		t.Errorf("workout %d: %v, want the edit made between the pass's days", x, got)
	}
}

// TestOptimoCursorFields: an account whose records carry their change
// stamp as <modified>. Without cursor_fields every complete pass finds no
// cursor: an anomaly, a warning in the log and in status. With them, the
// next pass asks updated_from, and the views are exact.
func TestOptimoCursorFields(t *testing.T) {
	t.Parallel()
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		h := newOPHarness(t, 50, sbo.Options{StampName: "modified", RecordCalls: true})
		sum, err := h.run(RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{"athlete.list", "workout.list", "assessment.list"} {
			want := `no record carries the cursor field "updated_at"`
			if !slices.ContainsFunc(sum.Anomalies, func(a string) bool { return strings.Contains(a, m+": "+want) }) {
				t.Errorf("no anomaly for %s in %q", m, sum.Anomalies)
			}
		}
		if !strings.Contains(h.logs.String(), `"level":"WARN"`) || !strings.Contains(h.logs.String(), "sources.optimo.cursor_fields.workout.list") {
			t.Error("no warning in the log naming the setting")
		}
		var out bytes.Buffer
		if err := Status(context.Background(), &Env{Stdout: &out, Stderr: &out, Log: slog.New(slog.DiscardHandler)}, h.cfg); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "warning: workouts: optimo workout.list: no record carries the cursor field") {
			t.Errorf("status shows no warning:\n%s", out.String())
		}
		h.sb.Optimo.Advance(24 * time.Hour)
		before := len(h.sb.Optimo.Calls())
		if _, err := h.run(RunOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, c := range h.sb.Optimo.Calls()[before:] {
			if _, ok := c.Args["updated_from"]; ok {
				t.Errorf("%s asked updated_from with no cursor known", c.Method)
			}
		}
	})
	t.Run("configured", func(t *testing.T) {
		t.Parallel()
		h := newOPHarness(t, 50, sbo.Options{StampName: "modified", RecordCalls: true})
		h.cfg.Sources.optimo().CursorFields = optimo.CursorFields{Athletes: "modified", Workouts: "modified", Assessments: "modified"}
		sum, err := h.run(RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(sum.Anomalies) != 0 {
			t.Errorf("anomalies: %q", sum.Anomalies)
		}
		h.sb.Optimo.Advance(24 * time.Hour)
		before := len(h.sb.Optimo.Calls())
		if _, err := h.run(RunOptions{}); err != nil {
			t.Fatal(err)
		}
		asked := map[string]bool{}
		for _, c := range h.sb.Optimo.Calls()[before:] {
			_, asked[c.Method] = c.Args["updated_from"]
		}
		if want := map[string]bool{"athlete.list": true, "coach.list": false, "workout.list": true, "assessment.list": true}; !mapsEqual(asked, want) {
			t.Errorf("updated_from asked by method: %v, want %v", asked, want)
		}
		// The stamp is kept as sent, in _extra; updated_at is null.
		want := opExpected(h.sb.Optimo.Truth(), wallUTCOracle(h.sb.Optimo.Zone().String()))
		nulls := map[string][]int{"athletes": {12, 13}, "coaches": {6}, "workouts": {14}, "assessments": {6}}
		for table, cols := range nulls {
			for _, r := range want[table] {
				for _, c := range cols {
					r[c] = "NULL"
				}
			}
			sortRows(want[table])
		}
		h.assertExact(want)
		if got := h.query("SELECT count(*) FROM optimo_workouts WHERE _extra->>'modified' IS NULL"); got[0][0] != "0" {
			t.Errorf("%s workouts without their modified stamp in _extra", got[0][0])
		}
	})
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestOptimoCursorFieldsConfig(t *testing.T) {
	t.Parallel()
	base := "output: ./lake\nsources:\n  optimo:\n    base_url: https://x.optimosport.com/api/2.1/xml-in\n    token: t\n    cursor_fields:\n"
	for _, c := range []struct{ yaml, key, msg string }{
		{"      workout.list: \"bad name\"\n", "sources.optimo.cursor_fields.workout.list", "not an XML element name"},
		{"      athlete.list: \"<x>\"\n", "sources.optimo.cursor_fields.athlete.list", "not an XML element name"},
		{"      coach.list: modified\n", "sources.optimo.cursor_fields.coach.list", "line 7: unknown key coach.list"},
		{"      workouts.list: modified\n", "sources.optimo.cursor_fields.workouts.list", "line 7: unknown key workouts.list"},
	} {
		cfg, err := ParseConfig([]byte(base+c.yaml), func(string) string { return "" })
		if err == nil {
			err = cfg.Validate()
		}
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: err = %v, want a config error on key %q saying %q", c.yaml, err, c.key, c.msg)
		}
	}
	cfg, err := ParseConfig([]byte(base+"      workout.list: modified\n      assessment.list: changed.at\n"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	got := cfg.Sources.optimo().CursorFields.ByMethod()
	if len(got) != 2 || got["workout.list"] != "modified" || got["assessment.list"] != "changed.at" {
		t.Errorf("cursor fields = %v", got)
	}
}

// TestOptimoVendorQuotaLeavesTheDayOpen: the vendor refuses a request for
// its quota: the run stops (exit 75) without spending our own budget; a
// later run the same day sends one request and stops again while the
// vendor still refuses, and goes on once the vendor's limit is raised.
func TestOptimoVendorQuotaLeavesTheDayOpen(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)}
	h := newOPHarness(t, 51, sbo.Options{DailyQuota: 2, QuotaAs429: true, Clock: clock.Now})
	if _, err := h.runAt(clock, RunOptions{}); !errors.Is(err, pipeline.ErrStopEarly) || ExitCode(err) != ExitStopped {
		t.Fatalf("first run: %v (exit %d), want a stop (exit 75)", err, ExitCode(err))
	}
	st, err := store.NewLocal(h.cfg.Output)
	if err != nil {
		t.Fatal(err)
	}
	q, err := optimo.LakeQuota(st).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !q.VendorRefused || q.Used >= h.cfg.Sources.optimo().DailyRequestBudget || q.Used != h.sb.Optimo.Stats().Total {
		t.Errorf("quota after the vendor's refusal: %+v (sent %d): want our count of what was sent, and the refusal noted", q, h.sb.Optimo.Stats().Total)
	}
	// The vendor still refuses: one request, then a stop.
	before := h.sb.Optimo.Stats()
	if _, err := h.runAt(clock, RunOptions{}); !errors.Is(err, pipeline.ErrStopEarly) || ExitCode(err) != ExitStopped {
		t.Fatalf("second run: %v (exit %d), want a stop (exit 75)", err, ExitCode(err))
	}
	after := h.sb.Optimo.Stats()
	if n := after.Total - before.Total; n != 1 || after.QuotaRefused-before.QuotaRefused != 1 {
		t.Errorf("second run sent %d requests (%d refused), want a single probe", n, after.QuotaRefused-before.QuotaRefused)
	}
	var out bytes.Buffer
	if err := Status(context.Background(), &Env{Stdout: &out, Stderr: &out, Log: slog.New(slog.DiscardHandler)}, h.cfg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "the vendor refused a request for its quota on 2026-06-01") {
		t.Errorf("status does not say the vendor refused:\n%s", out.String())
	}
	// The vendor raises the limit: the same day, a run finishes.
	h.sb.Optimo.SetDailyQuota(5000)
	if _, err := h.runAt(clock, RunOptions{}); err != nil {
		t.Fatalf("after the vendor raised its limit: %v", err)
	}
	h.assertExact(opExpected(h.sb.Optimo.Truth(), wallUTCOracle(h.sb.Optimo.Zone().String())))
}

// TestOptimoBackfillFirstInFewestDays: with a small daily budget the first
// pass takes days; the streams whose pass finished on an earlier day spend
// nothing while the others are unfinished, so the whole first pass
// completes in the fewest days the pages allow.
func TestOptimoBackfillFirstInFewestDays(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)}
	h := newOPHarness(t, 52, sbo.Options{Scale: sandbox.ScaleMedium, Clock: clock.Now, RecordCalls: true})
	truth := h.sb.Optimo.Truth()
	pages := func(n int) int { return max(1, (n+99)/100) }
	total := pages(len(truth.Athletes)) + pages(len(truth.Coaches)) + pages(len(truth.Workouts)) + pages(len(truth.Assessments))
	// A budget with room for the boundary re-reads (a resumed pass reads
	// its last page again: at most one per stream, 4, a day) and for the
	// pass that follows a resumed one at once (one page each here, the
	// data standing still). The fewest days are then the pages over the
	// budget, rounded up.
	budget, days := 0, 0
	for b := 10; b <= 40; b++ {
		if d := (total + b - 1) / b; d >= 3 && d*b-total >= 4*(d-1)+4 {
			budget, days = b, d
			break
		}
	}
	if budget == 0 {
		t.Fatalf("no budget in 10..40 spreads %d pages over 3 days or more with room for the re-reads", total)
	}
	t.Logf("%d pages, budget %d a day: %d days at least", total, budget, days)
	h.cfg.Sources.optimo().DailyRequestBudget = budget
	for day := 1; ; day++ {
		if day > days {
			t.Fatalf("the first pass did not complete in %d days", days)
		}
		methods := map[string]string{"athletes": "athlete.list", "coaches": "coach.list", "workouts": "workout.list", "assessments": "assessment.list"}
		doneBefore := map[string]bool{}
		for s, m := range methods {
			if st := h.streamState(s); st != nil && st["pass"] == nil {
				doneBefore[m] = true
			}
		}
		before := len(h.sb.Optimo.Calls())
		_, err := h.runAt(clock, RunOptions{})
		if err != nil && !errors.Is(err, pipeline.ErrStopEarly) {
			t.Fatalf("day %d: %v", day, err)
		}
		unfinished := false
		for s := range methods {
			if m := h.streamState(s); m == nil || m["pass"] != nil {
				unfinished = true
			}
		}
		if !unfinished {
			t.Logf("complete on day %d", day)
			if day != days {
				t.Errorf("complete on day %d, the fewest days are %d", day, days)
			}
			break
		}
		// While some pass is unfinished, the streams done before the day
		// spend nothing.
		for _, c := range h.sb.Optimo.Calls()[before:] {
			if doneBefore[c.Method] {
				t.Errorf("day %d: %s spent a request while a first pass was unfinished", day, c.Method)
			}
		}
		clock.Sleep(context.Background(), 24*time.Hour)
	}
	h.assertExact(opExpected(h.sb.Optimo.Truth(), wallUTCOracle(h.sb.Optimo.Zone().String())))
}
