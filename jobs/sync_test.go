package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/internal/testlog"
	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/pipeline"
	sbp "github.com/athlake/athlake/sandbox/plyomat"
)

// TestPlyomatIncrementalEdges: the summary counts the requests the vendor
// saw; an incremental sync makes far fewer than the backfill and catches a
// set stamped exactly at the last watermark and a set arriving late (the
// conformance suite proves backfill and incremental exact in general).
func TestPlyomatIncrementalEdges(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 11)
	sum := h.sync()
	h.assertExact(expected(h.sb.Plyomat.Truth()))
	backfillRequests := h.sb.Plyomat.Stats().Total
	if got := sum.Requests["plyomat"].Requests; got != int64(backfillRequests) {
		t.Errorf("summary counts %d requests, the sandbox saw %d", got, backfillRequests)
	}
	var rows int64
	for _, n := range sum.Rows {
		rows += n
	}
	if sum.Status != "ok" || rows == 0 || sum.Rejects != 0 || sum.Files == 0 {
		t.Errorf("summary = %+v", sum)
	}

	// Advance the vendor's data: new sessions and sets, updated sets with an
	// edited and a removed rep, a changed athlete, a new athlete, a removed
	// device. Then the awkward boundary cases.
	lastRunAt := h.sb.Plyomat.Now()
	rep := h.sb.Plyomat.Advance(36 * time.Hour)
	t.Logf("advance: %+v", rep)
	var exactID, lateID string
	h.sb.Plyomat.Mutate(func(d *sbp.Dataset) {
		// A set whose updated_at equals the last watermark exactly (the
		// server clock, to the second, at the start of the last pass).
		s := &d.Sets[0]
		s.UpdatedAt = lastRunAt.Truncate(time.Second)
		s.Reps[0].IsKept = !s.Reps[0].IsKept
		exactID = s.ID
		// A late set: stamped ten minutes before the last run ended, arriving
		// only now.
		late := d.Sets[1]
		late.ID = "late-set-0001"
		late.CreatedAt = lastRunAt.Add(-10 * time.Minute)
		late.UpdatedAt = late.CreatedAt
		late.Reps = append([]sbp.Rep(nil), late.Reps...)
		d.Sets = append(d.Sets, late)
		lateID = late.ID
	})
	h.sb.Plyomat.ResetStats()
	h.sync()
	want := expected(h.sb.Plyomat.Truth())
	h.assertExact(want)
	incRequests := h.sb.Plyomat.Stats().Total
	t.Logf("requests: backfill %d, incremental %d", backfillRequests, incRequests)
	if incRequests*3 > backfillRequests {
		t.Errorf("incremental sync made %d requests, backfill %d: want far fewer", incRequests, backfillRequests)
	}
	for _, id := range []string{exactID, lateID} {
		if got := h.query("SELECT count(*) FROM plyomat_sets WHERE id = '" + id + "'"); got[0][0] != "1" {
			t.Errorf("set %s not in the view after the incremental sync", id)
		}
	}
}

