package teampro

import (
	"net/http"
	"testing"

	"github.com/athlake/athlake/sandbox/internal/pathseg"
)

// TestHostileTeams: every hostile id is served on every path that carries
// an id, and each answer is the record asked for.
func TestHostileTeams(t *testing.T) {
	f := newFixture(t, Options{Seed: 41})
	ids := f.s.AddHostileTeams()
	n := len(ids)
	teams := map[string]bool{}
	for _, tm := range all[wTeam](f, "/v1/teams", 100) {
		teams[tm.ID] = true
	}
	for i, id := range ids {
		player, tsID, psID := ids[(i+1)%n], ids[(i+2)%n], ids[(i+3)%n]
		if !teams[id] {
			t.Errorf("team %q not listed", id)
		}
		var tm struct{ Data wTeam }
		f.ok("/v1/teams/"+pathseg.Escape(id), &tm)
		if tm.Data.ID != id || len(tm.Data.Players) != 1 || tm.Data.Players[0].PlayerID != player {
			t.Errorf("team %q: got %q with players %+v", id, tm.Data.ID, tm.Data.Players)
		}
		tss := all[wTeamSession](f, "/v1/teams/"+pathseg.Escape(id)+"/training_sessions", 100)
		if len(tss) != 1 || tss[0].ID != tsID {
			t.Errorf("team %q: sessions %+v, want one, %q", id, tss, tsID)
		}
		var ts struct{ Data wTeamSession }
		f.ok("/v1/teams/training_sessions/"+pathseg.Escape(tsID), &ts)
		if ts.Data.ID != tsID || ts.Data.TeamID != id || len(ts.Data.Participants) != 1 || ts.Data.Participants[0].PlayerSessionID != psID {
			t.Errorf("team session %q: %+v", tsID, ts.Data)
		}
		pss := all[wPlayerSession](f, "/v1/players/"+pathseg.Escape(player)+"/training_sessions?type=ALL", 100)
		if len(pss) != 1 || pss[0].ID != psID {
			t.Errorf("player %q: sessions %+v, want one, %q", player, pss, psID)
		}
		var ps struct{ Data wPlayerSession }
		f.ok("/v1/training_sessions/"+pathseg.Escape(psID)+"?samples=all", &ps)
		if ps.Data.ID != psID || ps.Data.Samples == nil || len(ps.Data.Samples.Values) != 6000 {
			t.Errorf("player session %q: id %q, samples %v", psID, ps.Data.ID, ps.Data.Samples != nil)
		}
		var sum struct{ Data wSummary }
		f.ok("/v1/training_sessions/"+pathseg.Escape(psID)+"/session_summary", &sum)
		if sum.Data.PlayerSessionID != psID {
			t.Errorf("summary of %q names %q", psID, sum.Data.PlayerSessionID)
		}
	}
	if st := f.s.Stats(); st.ByRoute[RouteUnknown] != 0 {
		t.Errorf("%d requests not routed", st.ByRoute[RouteUnknown])
	}
	before := len(f.s.TruthWithoutSamples().Teams)
	f.s.AddHostileTeams()
	if after := len(f.s.TruthWithoutSamples().Teams); after != before {
		t.Errorf("a second AddHostileTeams added %d teams", after-before)
	}
}

// TestOnListAndNotFound: a record deleted by the OnList hook is listed
// but gone for its details; Faults.NotFound answers 404 on its routes only.
func TestOnListAndNotFound(t *testing.T) {
	f := newFixture(t, Options{Seed: 42})
	team := f.s.TruthWithoutSamples().Teams[0].ID
	var deleted string
	f.s.OnList(func(route, id string, listed []string) {
		if route != RouteTeamSessions || id != team || deleted != "" {
			return
		}
		deleted = listed[0]
		f.s.Mutate(func(d *Dataset) {
			for i := range d.TeamSessions {
				if d.TeamSessions[i].ID == deleted {
					d.TeamSessions = append(d.TeamSessions[:i], d.TeamSessions[i+1:]...)
					return
				}
			}
		})
	})
	listed := all[wTeamSession](f, "/v1/teams/"+team+"/training_sessions", 100)
	if len(listed) == 0 || listed[0].ID != deleted {
		t.Fatalf("listed %d sessions, the hook deleted %q", len(listed), deleted)
	}
	if r := f.get("/v1/teams/training_sessions/" + deleted); r.Status != http.StatusNotFound {
		t.Errorf("deleted team session: %d %s", r.Status, r.Body)
	}
	if r := f.get("/v1/teams/training_sessions/" + listed[1].ID); r.Status != http.StatusOK {
		t.Errorf("other team session: %d %s", r.Status, r.Body)
	}
	f.s.OnList(nil)

	f.s.SetFaults(Faults{NotFound: []string{RouteTeam}})
	if r := f.get("/v1/teams/" + team); r.Status != http.StatusNotFound {
		t.Errorf("team under NotFound: %d", r.Status)
	}
	if r := f.get("/v1/teams"); r.Status != http.StatusOK {
		t.Errorf("teams list under NotFound of RouteTeam: %d", r.Status)
	}
	if st := f.s.Stats(); st.NotFound != 1 || st.Faults() != 1 {
		t.Errorf("stats: %d not found, %d faults; want 1, 1", st.NotFound, st.Faults())
	}
}
