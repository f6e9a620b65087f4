package teampro

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/extract/internal/stream"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/transform"
)

// Estimate says what the next sync would do (`athlake plan`).
func (c *Config) Estimate(ctx context.Context, env *connector.Env, states map[string][]byte) (*connector.Estimate, error) {
	src, err := c.Source(ctx, env)
	if err != nil {
		return nil, err
	}
	s := src.(*Source)
	s.Plan(states)
	return s.estimate(ctx, states)
}

// estimate does the sync's list requests (teams, rosters, each team's and
// each player's sessions in the window) and counts the details the sync
// would fetch: the new and modified sessions. A session's samples are its
// duration at 10 Hz; its RR intervals, summary, participants and markers
// are those of the one session of each kind it fetches as a sample (RR
// intervals alone, without samples).
func (s *Source) estimate(ctx context.Context, states map[string][]byte) (*connector.Estimate, error) {
	e := &connector.Estimate{}
	count := func(_ context.Context, b *pipeline.Batch) error {
		addRows(e, b)
		return nil
	}
	r := s.newRun(count)
	if err := stream.ReadState(states["training"], &r.state); err != nil {
		return nil, err
	}
	s.restoreBucket(r.state.Bucket)
	r.state.upgrade()
	r.checkpoint = func() []byte { return nil }
	p := r.state.Pass
	if p == nil {
		p = &pass{}
		if !r.state.Watermark.IsZero() {
			p.Since = r.state.Watermark.Add(-s.o.Lookback)
		}
	}
	r.state.Pass = &pass{Since: p.Since}
	r.window = Window{Since: p.Since}
	asked := func() int { return int(s.c.Stats().Requests) }

	teams, players, err := r.teams(ctx) // the teams snapshot, as the sync reads it
	if err != nil {
		return nil, err
	}
	var teamDue []listed
	for _, team := range teams {
		_, err := s.c.TeamSessions(ctx, team, r.window, collect(&teamDue, func(ls listed) bool {
			prev, ok := r.state.TeamSeen[ls.ID]
			return !ok || prev.Modified != ls.Modified
		}))
		if err != nil {
			return nil, err
		}
	}
	var due []listed
	all := map[string]listed{} // every player session listed
	for _, player := range players {
		_, err := s.c.PlayerSessions(ctx, player, r.window, collect(new([]listed), func(ls listed) bool {
			if _, ok := all[ls.ID]; ok {
				return false // listed twice (a player on two teams)
			}
			all[ls.ID] = ls
			if prev, ok := r.state.Seen[ls.ID]; !ok || prev.Modified != ls.Modified {
				due = append(due, ls)
			}
			return false
		}))
		if err != nil {
			return nil, err
		}
	}
	e.Requests = asked() + len(teamDue) + len(due)
	resummarize, err := s.sampleTeamSessions(ctx, r, e, teamDue)
	if err != nil {
		return nil, err
	}
	summaries := 0
	for _, ls := range due {
		delete(resummarize, ls.ID) // its summary comes with it
		if ls.Type != "INDIVIDUAL" {
			summaries++
		}
	}
	for id := range resummarize {
		if ls, ok := all[id]; ok && ls.Type != "INDIVIDUAL" {
			summaries++
		}
	}
	e.Requests += summaries
	if err := s.samplePlayerSessions(ctx, r, e, due, summaries); err != nil {
		return nil, err
	}
	e.Asked = asked()
	e.Seconds = math.Round(s.c.Bucket().Floor(e.Requests).Seconds())
	e.Notes = append(e.Notes, fmt.Sprintf("seconds are the rate limit's floor, the plan's own %d requests spent from the burst", e.Asked))
	if p.Since.IsZero() && len(r.state.Seen) == 0 {
		e.Notes = append(e.Notes, "sessions of players no longer on a roster, reached through team sessions, are not counted")
	}
	return e, nil
}

// sampleTeamSessions adds the rows of the team sessions due: those of one
// session's details (participants, markers) times their count. It fetches
// the details of those modified since the sync last fetched them, as the
// sync fetches their participants' summaries again, and returns those
// participants.
func (s *Source) sampleTeamSessions(ctx context.Context, r *run, e *connector.Estimate, due []listed) (map[string]bool, error) {
	resummarize := map[string]bool{}
	var sample *connector.Estimate
	for i, ts := range due {
		_, known := r.state.TeamSeen[ts.ID]
		if !known && (sample != nil || i < len(due)-1) {
			continue
		}
		it, err := s.c.TeamSession(ctx, ts.ID)
		if err != nil {
			return nil, err
		}
		if known {
			var d listed
			if json.Unmarshal(it.Data, &d) == nil {
				for _, pt := range d.Participants {
					resummarize[pt.PlayerSessionID] = true
				}
			}
		}
		if sample == nil {
			sample = &connector.Estimate{}
			r.decs["team_sessions"].Add(it.Data, transform.Lineage{}, nil)
			addRows(sample, r.flush(nil, nil))
		}
	}
	if sample != nil {
		stream.Scale(e, sample.Rows, 1, len(due))
	}
	return resummarize, nil
}

// rrSamples is how many sessions' RR intervals the estimate fetches.
const rrSamples = 3

// samplePlayerSessions adds the rows of the player sessions due: the
// samples of their durations, the RR intervals per second of up to
// rrSamples of them, and the summary rows of the first TEAM session.
func (s *Source) samplePlayerSessions(ctx context.Context, r *run, e *connector.Estimate, due []listed, summaries int) error {
	var ms int64
	for _, ls := range due {
		d := durationMs(ls)
		ms += d
		e.AddRows("samples", d/100)
	}
	e.AddRows("player_sessions", int64(len(due)))
	// RR intervals per millisecond, from up to rrSamples sessions (some
	// have none: no chest strap).
	var rr, sampled int64
	n := 0
	for _, ls := range due {
		d := durationMs(ls)
		if n == rrSamples {
			break
		}
		if d <= 0 {
			continue
		}
		it, err := s.c.PlayerSession(ctx, ls.ID, "rr")
		if err != nil {
			return err
		}
		n++
		sample := &connector.Estimate{}
		r.decodePlayerSession(it.Data, ls.ID, transform.Lineage{}, nil)
		addRows(sample, r.flush(nil, nil))
		rr, sampled = rr+sample.Rows["rr_intervals"], sampled+d
	}
	if sampled > 0 {
		e.AddRows("rr_intervals", int64(float64(rr)*float64(ms)/float64(sampled)))
	}
	for _, ls := range due {
		if ls.Type == "INDIVIDUAL" {
			continue
		}
		sum, err := s.c.SessionSummary(ctx, ls.ID)
		if err != nil {
			return err
		}
		sample := &connector.Estimate{}
		r.decs["session_summaries"].Add(sum.Data, transform.Lineage{}, nil)
		addRows(sample, r.flush(nil, nil))
		stream.Scale(e, sample.Rows, 1, summaries)
		break
	}
	return nil
}

// durationMs is a listed session's duration_ms: a number, or an ISO-8601
// duration as the vendor sometimes spells it.
func durationMs(ls listed) int64 {
	raw := ls.Duration
	if len(raw) == 0 {
		return 0
	}
	if n, err := strconv.ParseFloat(string(raw), 64); err == nil {
		return int64(n)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if n, err := transform.ParseISODuration(s); err == nil {
			return n
		}
	}
	return 0
}

// addRows adds a batch's rows to e by table, and releases them.
func addRows(e *connector.Estimate, b *pipeline.Batch) {
	for _, rec := range b.Records {
		e.AddRows(rec.Table, rec.Record.NumRows())
		rec.Record.Release()
	}
}
