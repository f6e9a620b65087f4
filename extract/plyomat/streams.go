package plyomat

import (
	"context"
	"encoding/json"
	"time"

	"github.com/athlake/athlake/extract/internal/httpx"
	"github.com/athlake/athlake/extract/internal/stream"
	"github.com/athlake/athlake/extract/plyomat/webhook"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
	"github.com/athlake/athlake/transform"
)

// SourceName is the source's name in the lake and the config.
const SourceName = "plyomat"

// DefaultLookback is how far before the last watermark an incremental pass
// starts again, to catch records stamped before a run ended that arrived
// after it.
const DefaultLookback = time.Hour

// SourceOptions configures the streams.
type SourceOptions struct {
	stream.Options
	// Concurrency is how many athletes a per-athlete pass reads at once
	// (default 4; the client bounds the requests in flight).
	Concurrency int
	// Spool, if set, holds webhook deliveries: a sync applies them first
	// (the webhooks stream), a backfill leaves them.
	Spool *webhook.Spool
	// Overlays, if set, counts the records laid over each snapshot (the
	// webhooks stream adds, the snapshot streams read).
	Overlays *webhook.Overlays
	// WebhooksOnly runs the webhooks stream alone (the receiver's
	// applier).
	WebhooksOnly bool
}

// Source is a Plyomat organisation.
type Source struct {
	c *Client
	o SourceOptions
}

// NewSource returns the Plyomat source.
func NewSource(c *Client, o SourceOptions) *Source {
	o.Options = o.WithDefaults(DefaultLookback)
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	return &Source{c: c, o: o}
}

// Name is "plyomat".
func (s *Source) Name() string { return SourceName }

// Stats reports the requests made so far.
func (s *Source) Stats() pipeline.RequestStats { return s.c.Stats() }

// Streams returns the dimension snapshots and either the incremental streams
// or the backfill.
func (s *Source) Streams() []pipeline.Stream {
	c := s.c
	var hooks []pipeline.Stream
	if s.o.Spool != nil && !s.o.Backfill {
		hooks = []pipeline.Stream{&webhooks{src: s, spool: s.o.Spool}}
	}
	if s.o.WebhooksOnly {
		return hooks
	}
	out := append(hooks,
		&snapshot{src: s, name: "athletes", tables: []string{"athletes"}, list: func(ctx context.Context, fn func(*Page) error) ([]string, error) {
			return c.Athletes(ctx, "", fn)
		}},
		&groupsStream{src: s},
		&snapshot{src: s, name: "devices", tables: []string{"devices"}, list: c.Devices},
		&snapshot{src: s, name: "assessments", tables: []string{"assessments"}, list: c.Assessments},
		&snapshot{src: s, name: "org_members", tables: []string{"org_members"}, list: func(ctx context.Context, fn func(*Page) error) ([]string, error) {
			return c.OrgMembers(ctx, true, fn)
		}},
	)
	if s.o.Backfill {
		return append(out, &backfill{src: s})
	}
	return append(out,
		&incremental{src: s, name: "sessions", table: "sessions", list: c.Sessions},
		&incremental{src: s, name: "sets", table: "sets", list: c.Sets, perAthleteBackfill: true},
	)
}

func (s *Source) table(name string) *schemas.Table {
	return stream.Table(s.o.Registry, SourceName, name)
}

// decode turns a page into a batch: Arrow records, rejects and the raw body.
func (s *Source) decode(dec *transform.JSON, p *Page, derived map[string]string, keep func(json.RawMessage) bool) *pipeline.Batch {
	lin := transform.Lineage{ExtractedAt: p.Received, RunID: s.o.RunID, Endpoint: p.Endpoint}
	raw := pipeline.Raw{Endpoint: p.Endpoint, FetchedAt: p.Received, Body: p.Body, With: derived}
	for i, r := range p.Records {
		if keep == nil || keep(r) {
			dec.Add(r, lin, derived)
		} else {
			raw.Skip = append(raw.Skip, i)
		}
	}
	return stream.Batch(dec, raw, len(raw.Skip) < len(p.Records))
}

// snapshotState is the state of a fully refreshed stream.
type snapshotState struct {
	RefreshedAt time.Time `json:"refreshed_at"`
	// Fingerprint hashes the records of the snapshot last committed: a
	// refresh that reads the same records writes nothing.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Overlays is the count of records laid over the tables (webhooks)
	// when the snapshot was last committed: once it moves, the next
	// refresh writes the snapshot even if its records are the same.
	Overlays int64 `json:"overlays,omitempty"`
}

// snapshot fully refreshes a dimension table. It reads the whole list
// first: when the records are those of the snapshot last committed, it
// writes nothing; otherwise its batches carry no state until the last, so
// the runner commits the snapshot whole or not at all.
type snapshot struct {
	src    *Source
	name   string
	tables []string
	list   func(ctx context.Context, fn func(*Page) error) ([]string, error)
}

