package teampro

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/athlake/athlake/extract/internal/httpx"
	"github.com/athlake/athlake/extract/internal/stream"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
	"github.com/athlake/athlake/transform"
)

// SourceName is the source's name in the lake and the config.
const SourceName = "teampro"

// DefaultLookback is how far before the newest session already seen a sync
// lists sessions again, to pick up sessions edited after they were fetched
// (the lists filter on start time, not on modified).
const DefaultLookback = 7 * 24 * time.Hour

// SourceOptions configures the stream.
type SourceOptions struct {
	// Options.Backfill replaces the training stream by a per-player pass
	// over the sessions that started in [Since, Until] of Athletes (player
	// ids; none: every rostered player). See backfill.
	stream.Options
	Samples string // the samples parameter: "all" (default) or a list
}

// Source is a Team Pro account.
type Source struct {
	c *Client
	o SourceOptions
	// states are the source's stream states when the run starts (Plan):
	// the streams share the client's rate limiter, and the one that runs
	// starts from the level the latest of them saved (a backfill right
	// after a sync finds the vendor's bucket as the sync left it).
	states map[string][]byte
}

// Plan is told every stream's state before the run (pipeline.Planner).
func (s *Source) Plan(states map[string][]byte) { s.states = states }

// NewSource returns the Team Pro source.
func NewSource(c *Client, o SourceOptions) *Source {
	o.Options = o.WithDefaults(DefaultLookback)
	if o.Samples == "" {
		o.Samples = "all"
	}
	return &Source{c: c, o: o}
}

// Name is "teampro".
func (s *Source) Name() string { return SourceName }

// Stats reports the requests made so far.
func (s *Source) Stats() pipeline.RequestStats { return s.c.Stats() }

// Streams is one stream: at 1 request/s, one well-ordered sequence of
// requests keeps the limit busy as well as several would. A backfill
// replaces it, so the two never share the limit within a run.
func (s *Source) Streams() []pipeline.Stream {
	if s.o.Backfill {
		return []pipeline.Stream{&backfill{src: s}}
	}
	return []pipeline.Stream{&training{src: s}}
}

// stateVersion is the version of state written. Version 1 (no version)
// kept team sessions in Seen under "team:<id>", a key a player session's
// id can equal.
const stateVersion = 2

// state is the stream's position.
type state struct {
	Version int `json:"version,omitempty"`
	// Watermark is the newest start time (wall clock) of the sessions a
	// complete pass committed; the next pass lists from Watermark-lookback.
	Watermark time.Time `json:"watermark,omitzero"`
	// Seen and TeamSeen hold the player and team sessions committed
	// within the lookback window, by id, with the modified stamp they were
	// fetched at: a session listed again is fetched again only if its
	// modified stamp changed.
	Seen     map[string]seen `json:"seen,omitempty"`
	TeamSeen map[string]seen `json:"team_seen,omitempty"`
	// TeamsFingerprint hashes the team details of the teams snapshot last
	// committed: a refresh that reads the same writes nothing.
	TeamsFingerprint string `json:"teams_fingerprint,omitempty"`
	// Pass is the progress of a pass in flight, so an interrupted one
	// resumes where it stopped.
	Pass *pass `json:"pass,omitempty"`
	// Bucket is the rate limiter's level when the state was saved, so the
	// next run does not assume the vendor's burst is full.
	Bucket httpx.BucketState `json:"bucket,omitzero"`
}

type seen struct {
	Modified string    `json:"m"`
	Start    time.Time `json:"s"`
}

type pass struct {
	Since       time.Time `json:"since,omitzero"`
	TeamsDone   []string  `json:"teams_done"`
	PlayersDone []string  `json:"players_done"`
	MaxStart    time.Time `json:"max_start,omitzero"`
	// Resummarize holds player sessions of team sessions that changed:
	// their trimmed summary depends on the team session, not only on them.
	// Kept in the state, so a crash between the two fetches loses nothing.
	Resummarize map[string]bool `json:"resummarize,omitempty"`
}

