package teampro

import (
	"math"
	"slices"
	"time"
)

// AdvanceReport says what an Advance changed.
type AdvanceReport struct {
	From, To time.Time // the simulated window (From, To]

	NewTeamSessions       []string
	NewPlayerSessions     []string // the TEAM player sessions of the new team sessions
	NewIndividualSessions []string
	// ModifiedTeamSessions got a marker; ModifiedPlayerSessions were
	// re-processed: note and feeling changed, samples and RR intervals
	// edited, totals and summary recomputed. Both have modified in the
	// window.
	ModifiedTeamSessions   []string
	ModifiedPlayerSessions []string
}

// Longest lag from a session's end to its upload.
const uploadLag = 15 * time.Minute

// maxNewPerTeam bounds the team sessions one Advance makes per team (a
// window of years would otherwise make thousands).
const maxNewPerTeam = 200

// instant is a random whole second in (after, upTo]; upTo itself when
// there is none.
func (g *gen) instant(after, upTo time.Time) time.Time {
	lo := after.Truncate(time.Second).Add(time.Second)
	hi := upTo.Truncate(time.Second)
	if hi.Before(lo) {
		return upTo
	}
	return lo.Add(time.Duration(g.R.Int64N(int64(hi.Sub(lo)/time.Second)+1)) * time.Second)
}

// Advance moves the virtual clock forward by d and simulates the activity
// of the window (old now, new now]: for each team new team sessions (about
// the history's rate, at least one when the window holds a session) with
// their player sessions, a new INDIVIDUAL session, existing team sessions
// given a marker, and existing player sessions re-processed. Every new or
// changed record is stamped in the window. It is deterministic for a seed
// and a sequence of calls. A d <= 0 changes nothing.
func (s *Server) Advance(d time.Duration) AdvanceReport {
	var rep AdvanceReport
	rep.From, rep.To = s.st.Advance(d, nil, func(from, to time.Time) { s.advance(&rep, from, to) })
	return rep
}

