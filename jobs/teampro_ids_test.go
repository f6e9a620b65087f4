package jobs

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/athlake/athlake/extract/connector"
	sbt "github.com/athlake/athlake/sandbox/teampro"
)

// TestTeamProBackfillHostilePlayers: a backfill that names players with
// hostile ids on the command line reads each one's list and sessions once
// (the conformance suite syncs hostile ids).
func TestTeamProBackfillHostilePlayers(t *testing.T) {
	t.Parallel()
	h := newTPHarness(t, 36, sbt.Options{})
	ids := h.sb.TeamPro.AddHostileTeams()
	truth := h.sb.TeamPro.Truth()
	var hostilePlayers []string
	for _, tm := range truth.Teams {
		if slices.Contains(ids, tm.ID) {
			hostilePlayers = append(hostilePlayers, tm.Players[0].PlayerID)
		}
	}
	if _, err := h.run(RunOptions{Command: "backfill", Sources: []string{"teampro"}, Run: connector.Run{Backfill: true, Athletes: hostilePlayers}}); err != nil {
		t.Fatalf("backfill of hostile players: %v", err)
	}
	if st := h.sb.TeamPro.Stats(); st.ByRoute[sbt.RoutePlayerSessions] != len(ids) || st.ByRoute[sbt.RoutePlayerSession] != len(ids) || st.ByRoute[sbt.RouteUnknown] != 0 {
		t.Errorf("backfill of %d hostile players: requests %v", len(ids), st.ByRoute)
	}
	for _, id := range ids {
		if got := h.query("SELECT count(*) FROM teampro_player_sessions WHERE player_id = " + sqlString(id)); got[0][0] != "1" {
			t.Errorf("hostile player %q: %s sessions, want 1", id, got[0][0])
		}
	}
	if got := h.query("SELECT count(DISTINCT player_id) FROM teampro_player_sessions"); got[0][0] != strconv.Itoa(len(ids)) {
		t.Errorf("sessions of %s players backfilled, want the %d named", got[0][0], len(ids))
	}
	assertInsideLake(t, h.cfg, "teampro")
}

// deleteWhere removes the elements of s that match del.
func deleteWhere[T any](s []T, del func(T) bool) []T { return slices.DeleteFunc(s, del) }