func (st *snapshot) Name() string { return st.name }

// read lists the whole snapshot.
func (st *snapshot) read(ctx context.Context) (pages []*Page, at time.Time, anomalies []string, err error) {
	anomalies, err = st.list(ctx, func(p *Page) error {
		at = p.ServerTime
		pages = append(pages, p)
		return nil
	})
	return pages, at, anomalies, err
}

func (st *snapshot) Run(ctx context.Context, raw []byte, emit pipeline.Emit) error {
	pages, at, anomalies, err := st.read(ctx)
	if err != nil {
		return err
	}
	fp := fingerprint(pages)
	return st.src.emitSnapshot(ctx, raw, emit, st.tables, snapshotState{RefreshedAt: at, Fingerprint: fp.Sum()}, anomalies,
		func() error {
			dec := transform.NewJSON(st.src.o.Mem, st.src.o.Registry, st.src.table(st.tables[0]))
			for _, p := range pages {
				if err := emit(ctx, st.src.decode(dec, p, nil, nil)); err != nil {
					return err
				}
			}
			return nil
		})
}

// emitSnapshot ends a snapshot stream: when the records' fingerprint is
// the one last committed, only the state moves; otherwise write emits the
// records and the last batch completes the snapshot of tables.
func (s *Source) emitSnapshot(ctx context.Context, raw []byte, emit pipeline.Emit, tables []string, next snapshotState, anomalies []string, write func() error) error {
	prev, due, err := s.snapshotDue(ctx, raw, tables, &next)
	if err != nil {
		return err
	}
	b := &pipeline.Batch{Anomalies: anomalies, State: stream.JSON(next)}
	if due {
		if err := stream.ForgetFingerprint(ctx, emit, &prev.Fingerprint, func() []byte { return stream.JSON(prev) }); err != nil {
			return err
		}
		if err := write(); err != nil {
			return err
		}
		b.Snapshots = tables
	}
	return emit(ctx, b)
}

// snapshotDue reads the state raw of the snapshot of tables last
// committed, adds the overlays counted now to next, and reports whether
// next differs: whether the snapshot is written again.
func (s *Source) snapshotDue(ctx context.Context, raw []byte, tables []string, next *snapshotState) (prev snapshotState, due bool, err error) {
	if err := stream.ReadState(raw, &prev); err != nil {
		return prev, false, err
	}
	if s.o.Overlays != nil {
		counts, err := s.o.Overlays.Counts(ctx)
		if err != nil {
			return prev, false, err
		}
		for _, t := range tables {
			next.Overlays += counts[t]
		}
	}
	return prev, next.Fingerprint != prev.Fingerprint || next.Overlays != prev.Overlays, nil
}

// fingerprint hashes a list's pages, each under the label "".
func fingerprint(pages []*Page) *stream.Fingerprint {
	fp := stream.NewFingerprint()
	for _, p := range pages {
		fp.Group("", p.Records)
	}
	return fp
}

// groupsTables are the tables of the groups snapshot.
var groupsTables = []string{"groups", "group_members"}

// groupsStream refreshes groups and, through GET /athletes?group_id= per
// group, their members, as one snapshot.
type groupsStream struct{ src *Source }

func (st *groupsStream) Name() string { return "groups" }

// groupsRead is the groups snapshot as listed: the groups' pages and
// each group's member pages, fingerprinted together.
type groupsRead struct {
	groupPages []*Page
	members    []members
	fp         *stream.Fingerprint
	at         time.Time
	anomalies  []string
}

// members are the member pages of one group.
type members struct {
	group string
	pages []*Page
}