func TestSecondRunIsLockedOut(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 17)
	st, err := store.NewLocal(h.cfg.Output)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	lock := &load.Lock{Store: st}
	lease, err := lock.Acquire(context.Background(), pipeline.Holder{RunID: "other-run", Command: "sync", Host: host, PID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = h.run(RunOptions{})
	var locked *pipeline.LockedError
	if !errors.As(err, &locked) || locked.Holder.RunID != "other-run" || !strings.Contains(err.Error(), "expires at") {
		t.Fatalf("err = %v, want a LockedError naming other-run", err)
	}
	if time.Since(start) > 5*time.Second || h.sb.Plyomat.Stats().Total != 0 {
		t.Errorf("locked run took %v and made %d requests", time.Since(start), h.sb.Plyomat.Stats().Total)
	}
	lease.Release(context.Background())
	h.sync()
	h.assertExact(expected(h.sb.Plyomat.Truth()))
}

func TestBackfillOneAthlete(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 18)
	truth := h.sb.Plyomat.Truth()
	athlete := truth.Sets[0].AthleteID
	since := truth.Sets[0].StartedAt.Add(-time.Hour)
	if _, err := h.run(RunOptions{Command: "backfill", Run: connector.Run{Backfill: true, Athletes: []string{athlete}, Since: since}}); err != nil {
		t.Fatal(err)
	}
	var want [][]string
	for _, x := range truth.Sets {
		if x.AthleteID == athlete && (!x.CreatedAt.Before(since) || !x.UpdatedAt.Before(since)) {
			want = append(want, []string{x.ID})
		}
	}
	got := h.query("SELECT id FROM plyomat_sets")
	if d := diffRows(sortRows(want), sortRows(got)); d != "" || len(want) == 0 {
		t.Errorf("backfilled sets (%d wanted):\n%s", len(want), d)
	}
	if other := h.query("SELECT count(*) FROM plyomat_sets WHERE athlete_id <> '" + athlete + "'"); other[0][0] != "0" {
		t.Errorf("backfill of one athlete wrote %s sets of others", other[0][0])
	}
	// The incremental state is untouched: the next sync is a full backfill.
	if _, ok := h.readState()["sets"]; ok {
		t.Error("backfill wrote the incremental sets state")
	}
	h.sync()
	h.assertExact(expected(h.sb.Plyomat.Truth()))
}

func TestDemo(t *testing.T) {
	t.Parallel()
	out := &testlog.Buffer{}
	env := &Env{Stdout: out, Stderr: out, Log: slog.New(slog.DiscardHandler)}
	dir := t.TempDir()
	if err := Demo(context.Background(), env, DemoOptions{Out: dir}); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{filepath.Join(dir, "athlake.duckdb"), "best_jump_cm", "plyomat_reps", "set.completed deliveries signed, acknowledged", "\nset.completed  "} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	// Five result rows after the header.
	i := strings.Index(text, "athlete  ")
	if i < 0 || strings.Count(strings.TrimSpace(text[i:strings.Index(text[i:], "\n\n")+i]), "\n") != 5 {
		t.Errorf("demo did not print five result rows:\n%s", text)
	}
}

// athleteBarrier holds per-athlete sets requests until n are in flight at
// once (or 10 s pass), and records the most seen in flight.
type athleteBarrier struct {
	next     http.RoundTripper
	n        int
	mu       sync.Mutex
	inFlight int
	most     int
	release  chan struct{}
	once     sync.Once
}

func (b *athleteBarrier) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(r.URL.Path, "/sets") || !r.URL.Query().Has("athlete_id") {
		return b.next.RoundTrip(r)
	}
	b.mu.Lock()
	b.inFlight++
	b.most = max(b.most, b.inFlight)
	if b.inFlight >= b.n {
		b.once.Do(func() { close(b.release) })
	}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.inFlight--
		b.mu.Unlock()
	}()
	select {
	case <-b.release:
	case <-time.After(10 * time.Second): // fewer run at once: let the run finish, and the test fail
		b.once.Do(func() { close(b.release) })
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return b.next.RoundTrip(r)
}

func TestFirstSetsPassReadsAthletesConcurrently(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 19)
	h.cfg.Sources.plyomat().Concurrency = 3
	barrier := &athleteBarrier{next: http.DefaultTransport, n: 3, release: make(chan struct{})}
	env := h.env()
	env.Transport = barrier
	if _, err := Run(context.Background(), env, h.cfg, RunOptions{Command: "sync", Run: connector.Run{Timeout: 2 * time.Minute}}); err != nil {
		t.Fatal(err)
	}
	if barrier.most != 3 {
		t.Errorf("at most %d athletes' sets requests in flight, want the configured 3", barrier.most)
	}
	h.assertExact(expected(h.sb.Plyomat.Truth()))
	// The first pass is complete: the sets stream has its watermark.
	var st struct {
		Watermark time.Time `json:"watermark"`
	}
	if err := json.Unmarshal(h.readState()["sets"], &st); err != nil || st.Watermark.IsZero() {
		t.Fatalf("sets state after the first pass: %s (%v)", h.readState()["sets"], err)
	}
}