// TestTeamProVanishedRecords: a team, a team session, a player session and
// a summary deleted between their list and their details are skipped with
// an anomaly naming the endpoint; the run succeeds and the views equal the
// vendor's data after the deletions. Nothing skipped is recorded as seen:
// when the records come back, the next sync fetches them.
func TestTeamProVanishedRecords(t *testing.T) {
	t.Parallel()
	h := newTPHarness(t, 37, sbt.Options{})
	// The next sync lists the whole history again, so records that come
	// back are listed whatever their start.
	h.cfg.Sources.teampro().Lookback = connector.Duration(30 * 24 * time.Hour)
	tp := h.sb.TeamPro
	truth := tp.TruthWithoutSamples()
	doomed := truth.Teams[0]
	doomed.ID, doomed.Players = "doomed-team", nil
	tp.Mutate(func(d *sbt.Dataset) { d.Teams = append(d.Teams, doomed) })
	// The newest session of all, an INDIVIDUAL one, vanishes too: the
	// watermark must not move over it.
	var newestID string
	tp.Mutate(func(d *sbt.Dataset) {
		var latest time.Time
		for _, x := range d.PlayerSessions {
			if x.StartTime.After(latest) {
				latest = x.StartTime
			}
		}
		for i := range d.PlayerSessions {
			if x := &d.PlayerSessions[i]; x.Type == sbt.TypeIndividual {
				shift := latest.Add(time.Hour).Sub(x.StartTime)
				x.StartTime, x.StopTime, newestID = x.StartTime.Add(shift), x.StopTime.Add(shift), x.ID
				return
			}
		}
	})

	var (
		mu          sync.Mutex // the hook runs on the sandbox's goroutines
		goneTS      sbt.TeamSession
		gonePS      sbt.PlayerSession
		newest      sbt.PlayerSession
		noSummary   string
		lostSummary *sbt.Summary
		players     int
	)
	tp.OnList(func(route, id string, listed []string) {
		mu.Lock()
		defer mu.Unlock()
		switch route {
		case sbt.RouteTeams:
			tp.Mutate(func(d *sbt.Dataset) {
				d.Teams = deleteWhere(d.Teams, func(x sbt.Team) bool { return x.ID == "doomed-team" })
			})
		case sbt.RouteTeamSessions:
			if goneTS.ID != "" {
				return
			}
			tp.Mutate(func(d *sbt.Dataset) {
				d.TeamSessions = deleteWhere(d.TeamSessions, func(x sbt.TeamSession) bool {
					if x.ID == listed[0] {
						goneTS = x
						return true
					}
					return false
				})
			})
		case sbt.RoutePlayerSessions:
			if newest.ID == "" && slices.Contains(listed, newestID) {
				tp.MutateSession(newestID, func(x *sbt.PlayerSession) { newest = *x })
				tp.Mutate(func(d *sbt.Dataset) {
					d.PlayerSessions = deleteWhere(d.PlayerSessions, func(x sbt.PlayerSession) bool { return x.ID == newestID })
				})
			}
			players++
			switch players {
			case 1: // a TEAM session of a team session still there
				for _, ps := range listed {
					var keep sbt.PlayerSession
					tp.MutateSession(ps, func(x *sbt.PlayerSession) { keep = *x }) // samples loaded, to bring it back
					if keep.Type != sbt.TypeTeam || *keep.TeamSessionID == goneTS.ID {
						continue
					}
					gonePS = keep
					tp.Mutate(func(d *sbt.Dataset) {
						d.PlayerSessions = deleteWhere(d.PlayerSessions, func(x sbt.PlayerSession) bool { return x.ID == ps })
					})
					return
				}
			case 2: // a summary
				tp.Mutate(func(d *sbt.Dataset) {
					for i := range d.PlayerSessions {
						x := &d.PlayerSessions[i]
						if slices.Contains(listed, x.ID) && x.Summary != nil && x.ID != gonePS.ID {
							noSummary, lostSummary, x.Summary = x.ID, x.Summary, nil
							return
						}
					}
				})
			}
		}
	})
	sum := h.sync()
	tp.OnList(nil)
	mu.Lock()
	defer mu.Unlock()
	if goneTS.ID == "" || gonePS.ID == "" || noSummary == "" || newest.ID == "" {
		t.Fatalf("deleted team session %q, player sessions %q and %q, summary of %q: the test needs all four", goneTS.ID, gonePS.ID, newest.ID, noSummary)
	}
	if sum.Status != "ok" {
		t.Fatalf("status %s: %s", sum.Status, sum.Error)
	}
	h.assertExact(tpExpected(tp.Truth()))
	for _, endpoint := range []string{
		"GET /teampro/v1/teams/doomed-team:",
		"GET /teampro/v1/teams/training_sessions/" + goneTS.ID + ":",
		"GET /teampro/v1/training_sessions/" + gonePS.ID + "?samples=all:",
		"GET /teampro/v1/training_sessions/" + newest.ID + "?samples=all:",
		"GET /teampro/v1/training_sessions/" + noSummary + "/session_summary:",
	} {
		n := 0
		for _, a := range sum.Anomalies {
			if strings.Contains(a, endpoint) && strings.Contains(a, "not found") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d anomalies name %s, want 1: %q", n, endpoint, sum.Anomalies)
		}
	}
	// The state records none of them as fetched.
	var st struct {
		Watermark time.Time                  `json:"watermark"`
		Seen      map[string]json.RawMessage `json:"seen"`
		TeamSeen  map[string]json.RawMessage `json:"team_seen"`
	}
	if err := json.Unmarshal(h.readState()["training"], &st); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{gonePS.ID, newest.ID, noSummary} {
		if _, ok := st.Seen[k]; ok {
			t.Errorf("state records player session %s as seen", k)
		}
	}
	if _, ok := st.TeamSeen[goneTS.ID]; ok {
		t.Errorf("state records team session %s as seen", goneTS.ID)
	}
	if len(st.Seen) == 0 || len(st.TeamSeen) == 0 {
		t.Errorf("state: %d seen: the pass did not complete", len(st.Seen))
	}
	// The watermark is the newest start committed, not the vanished one's.
	var committed time.Time
	for _, x := range tp.TruthWithoutSamples().PlayerSessions {
		if x.StartTime.After(committed) {
			committed = x.StartTime
		}
	}
	if !st.Watermark.Equal(committed) || !committed.Before(newest.StartTime) {
		t.Errorf("watermark %v; want %v, the newest start committed (the vanished newest: %v)", st.Watermark, committed, newest.StartTime)
	}

	// They come back: the next sync fetches them.
	tp.Mutate(func(d *sbt.Dataset) {
		d.TeamSessions = append(d.TeamSessions, goneTS)
		d.PlayerSessions = append(d.PlayerSessions, gonePS, newest)
		for i := range d.PlayerSessions {
			if d.PlayerSessions[i].ID == noSummary {
				d.PlayerSessions[i].Summary = lostSummary
			}
		}
	})
	sum = h.sync()
	h.assertExact(tpExpected(tp.Truth()))
	for _, a := range sum.Anomalies {
		if strings.Contains(a, "not found") {
			t.Errorf("anomaly after the records came back: %s", a)
		}
	}
	if err := json.Unmarshal(h.readState()["training"], &st); err != nil || !st.Watermark.Equal(newest.StartTime) {
		t.Errorf("watermark %v (%v) once the newest session is back; want its start %v", st.Watermark, err, newest.StartTime)
	}
}