// training is the whole account: teams and players (a snapshot), team
// sessions, player sessions with samples and RR intervals, and summaries.
type training struct{ src *Source }

func (st *training) Name() string { return "training" }

// run holds what one pass needs.
type run struct {
	s       *Source
	emit    pipeline.Emit
	state   state
	window  Window
	fetched map[string]bool // player sessions fetched in this run
	// gone holds player sessions whose details answered 404 in this run:
	// not asked for again through a team session's participants.
	gone map[string]bool
	// vanished judges 404s on details (deleted between list and detail).
	vanished *httpx.Vanished
	// checkpoint serialises the stream's state (training or backfill).
	checkpoint func() []byte
	*decoders
}

// newRun returns a run of one stream with its decoders.
func (s *Source) newRun(emit pipeline.Emit) *run {
	return &run{s: s, emit: emit, fetched: map[string]bool{}, gone: map[string]bool{}, vanished: &httpx.Vanished{}, decoders: newDecoders(s.o.Options)}
}

func (st *training) Run(ctx context.Context, raw []byte, emit pipeline.Emit) error {
	s := st.src
	r := s.newRun(emit)
	if err := stream.ReadState(raw, &r.state); err != nil {
		return err
	}
	s.restoreBucket(r.state.Bucket)
	r.state.upgrade()
	r.checkpoint = func() []byte {
		r.state.Bucket = s.c.Bucket().State()
		return stream.JSON(r.state)
	}
	// A pass resumed from an earlier run is followed by a fresh one, so
	// what appeared meanwhile for players done early is caught now.
	resumed := r.state.Pass != nil
	if err := r.pass(ctx); err != nil {
		return err
	}
	if resumed {
		return r.pass(ctx)
	}
	return nil
}

// pass lists everything in the window and fetches what is new or modified.
func (r *run) pass(ctx context.Context) error {
	s := r.s
	if r.state.Pass == nil {
		p := &pass{}
		if !r.state.Watermark.IsZero() {
			p.Since = r.state.Watermark.Add(-s.o.Lookback)
		}
		r.state.Pass = p
	}
	r.window = Window{Since: r.state.Pass.Since}
	clear(r.fetched)
	clear(r.gone)
	teams, players, err := r.teams(ctx)
	if err != nil {
		return err
	}
	participants, err := r.teamSessions(ctx, teams)
	if err != nil {
		return err
	}
	if err := r.playerSessions(ctx, players); err != nil {
		return err
	}
	// Sessions of players no longer on a roster, reached only through a
	// team session: fetched without the list's timezone_offset.
	for _, ps := range participants {
		if r.fetched[ps] || r.gone[ps] {
			continue
		}
		if _, ok := r.state.Seen[ps]; ok {
			continue
		}
		if err := r.playerSession(ctx, ps, "", listed{ID: ps, Type: "TEAM"}); err != nil {
			return err
		}
	}
	// The pass is complete: move the watermark and forget what fell out
	// of the lookback window.
	p := r.state.Pass
	if p.MaxStart.After(r.state.Watermark) {
		r.state.Watermark = p.MaxStart
	}
	r.state.Pass = nil
	r.prune(r.state.Watermark)
	return r.emit(ctx, &pipeline.Batch{State: r.checkpoint()})
}

func (s *Source) table(name string) *schemas.Table {
	return stream.Table(s.o.Registry, SourceName, name)
}

// restoreBucket sets the rate limiter to the newest level saved: the
// stream's own or another stream's of the source.
func (s *Source) restoreBucket(own httpx.BucketState) {
	latest := own
	for _, raw := range s.states {
		var st struct {
			Bucket httpx.BucketState `json:"bucket"`
		}
		if json.Unmarshal(raw, &st) == nil && st.Bucket.At.After(latest.At) {
			latest = st.Bucket
		}
	}
	s.c.Bucket().Restore(latest)
}

// upgrade brings a state read from JSON to the current version.
func (st *state) upgrade() {
	if st.Seen == nil {
		st.Seen = map[string]seen{}
	}
	if st.TeamSeen == nil {
		st.TeamSeen = map[string]seen{}
	}
	if st.Version < 2 {
		for k, e := range st.Seen {
			if id, ok := strings.CutPrefix(k, "team:"); ok {
				st.TeamSeen[id] = e
				delete(st.Seen, k)
			}
		}
	}
	st.Version = stateVersion
}

