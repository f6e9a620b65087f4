package jobs

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/athlake/athlake/extract/connector"
	sbt "github.com/athlake/athlake/sandbox/teampro"
)

// instantOf is a player session's start as the backfill judges it: the
// wall clock minus the list's timezone_offset, or read as UTC without one.
func instantOf(ps *sbt.PlayerSession) time.Time {
	if ps.TimezoneOffset == nil {
		return ps.StartTime
	}
	return ps.StartTime.Add(-time.Duration(*ps.TimezoneOffset) * time.Minute)
}

// sessionsOnly keeps the player sessions keep selects, without teams and
// team sessions: what a backfill writes.
func sessionsOnly(d *sbt.Dataset, keep func(*sbt.PlayerSession) bool) *sbt.Dataset {
	out := &sbt.Dataset{}
	for i := range d.PlayerSessions {
		if keep(&d.PlayerSessions[i]) {
			out.PlayerSessions = append(out.PlayerSessions, d.PlayerSessions[i])
		}
	}
	return out
}

// sessionTables are the views a backfill fills.
var sessionTables = []string{"player_sessions", "rr_intervals", "samples", "session_summaries", "hr_zones", "speed_zones", "power_zones", "acceleration_zones"}

func (h *tpHarness) assertSessions(want map[string][][]string) {
	h.t.Helper()
	q := map[string]string{}
	for _, t := range sessionTables {
		q[t] = tpQueries[t]
	}
	assertViews(h.t, h.query, "teampro_", q, want)
}

// window is the instants [since, until] that cut off the first and the
// last distinct start among sessions.
func window(sessions []sbt.PlayerSession) (since, until time.Time) {
	var starts []time.Time
	for i := range sessions {
		starts = append(starts, instantOf(&sessions[i]))
	}
	slices.SortFunc(starts, time.Time.Compare)
	starts = slices.Compact(starts)
	return starts[1], starts[len(starts)-2]
}

// TestTeamProBackfillPlayersWindow: a backfill of two players over a
// window writes exactly their sessions that started in it (both bounds
// inclusive, to the instant), with samples, RR intervals and summaries,
// and leaves the training stream's state alone; run again, it is done
// again.
func TestTeamProBackfillPlayersWindow(t *testing.T) {
	t.Parallel()
	h := newTPHarness(t, 39, sbt.Options{})
	tp := h.sb.TeamPro
	truth := tp.Truth()
	players := []string{truth.Teams[0].Players[0].PlayerID, truth.Teams[0].Players[1].PlayerID}
	var theirs []sbt.PlayerSession
	for _, ps := range truth.PlayerSessions {
		if slices.Contains(players, ps.PlayerID) {
			theirs = append(theirs, ps)
		}
	}
	// The bounds are the starts of sessions: exact boundaries, inclusive.
	since, until := window(theirs)
	in := func(ps *sbt.PlayerSession) bool {
		at := instantOf(ps)
		return slices.Contains(players, ps.PlayerID) && !at.Before(since) && !at.After(until)
	}
	want := sessionsOnly(truth, in)
	if len(want.PlayerSessions) == 0 || len(want.PlayerSessions) == len(theirs) {
		t.Fatalf("the window holds %d of the players' %d sessions: the test would prove little", len(want.PlayerSessions), len(theirs))
	}
	// --athlete names ids of every source: a Plyomat athlete's id is no
	// Team Pro player, and is skipped with an anomaly.
	other := "plyomat-athlete-42"
	backfill := RunOptions{Command: "backfill", Sources: []string{"teampro"}, Run: connector.Run{Backfill: true, Athletes: append([]string{other}, players...), Since: since, Until: until}}
	sum, err := h.run(backfill)
	if err != nil {
		t.Fatalf("backfill: %v\n%s", err, h.logs.String())
	}
	if !slices.ContainsFunc(sum.Anomalies, func(a string) bool {
		return strings.Contains(a, "/v1/players/"+other+"/training_sessions") && strings.Contains(a, "no such player")
	}) {
		t.Errorf("no anomaly names the unknown player: %q", sum.Anomalies)
	}
	h.assertSessions(tpExpected(want))
	for _, q := range []string{"SELECT count(*) FROM teampro_teams", "SELECT count(*) FROM teampro_team_sessions"} {
		if got := h.query(q); got[0][0] != "0" {
			t.Errorf("%s = %s after a backfill of named players", q, got[0][0])
		}
	}
	if st := tp.Stats(); st.ByRoute[sbt.RoutePlayerSession] != len(want.PlayerSessions) || st.ByRoute[sbt.RoutePlayerSessions] != len(players)+1 {
		t.Errorf("requests %v: want %d details and %d lists", st.ByRoute, len(want.PlayerSessions), len(players)+1)
	}
	if _, ok := h.readState()["training"]; ok {
		t.Error("the backfill wrote the training stream's state")
	}

	// A sync after it is the full backfill, and a backfill after that
	// (the same one, complete: done again) leaves its state as it was.
	h.sync()
	h.assertExact(tpExpected(tp.Truth()))
	training := h.readState()["training"]
	tp.ResetStats()
	if _, err := h.run(backfill); err != nil {
		t.Fatalf("backfill again: %v", err)
	}
	if got := h.readState()["training"]; string(got) != string(training) {
		t.Errorf("the backfill changed the training state:\n%s\nwas\n%s", got, training)
	}
	if st := tp.Stats(); st.ByRoute[sbt.RoutePlayerSession] != len(want.PlayerSessions) {
		t.Errorf("the complete backfill run again fetched %d details, want %d", st.ByRoute[sbt.RoutePlayerSession], len(want.PlayerSessions))
	}
	h.assertExact(tpExpected(tp.Truth()))
}