// TestTeamProEveryDetailNotFound: when every detail answers 404 (a base
// URL pointing at the wrong service), the run fails instead of skipping.
func TestTeamProEveryDetailNotFound(t *testing.T) {
	t.Parallel()
	h := newTPHarness(t, 38, sbt.Options{})
	tp := h.sb.TeamPro
	tp.Mutate(func(d *sbt.Dataset) {
		for _, id := range []string{"extra-1", "extra-2", "extra-3"} {
			x := d.Teams[0]
			x.ID, x.Players = id, nil
			d.Teams = append(d.Teams, x)
		}
	})
	tp.SetFaults(sbt.Faults{NotFound: []string{sbt.RouteTeam, sbt.RouteTeamSession, sbt.RoutePlayerSession, sbt.RouteSessionSummary}})
	sum, err := h.run(RunOptions{})
	if err == nil || sum == nil || sum.Status != "failed" || !strings.Contains(err.Error(), "HTTP 404") || !strings.Contains(err.Error(), "base_url") {
		t.Fatalf("err = %v; want a failed run naming the 404 and base_url", err)
	}
	if _, ok := h.readState()["training"]; ok && strings.Contains(string(h.readState()["training"]), `"watermark"`) {
		t.Errorf("a failed run moved the watermark: %s", h.readState()["training"])
	}
}

// forbidDetails answers 403 to the team session details, as the vendor
// does to a user who may list a team's sessions but not read them.
type forbidDetails struct{ next http.RoundTripper }

func (f forbidDetails) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.Contains(r.URL.EscapedPath(), "/v1/teams/training_sessions/") {
		return f.next.RoundTrip(r)
	}
	body := `{"status":403,"error":"Forbidden","message":"Access denied"}`
	return &http.Response{
		StatusCode: http.StatusForbidden, Status: "403 Forbidden", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: r,
	}, nil
}

// TestTeamProForbiddenDetailFails: a 403 on a detail is no vanished
// record: the run fails with a configuration error naming the token.
func TestTeamProForbiddenDetailFails(t *testing.T) {
	t.Parallel()
	h := newTPHarness(t, 43, sbt.Options{})
	h.transport = forbidDetails{next: http.DefaultTransport}
	sum, err := h.run(RunOptions{})
	var cfgErr *ConfigError
	if err == nil || !errors.As(err, &cfgErr) || cfgErr.Key != "sources.teampro.token_file" || !strings.Contains(err.Error(), "HTTP 403") {
		t.Fatalf("err = %v; want a configuration error naming sources.teampro.token_file and the 403", err)
	}
	if sum.Status != "failed" || slices.ContainsFunc(sum.Anomalies, func(a string) bool { return strings.Contains(a, "not found") }) {
		t.Errorf("status %s, anomalies %q", sum.Status, sum.Anomalies)
	}
}