// deleter deletes, at the first request that names it, each of the
// sandbox's groups and athletes it was given, as if a coach deleted it
// between the list that returned it and the request for its details.
type deleter struct {
	next     http.RoundTripper
	sb       *sbp.Server
	mu       sync.Mutex
	athletes map[string]bool
	groups   map[string]bool
}

func (d *deleter) RoundTrip(r *http.Request) (*http.Response, error) {
	q := r.URL.Query()
	d.mu.Lock()
	group, athlete := q.Get("group_id"), q.Get("athlete_id")
	delGroup, delAthlete := d.groups[group], d.athletes[athlete]
	delete(d.groups, group)
	delete(d.athletes, athlete)
	d.mu.Unlock()
	if delGroup || delAthlete {
		d.sb.Mutate(func(ds *sbp.Dataset) {
			ds.Groups = slices.DeleteFunc(ds.Groups, func(g sbp.Group) bool { return delGroup && g.ID == group })
			ds.Athletes = slices.DeleteFunc(ds.Athletes, func(a sbp.Athlete) bool { return delAthlete && a.ID == athlete })
			ds.Memberships = slices.DeleteFunc(ds.Memberships, func(m sbp.Membership) bool {
				return delGroup && m.GroupID == group || delAthlete && m.AthleteID == athlete
			})
			ds.Sessions = slices.DeleteFunc(ds.Sessions, func(s sbp.Session) bool { return delAthlete && s.AthleteID == athlete })
			ds.Sets = slices.DeleteFunc(ds.Sets, func(s sbp.Set) bool { return delAthlete && s.AthleteID == athlete })
		})
	}
	return d.next.RoundTrip(r)
}

func TestRecordsVanishingMidRunAreSkipped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 20)
	h.sb.Plyomat.SetFaults(sbp.Faults{UnknownFilter404: true})
	truth := h.sb.Plyomat.Truth()
	group, athlete := truth.Groups[1].ID, truth.Athletes[3].ID
	env := h.env()
	env.Transport = &deleter{next: http.DefaultTransport, sb: h.sb.Plyomat,
		groups: map[string]bool{group: true}, athletes: map[string]bool{athlete: true}}
	sum, err := Run(context.Background(), env, h.cfg, RunOptions{Command: "sync", Run: connector.Run{Timeout: 2 * time.Second, Backoff: 5 * time.Millisecond}})
	if err != nil {
		t.Fatalf("sync with records deleted mid-run: %v", err)
	}
	for _, endpoint := range []string{"GET /plyomat/v1/athletes?group_id=" + url.QueryEscape(group), "GET /plyomat/v1/sets?athlete_id=" + url.QueryEscape(athlete)} {
		if !slices.ContainsFunc(sum.Anomalies, func(a string) bool { return strings.Contains(a, endpoint) && strings.Contains(a, "not found") }) {
			t.Errorf("no anomaly naming %s in %q", endpoint, sum.Anomalies)
		}
		if !strings.Contains(h.logs.String(), endpoint) {
			t.Errorf("the log does not name %s", endpoint)
		}
	}
	// Everything else was read: the sets and reps are the sandbox's,
	// without the deleted athlete's. (Its sessions come from the global
	// sessions list, read before or after the deletion: a `since` list
	// never tells of deletions, so they are left out of the comparison.)
	others := func(rows [][]string) [][]string {
		return slices.DeleteFunc(slices.Clone(rows), func(r []string) bool { return slices.Contains(r, athlete) })
	}
	want, got := expected(h.sb.Plyomat.Truth()), h.actual()
	for _, table := range []string{"sets", "reps"} {
		if d := diffRows(want[table], got[table]); d != "" {
			t.Errorf("%s after a record vanished:\n%s", table, d)
		}
	}
	if d := diffRows(others(want["sessions"]), others(got["sessions"])); d != "" {
		t.Errorf("sessions after a record vanished:\n%s", d)
	}
	// The checkpoint covered the rest: the next sync is incremental, and
	// the deleted group and athlete are gone from the snapshots.
	h.sb.Plyomat.ResetStats()
	h.sync()
	if n := h.sb.Plyomat.Stats().ByPath["/sets"]; n > 2 {
		t.Errorf("the sync after the vanished records made %d sets requests: the first pass was not checkpointed", n)
	}
	want, got = expected(h.sb.Plyomat.Truth()), h.actual()
	for table := range want {
		w, g := want[table], got[table]
		if table == "sessions" {
			w, g = others(w), others(g)
		}
		if d := diffRows(w, g); d != "" {
			t.Errorf("%s after the next sync:\n%s", table, d)
		}
	}
}

func TestNotFoundOnEveryDetailFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 21)
	h.sb.Plyomat.SetFaults(sbp.Faults{UnknownFilter404: true})
	env := h.env()
	// Every athlete "vanishes": a wrong account or base URL, not deletions.
	env.Transport = &deleter{next: http.DefaultTransport, sb: h.sb.Plyomat, athletes: map[string]bool{}}
	for _, a := range h.sb.Plyomat.Truth().Athletes {
		env.Transport.(*deleter).athletes[a.ID] = true
	}
	_, err := Run(context.Background(), env, h.cfg, RunOptions{Command: "sync", Run: connector.Run{Timeout: 2 * time.Second, Backoff: 5 * time.Millisecond}})
	if err == nil || !strings.Contains(err.Error(), "GET /plyomat/v1/sets?athlete_id=") || !strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("err = %v, want the 404 naming the sets endpoint", err)
	}
	var st struct {
		Watermark time.Time `json:"watermark"`
	}
	json.Unmarshal(h.readState()["sets"], &st)
	if !st.Watermark.IsZero() {
		t.Errorf("the first sets pass was taken as complete (watermark %s) although every athlete's sets answered 404", st.Watermark)
	}
}

// TestPlyomatSnapshots: one device edited writes its snapshot alone
// again; every device and assessment deleted at the vendor empties their
// views (the conformance suite proves an unchanged sync writes nothing).
func TestPlyomatSnapshots(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 22)
	h.sync()
	h.sb.Plyomat.Mutate(func(d *sbp.Dataset) { d.Devices[0].FirmwareVersion = "9.9.9" })
	sum := h.sync()
	if got := sum.Rows["plyomat_devices"]; got != int64(len(h.sb.Plyomat.Truth().Devices)) {
		t.Errorf("devices rows written after an edit: %d", got)
	}
	for table, n := range sum.Rows {
		if table != "plyomat_devices" && n != 0 {
			t.Errorf("%s: %d rows written although unchanged", table, n)
		}
	}
	h.assertExact(expected(h.sb.Plyomat.Truth()))

	// Every device and assessment deleted at the vendor: the views empty.
	h.sb.Plyomat.Mutate(func(d *sbp.Dataset) {
		d.Devices, d.Assessments = nil, nil
		for i := range d.Sessions {
			d.Sessions[i].DeviceID = nil
		}
	})
	h.sync()
	for _, view := range []string{"plyomat_devices", "plyomat_assessments"} {
		if n := h.query("SELECT count(*) FROM " + view); n[0][0] != "0" {
			t.Errorf("%s has %s rows after every record was deleted at the vendor", view, n[0][0])
		}
	}
	for _, view := range []string{"plyomat_athletes", "plyomat_groups"} {
		if n := h.query("SELECT count(*) FROM " + view); n[0][0] == "0" {
			t.Errorf("%s emptied", view)
		}
	}
}

func TestBackfillAthleteNeedsOneSource(t *testing.T) {
	t.Parallel()
	cfg := SandboxConfig("http://127.0.0.1:1", t.TempDir())
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Log: slog.New(slog.DiscardHandler)}
	_, err := Run(context.Background(), env, cfg, RunOptions{Command: "backfill", Run: connector.Run{Backfill: true, Athletes: []string{"a1"}}})
	var usage *UsageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), "--source") {
		t.Fatalf("err = %v, want a usage error asking for --source", err)
	}
	if _, err := os.Stat(cfg.Output); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused backfill touched the output (%v)", err)
	}
}