// advance simulates the window (from, to] into rep. Callers hold the
// write lock.
func (s *Server) advance(rep *AdvanceReport, from, to time.Time) {
	d := to.Sub(from)
	g := newGen(s.st.Rand, func(id string) bool { return s.st.Index.ids[id] }, s.opts.MaxDuration)
	data := &s.st.Data
	p := paramsFor(s.opts.Scale)

	// Team sessions get a note marker (before the player sessions, whose
	// summaries take the later of both modified stamps).
	var tsOld []int
	for i := range data.TeamSessions {
		if !data.TeamSessions[i].Created.After(from) {
			tsOld = append(tsOld, i)
		}
	}
	for _, k := range g.R.Perm(len(tsOld))[:min(2, len(tsOld))] {
		ts := &data.TeamSessions[tsOld[k]]
		utcStart, _ := utcOfWall(ts.StartTime)
		at := utcStart.Add(time.Duration(g.R.Int64N(max(int64(ts.EndTime.Sub(ts.StartTime)/time.Millisecond), 1))) * time.Millisecond)
		note := g.Pick(teamNotes)
		ts.Markers = append(slices.Clone(ts.Markers), Marker{StartTime: at, EndTime: at, MarkerType: "NOTE", Name: "Coach note", Note: &note})
		slices.SortStableFunc(ts.Markers, func(a, b Marker) int { return a.StartTime.Compare(b.StartTime) })
		ts.Modified = g.instant(from, to)
		for _, pt := range ts.Participants {
			if i, ok := s.st.Index.playerSessionByID[pt.PlayerSessionID]; ok {
				ps := &data.PlayerSessions[i]
				if ps.Summary != nil {
					ps.Summary.Modified = laterOf(ts.Modified, ps.Modified)
				}
			}
		}
		rep.ModifiedTeamSessions = append(rep.ModifiedTeamSessions, ts.ID)
	}

	// Player sessions re-processed (generated ones only).
	var psOld []int
	for i := range data.PlayerSessions {
		ps := &data.PlayerSessions[i]
		if !ps.Created.After(from) && ps.Samples == nil && s.srcs[ps.ID] != nil {
			psOld = append(psOld, i)
		}
	}
	var work []pending
	for _, k := range g.R.Perm(len(psOld))[:min(max(len(psOld)/20, 2), 20, len(psOld))] {
		ps := &data.PlayerSessions[psOld[k]]
		ps.Modified = g.instant(from, to)
		note := "Edited: " + g.Pick(psNotes)
		ps.Note = &note
		ps.Feeling = g.feeling()
		src := s.srcs[ps.ID].withRev()
		s.srcs[ps.ID] = src
		var ts *TeamSession
		if ps.TeamSessionID != nil {
			if i, ok := s.st.Index.teamSessionByID[*ps.TeamSessionID]; ok {
				ts = &data.TeamSessions[i]
			}
		}
		work = append(work, pending{ps: ps, src: src, ts: ts})
		rep.ModifiedPlayerSessions = append(rep.ModifiedPlayerSessions, ps.ID)
	}
	computeTotals(work)

	// New team sessions, in slots of the window.
	var newTS []TeamSession
	var newPS []PlayerSession
	var newSrcs []*sampleSource
	for ti := range data.Teams {
		tc := s.teamCtx(g, &data.Teams[ti])
		if len(tc.team.Players) == 0 {
			continue
		}
		want := int(math.Round(float64(p.sessions) * d.Hours() / (24 * float64(p.historyDays))))
		n := min(max(want, 1), maxNewPerTeam)
		slot := d / time.Duration(n)
		for k := range n {
			dur := g.Dur(p.minDur, p.maxDur)
			lo := from.Add(time.Duration(k) * slot)
			latest := lo.Add(slot - dur - uploadLag)
			if !latest.After(lo) {
				continue // the slot cannot hold a session
			}
			start := g.instant(lo, latest)
			ts, pss, ss := g.teamSession(tc, start, dur, to, g.participants(len(tc.team.Players), p.allPlay), false)
			newTS = append(newTS, ts)
			newPS = append(newPS, pss...)
			newSrcs = append(newSrcs, ss...)
			rep.NewTeamSessions = append(rep.NewTeamSessions, ts.ID)
			for _, ps := range pss {
				rep.NewPlayerSessions = append(rep.NewPlayerSessions, ps.ID)
			}
		}
	}
	// A new INDIVIDUAL session.
	if len(data.Teams) > 0 {
		team := &data.Teams[g.R.IntN(len(data.Teams))]
		dur := g.Dur(p.indMin, p.indMax)
		if latest := to.Add(-dur - uploadLag); latest.After(from) && len(team.Players) > 0 {
			tc := s.teamCtx(g, team)
			ps, src := g.individual(tc, team.Players[g.R.IntN(len(team.Players))], g.instant(from, latest), dur, to, false)
			newPS = append(newPS, ps)
			newSrcs = append(newSrcs, src)
			rep.NewIndividualSessions = append(rep.NewIndividualSessions, ps.ID)
		}
	}
	tsByID := map[string]*TeamSession{}
	for i := range newTS {
		tsByID[newTS[i].ID] = &newTS[i]
	}
	work = work[:0]
	for i := range newPS {
		ps := &newPS[i]
		var ts *TeamSession
		if ps.TeamSessionID != nil {
			ts = tsByID[*ps.TeamSessionID]
		}
		s.srcs[ps.ID] = newSrcs[i]
		work = append(work, pending{ps: ps, src: newSrcs[i], ts: ts})
	}
	computeTotals(work)
	data.TeamSessions = append(data.TeamSessions, newTS...)
	data.PlayerSessions = append(data.PlayerSessions, newPS...)
}

// teamCtx is a team with its home; a team without one (added through
// Mutate) plays soccer in the first city.
func (s *Server) teamCtx(g *gen, t *Team) teamCtx {
	h, ok := s.homes[t.ID]
	if !ok {
		c := cities()[0]
		h = home{sport: "SOCCER", city: c, venue: g.venue(c, c.name+" Sports Park")}
		s.homes[t.ID] = h
	}
	return teamCtx{team: t, home: h}
}