// failAfter passes the first n requests on and fails every later one, as
// a network that goes away would.
type failAfter struct {
	next http.RoundTripper
	left atomic.Int64
}

func (f *failAfter) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.left.Add(-1) < 0 {
		return nil, errors.New("test: network unreachable")
	}
	return f.next.RoundTrip(r)
}

// TestTeamProBackfillResumes: a backfill of every rostered player cut off
// by the network resumes where it stopped: players done are not asked for
// again, nor are sessions of the player in progress already committed,
// and the result is that of an uninterrupted backfill.
func TestTeamProBackfillResumes(t *testing.T) {
	t.Parallel()
	h := newTPHarness(t, 40, sbt.Options{})
	tp := h.sb.TeamPro
	truth := tp.Truth()
	since, _ := window(truth.PlayerSessions)
	rostered := map[string]bool{}
	for _, tm := range truth.Teams {
		for _, p := range tm.Players {
			rostered[p.PlayerID] = true
		}
	}
	in := func(ps *sbt.PlayerSession) bool { return rostered[ps.PlayerID] && !instantOf(ps).Before(since) }
	want := sessionsOnly(truth, in)
	backfill := RunOptions{Command: "backfill", Sources: []string{"teampro"}, Run: connector.Run{Backfill: true, Since: since}}

	cut := &failAfter{next: http.DefaultTransport}
	cut.left.Store(20)
	h.transport = cut
	if _, err := h.run(backfill); err == nil {
		t.Fatal("the backfill cut off by the network succeeded")
	}
	var st struct {
		Players     []string `json:"players"`
		Done        []string `json:"done"`
		Current     string   `json:"current"`
		CurrentDone []string `json:"current_done"`
	}
	raw := h.readState()["backfill"]
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Done) == 0 || len(st.Done) >= len(st.Players) || len(st.Players) != len(rostered) || len(st.CurrentDone) == 0 {
		t.Fatalf("state after the cut: %s; want some of %d players done", raw, len(rostered))
	}
	// What the resumed run still has to fetch.
	left := 0
	for _, ps := range want.PlayerSessions {
		if !slices.Contains(st.Done, ps.PlayerID) && !slices.Contains(st.CurrentDone, ps.ID) {
			left++
		}
	}

	h.transport = nil
	tp.ResetStats()
	if _, err := h.run(backfill); err != nil {
		t.Fatalf("resumed backfill: %v\n%s", err, h.logs.String())
	}
	got := tp.Stats().ByRoute
	if got[sbt.RouteTeams] != 0 || got[sbt.RouteTeam] != 0 || got[sbt.RoutePlayerSessions] != len(st.Players)-len(st.Done) || got[sbt.RoutePlayerSession] != left {
		t.Errorf("resumed run's requests %v; want no team requests, %d lists and %d details", got, len(st.Players)-len(st.Done), left)
	}
	h.assertSessions(tpExpected(want))
	if got := h.query("SELECT count(*) FROM teampro_teams"); got[0][0] != i(len(truth.Teams)) {
		t.Errorf("%s teams, want the %d listed for the rosters", got[0][0], len(truth.Teams))
	}
	if _, ok := h.readState()["training"]; ok {
		t.Error("the backfill wrote the training stream's state")
	}
}

// TestTeamProBackfillSharesTheLimit: a backfill right after a sync, and a
// sync right after that, find the vendor's bucket as the run before left
// it: the streams share the rate limiter's saved level, and no run
// bounces off the vendor's limit.
func TestTeamProBackfillSharesTheLimit(t *testing.T) {
	t.Parallel()
	const burst = 10
	h := newTPHarness(t, 44, sbt.Options{Burst: burst, Rate: 1})
	tp := h.sb.TeamPro
	limit := RunOptions{Command: "sync", Run: connector.Run{Burst: burst, Rate: 1}}
	h.syncWith(limit)
	for _, o := range []RunOptions{
		{Command: "backfill", Sources: []string{"teampro"}, Run: connector.Run{Backfill: true, Burst: burst, Rate: 1}},
		limit,
	} {
		tp.ResetStats()
		sum, err := h.run(o)
		if err != nil {
			t.Fatalf("%s: %v", o.Command, err)
		}
		if st := tp.Stats(); st.RateLimited != 0 || st.Total < 5 {
			t.Errorf("%s right after another run: %d requests, %d answered 429 (retries %d)", o.Command, st.Total, st.RateLimited, sum.Requests["teampro"].Retries)
		}
	}
	h.assertExact(tpExpected(tp.Truth()))
}