// skipped judges a detail request's error: a record deleted since its
// list was read is skipped with an anomaly (emitted at once, with the
// state as it is); any other error fails the stream.
func (r *run) skipped(ctx context.Context, err error) (bool, error) {
	anomaly, err := r.vanished.Check(err)
	if err != nil {
		return false, err
	}
	if anomaly == "" {
		return false, nil
	}
	return true, r.emit(ctx, &pipeline.Batch{Anomalies: []string{anomaly}, State: r.checkpoint()})
}

// prune drops sessions that started before the lookback window of latest,
// but, while a pass runs, none its window still lists: a session the pass
// lists again is skipped only while it is remembered.
func (r *run) prune(latest time.Time) {
	cut := latest.Add(-r.s.o.Lookback)
	if p := r.state.Pass; p != nil && p.Since.Before(cut) {
		cut = p.Since
	}
	for _, m := range []map[string]seen{r.state.Seen, r.state.TeamSeen} {
		for id, e := range m {
			if e.Start.Before(cut) {
				delete(m, id)
			}
		}
	}
}

func (r *run) lineage(endpoint string, at time.Time) transform.Lineage {
	return transform.Lineage{ExtractedAt: at, RunID: r.s.o.RunID, Endpoint: endpoint}
}

// teams refreshes teams and rosters as one snapshot and returns the team
// ids and every rostered player.
func (r *run) teams(ctx context.Context) ([]string, []string, error) {
	var ids []string
	anomalies, err := r.s.c.Teams(ctx, func(p *Page) error {
		for _, rec := range p.Records {
			var t listed
			if json.Unmarshal(rec, &t) == nil && t.ID != "" {
				ids = append(ids, t.ID)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	players := map[string]bool{}
	var kept []string
	var items []*Item
	fp := stream.NewFingerprint()
	for _, id := range ids {
		it, err := r.s.c.Team(ctx, id)
		// The anomaly waits for the snapshot's checkpoint: a state now
		// would commit half a snapshot.
		anomaly, err := r.vanished.Check(err)
		if err != nil {
			return nil, nil, err
		}
		if anomaly != "" {
			anomalies = append(anomalies, anomaly)
			continue // deleted: its sessions are not listed either
		}
		kept = append(kept, id)
		var t listed
		if err := json.Unmarshal(it.Data, &t); err == nil {
			for _, p := range t.Players {
				if p.PlayerID != "" {
					players[p.PlayerID] = true
				}
			}
		}
		items = append(items, it)
		fp.Add(it.Data)
	}
	// The snapshot is written only when it changed, whole, with the state.
	done := &pipeline.Batch{Anomalies: anomalies}
	if sum := fp.Sum(); sum != r.state.TeamsFingerprint {
		if err := stream.ForgetFingerprint(ctx, r.emit, &r.state.TeamsFingerprint, r.checkpoint); err != nil {
			return nil, nil, err
		}
		var raws []pipeline.Raw
		for _, it := range items {
			r.decs["teams"].Add(it.Data, r.lineage(it.Endpoint, it.Received), nil)
			raws = append(raws, pipeline.Raw{Endpoint: it.Endpoint, FetchedAt: it.Received, Body: it.Body})
		}
		done = r.flush(raws, anomalies)
		done.Snapshots = []string{"teams", "players"}
		r.state.TeamsFingerprint = sum
	}
	done.State = r.checkpoint()
	if err := r.emit(ctx, done); err != nil {
		return nil, nil, err
	}
	return kept, slices.Sorted(maps.Keys(players)), nil
}

// teamSessions lists each team's sessions in the window and fetches the
// details of those new or modified. It returns the player sessions the
// team sessions name.
func (r *run) teamSessions(ctx context.Context, teams []string) ([]string, error) {
	var participants []string
	p := r.state.Pass
	err := r.eachListed(ctx, teams, &p.TeamsDone, r.s.c.TeamSessions, func(_ string, ts listed) error {
		prev, known := r.state.TeamSeen[ts.ID]
		if known && prev.Modified == ts.Modified {
			return nil
		}
		it, err := r.s.c.TeamSession(ctx, ts.ID)
		if skip, err := r.skipped(ctx, err); err != nil || skip {
			return err // deleted: not recorded as seen, so fetched if it comes back
		}
		var d listed
		if json.Unmarshal(it.Data, &d) == nil {
			for _, pt := range d.Participants {
				if pt.PlayerSessionID != "" {
					participants = append(participants, pt.PlayerSessionID)
					if known {
						if p.Resummarize == nil {
							p.Resummarize = map[string]bool{}
						}
						p.Resummarize[pt.PlayerSessionID] = true
					}
				}
			}
		}
		r.decs["team_sessions"].Add(it.Data, r.lineage(it.Endpoint, it.Received), nil)
		start, _ := transform.ParseTime(ts.RecordStart, true)
		r.state.TeamSeen[ts.ID] = seen{Modified: ts.Modified, Start: start}
		b := r.flush([]pipeline.Raw{{Endpoint: it.Endpoint, FetchedAt: it.Received, Body: it.Body}}, nil)
		b.State = r.checkpoint()
		return r.emit(ctx, b)
	}, nil)
	if err != nil {
		return nil, err
	}
	return participants, nil
}

// playerSessions lists each player's sessions (TEAM and INDIVIDUAL) in the
// window and fetches those new or modified, checkpointing each.
func (r *run) playerSessions(ctx context.Context, players []string) error {
	p := r.state.Pass
	return r.eachListed(ctx, players, &p.PlayersDone, r.s.c.PlayerSessions, func(player string, ps listed) error {
		if r.fetched[ps.ID] || r.gone[ps.ID] {
			return nil // listed twice (a player on two teams)
		}
		// The watermark moves only over sessions committed, now or
		// before: one deleted between list and details does not count.
		start, _ := transform.ParseTime(ps.StartTime, true)
		if e, ok := r.state.Seen[ps.ID]; ok && e.Modified == ps.Modified {
			r.fetched[ps.ID] = true
			if start.After(p.MaxStart) {
				p.MaxStart = start
			}
			if p.Resummarize[ps.ID] && ps.Type != "INDIVIDUAL" {
				return r.summaryOnly(ctx, ps)
			}
			return nil
		}
		if err := r.playerSession(ctx, ps.ID, player, ps); err != nil {
			return err
		}
		if r.fetched[ps.ID] && start.After(p.MaxStart) {
			p.MaxStart = start
		}
		return nil
	}, func() { r.prune(p.MaxStart) })
}

// eachListed lists the sessions of each owner (a team or a player) in the
// window with list, skipping the owners in *done, and calls fetch with
// the owner and each listed session. Then it adds the owner to *done, calls finish (if
// any) and checkpoints with the list's anomalies.
func (r *run) eachListed(ctx context.Context, owners []string, done *[]string,
	list func(ctx context.Context, owner string, w Window, fn func(*Page) error) ([]string, error),
	fetch func(owner string, ls listed) error, finish func(),
) error {
	for _, owner := range owners {
		if slices.Contains(*done, owner) {
			continue
		}
		var todo []listed
		anomalies, err := list(ctx, owner, r.window, collect(&todo, nil))
		if err != nil {
			return err
		}
		for _, ls := range todo {
			if err := fetch(owner, ls); err != nil {
				return err
			}
		}
		*done = append(*done, owner)
		if finish != nil {
			finish()
		}
		if err := r.emit(ctx, &pipeline.Batch{Anomalies: anomalies, State: r.checkpoint()}); err != nil {
			return err
		}
	}
	return nil
}

// summaryOnly fetches the summary of a player session whose team session
// changed, and emits it with a checkpoint.
func (r *run) summaryOnly(ctx context.Context, ls listed) error {
	id := ls.ID
	sum, err := r.s.c.SessionSummary(ctx, id)
	delete(r.state.Pass.Resummarize, id)
	if noSummaryDue(ls, err) {
		return r.emit(ctx, &pipeline.Batch{State: r.checkpoint()})
	}
	if skip, err := r.skipped(ctx, err); err != nil || skip {
		if skip {
			// Forgotten, so the next pass fetches the session again
			// (and its summary, should it come back).
			delete(r.state.Seen, id)
		}
		return err
	}
	r.decs["session_summaries"].Add(sum.Data, r.lineage(sum.Endpoint, sum.Received), nil)
	b := r.flush([]pipeline.Raw{{Endpoint: sum.Endpoint, FetchedAt: sum.Received, Body: sum.Body}}, nil)
	b.State = r.checkpoint()
	return r.emit(ctx, b)
}

// playerSession fetches one player session's details with samples and RR
// intervals, and its summary for a TEAM session, and emits them with a
// checkpoint that records it as seen. A session deleted since it was
// listed is skipped; one whose summary was deleted is emitted but not
// recorded as seen, so the next pass fetches both again.
func (r *run) playerSession(ctx context.Context, id, player string, ls listed) error {
	b, complete, err := r.fetchPlayerSession(ctx, id, player, ls)
	if err != nil || b == nil {
		return err
	}
	delete(r.state.Pass.Resummarize, id) // its summary came along
	if complete {
		start, _ := transform.ParseTime(ls.StartTime, true)
		r.state.Seen[id] = seen{Modified: ls.Modified, Start: start}
	} else {
		delete(r.state.Seen, id)
	}
	b.State = r.checkpoint()
	return r.emit(ctx, b)
}

// fetchPlayerSession fetches one player session's details with samples and
// RR intervals, and its summary unless it is INDIVIDUAL, and returns them
// as a batch without state. The batch is nil when the session is gone (404
// on its details, emitted as an anomaly); complete is false when its
// summary is gone.
func (r *run) fetchPlayerSession(ctx context.Context, id, player string, ls listed) (b *pipeline.Batch, complete bool, err error) {
	it, err := r.s.c.PlayerSession(ctx, id, r.s.o.Samples)
	if skip, err := r.skipped(ctx, err); err != nil || skip {
		if skip {
			r.gone[id] = true
		}
		return nil, false, err
	}
	r.fetched[id] = true
	with := sessionWith(player, ls)
	raws := []pipeline.Raw{{Endpoint: it.Endpoint, FetchedAt: it.Received, Body: it.Body, With: with}}
	anomalies := r.decodePlayerSession(it.Data, id, r.lineage(it.Endpoint, it.Received), with)
	complete = true
	if ls.Type != "INDIVIDUAL" {
		sum, err := r.s.c.SessionSummary(ctx, id)
		switch {
		case err == nil:
			raws = append(raws, pipeline.Raw{Endpoint: sum.Endpoint, FetchedAt: sum.Received, Body: sum.Body})
			r.decs["session_summaries"].Add(sum.Data, r.lineage(sum.Endpoint, sum.Received), nil)
		case noSummaryDue(ls, err):
		default:
			skip, err := r.skipped(ctx, err)
			if err != nil {
				r.releaseDecoded()
				return nil, false, err
			}
			complete = !skip
		}
	}
	return r.flush(raws, anomalies), complete, nil
}

// noSummaryDue is true for a summary's 404 on a session of a type the
// documents do not name. A TEAM session has a summary: its 404 means the
// summary was deleted (see run.skipped).
func noSummaryDue(ls listed, err error) bool {
	var api *APIError
	return ls.Type != "TEAM" && errors.As(err, &api) && api.Status == http.StatusNotFound
}

// collect returns a list callback that appends to todo the records with
// an id that keep (nil: all) takes.
func collect(todo *[]listed, keep func(listed) bool) func(*Page) error {
	return func(pg *Page) error {
		for _, rec := range pg.Records {
			var ls listed
			if json.Unmarshal(rec, &ls) == nil && ls.ID != "" && (keep == nil || keep(ls)) {
				*todo = append(*todo, ls)
			}
		}
		return nil
	}
}