func (st *groupsStream) read(ctx context.Context) (*groupsRead, error) {
	s := st.src
	var groups []string
	var groupPages []*Page
	var at time.Time
	anomalies, err := s.c.Groups(ctx, func(p *Page) error {
		at = p.ServerTime
		groups = append(groups, ids(p.Records)...)
		groupPages = append(groupPages, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	fp := fingerprint(groupPages)
	var all []members
	var vanished httpx.Vanished
	for _, id := range groups {
		m := members{group: id}
		more, err := s.c.Athletes(ctx, id, func(p *Page) error {
			for i, r := range p.Records {
				p.Records[i] = membership(r)
			}
			fp.Group(id, p.Records)
			m.pages = append(m.pages, p)
			return nil
		})
		gone, err := vanished.Check(err)
		if err != nil {
			return nil, err
		}
		anomalies = append(anomalies, more...)
		if gone != "" {
			anomalies = append(anomalies, gone)
		}
		all = append(all, m)
	}
	return &groupsRead{groupPages: groupPages, members: all, fp: fp, at: at, anomalies: anomalies}, nil
}

func (st *groupsStream) Run(ctx context.Context, raw []byte, emit pipeline.Emit) error {
	s := st.src
	g, err := st.read(ctx)
	if err != nil {
		return err
	}
	return s.emitSnapshot(ctx, raw, emit, groupsTables, snapshotState{RefreshedAt: g.at, Fingerprint: g.fp.Sum()}, g.anomalies,
		func() error {
			groups := transform.NewJSON(s.o.Mem, s.o.Registry, s.table("groups"))
			for _, p := range g.groupPages {
				if err := emit(ctx, s.decode(groups, p, nil, nil)); err != nil {
					return err
				}
			}
			dec := transform.NewJSON(s.o.Mem, s.o.Registry, s.table("group_members"))
			for _, m := range g.members {
				for _, p := range m.pages {
					if err := emit(ctx, s.decode(dec, p, map[string]string{"group_id": m.group}, nil)); err != nil {
						return err
					}
				}
			}
			return nil
		})
}

// incrementalState is the state of a stream read through `since`.
type incrementalState struct {
	// Watermark is the server's clock when the last complete pass started:
	// everything created or updated before it has been committed. The next
	// pass asks for since = Watermark - lookback.
	Watermark time.Time `json:"watermark,omitzero"`
	// Seen hashes, by id, the records the last pass committed that the
	// next pass reads again (stamped within the lookback of Watermark):
	// those it finds unchanged it skips, so a sync that finds nothing new
	// writes nothing.
	Seen     map[string]string `json:"seen,omitempty"`
	Backfill *backfillState    `json:"backfill,omitempty"`
}

// incremental reads a table through `since`. Every page is a safe point to
// commit (the state it carries is unchanged, so a crash re-reads the pass);
// the watermark moves to the pass's start once the whole pass is committed.
// The first pass of sets goes athlete by athlete, checkpointing each.
type incremental struct {
	src                *Source
	name, table        string
	list               func(ctx context.Context, f Filter, fn func(*Page) error) ([]string, error)
	perAthleteBackfill bool
}

func (st *incremental) Name() string { return st.name }

func (st *incremental) Run(ctx context.Context, raw []byte, emit pipeline.Emit) error {
	var state incrementalState
	if err := stream.ReadState(raw, &state); err != nil {
		return err
	}
	if state.Watermark.IsZero() && st.perAthleteBackfill {
		// The first pass goes athlete by athlete. It may span several runs
		// (or hours), so it ends with the incremental pass from its start:
		// what changed meanwhile for athletes done early is caught now,
		// not at the next sync.
		err := st.src.perAthlete(ctx, state.Backfill, "", emit,
			func(b *backfillState) []byte { return stream.JSON(incrementalState{Backfill: b}) },
			func(b *backfillState) []byte {
				state = incrementalState{Watermark: b.StartedAt}
				return stream.JSON(state)
			},
			[]perAthleteList{{st.table, st.list}}, Filter{}, time.Time{})
		if err != nil {
			return err
		}
	}
	f := Filter{}
	if !state.Watermark.IsZero() {
		f.Since = state.Watermark.Add(-st.src.o.Lookback)
	}
	dec := transform.NewJSON(st.src.o.Mem, st.src.o.Registry, st.src.table(st.table))
	unchanged := stream.JSON(state)
	var start time.Time
	next := map[string]string{} // the Seen of the next pass
	keep := func(r json.RawMessage) bool {
		var rec struct {
			ID        string    `json:"id"`
			CreatedAt time.Time `json:"created_at"`
			UpdatedAt time.Time `json:"updated_at"`
		}
		if json.Unmarshal(r, &rec) != nil || rec.ID == "" {
			return true // the decoder rejects it with the reason
		}
		h := stream.RecordHash(r)
		if cut := start.Add(-st.src.o.Lookback); !rec.CreatedAt.Before(cut) || !rec.UpdatedAt.Before(cut) {
			next[rec.ID] = h
		}
		return state.Seen[rec.ID] != h
	}
	anomalies, err := st.list(ctx, f, func(p *Page) error {
		if start.IsZero() {
			start = p.ServerTime
		}
		b := st.src.decode(dec, p, nil, keep)
		b.State = unchanged
		return emit(ctx, b)
	})
	if err != nil {
		return err
	}
	return emit(ctx, &pipeline.Batch{Anomalies: anomalies, State: stream.JSON(incrementalState{Watermark: start, Seen: next})})
}

// membership is the row of group_members a group's athlete list gives: the
// pair alone, as the athlete's other fields belong to plyomat_athletes,
// not to this row's _extra.
func membership(r json.RawMessage) json.RawMessage {
	var a ref
	if json.Unmarshal(r, &a) != nil {
		return r // the decoder rejects it with the reason
	}
	return stream.JSON(a)
}
