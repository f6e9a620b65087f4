package teampro

import (
	"strings"
	"time"
)

// HostileIDs are the ids AddHostileTeams gives teams, players, team
// sessions and player sessions: ids hostile to URL paths (separators,
// dot-segments, query and fragment marks, escapes), to query strings, to
// quoting, long or not ASCII, and one that is another with a prefix a
// client might use to tell kinds of ids apart ("team:a/b/c").
func HostileIDs() []string {
	long := "long-" + strings.Repeat("0123456789abcdefghij", 15)
	return []string{"a/b/c", "..", ".", "a/../b", "?x=1", "#frag", "%", "%2F", "k=v&x", "with space", `quo"te'`, "ünïcødé-✓", long[:300], "team:a/b/c"}
}

// AddHostileTeams adds a team for each of HostileIDs, so that every id
// appears in every id-bearing path: team i has id ids[i] and one player,
// ids[i+1]; its one team session, ids[i+2], holds that player's TEAM
// session, ids[i+3] (indexes modulo the list), with samples, RR intervals
// and a summary. Within a team the ids differ, so a client mixing them
// up is caught. The sessions (ten minutes each) lie in the hours before
// now. Teams already present are not added again. It returns the ids.
func (s *Server) AddHostileTeams() []string {
	s.st.Lock()
	defer s.st.Unlock()
	defer s.st.Reindex()
	ids := HostileIDs()
	n := len(ids)
	g := newGen(s.st.Rand, func(id string) bool { return s.st.Index.ids[id] }, s.opts.MaxDuration)
	data := &s.st.Data
	now := s.st.Clock
	var work []pending
	var newPS []PlayerSession
	for i, id := range ids {
		if _, ok := s.st.Index.teamByID[id]; ok {
			continue
		}
		c := cities()[i%len(cities())]
		tc := g.team(i, c, "SOCCER", now.Add(-30*24*time.Hour), now, 1)
		tc.team.ID = id
		tc.team.Players[0].PlayerID = ids[(i+1)%n]
		s.homes[id] = tc.home
		start := now.Add(-4*time.Hour + time.Duration(i)*10*time.Minute).Truncate(time.Second)
		ts, pss, srcs := g.teamSession(tc, start, 10*time.Minute, now, []int{0}, false)
		ts.ID = ids[(i+2)%n]
		ps := &pss[0]
		ps.ID, ps.TeamSessionID = ids[(i+3)%n], &ts.ID
		ts.Participants[0].PlayerSessionID = ps.ID
		s.srcs[ps.ID] = srcs[0]
		data.Teams = append(data.Teams, *tc.team)
		data.TeamSessions = append(data.TeamSessions, ts)
		newPS = append(newPS, *ps)
	}
	for i := range newPS {
		ps := &newPS[i]
		var ts *TeamSession
		for j := range data.TeamSessions {
			if data.TeamSessions[j].ID == *ps.TeamSessionID {
				ts = &data.TeamSessions[j]
			}
		}
		work = append(work, pending{ps: ps, src: s.srcs[ps.ID], ts: ts})
	}
	computeTotals(work)
	data.PlayerSessions = append(data.PlayerSessions, newPS...)
	return ids
}
