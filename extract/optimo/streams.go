package optimo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/athlake/athlake/extract/internal/stream"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
	"github.com/athlake/athlake/transform"
)

// SourceName is the source's name in the lake and the config.
const SourceName = "optimo"

// DefaultLookback is how far before the watermark an incremental pass asks
// again (inclusive), for records stamped late.
const DefaultLookback = time.Hour

// DefaultCursorField is the element that carries a record's change stamp,
// the one updated_from filters on.
const DefaultCursorField = "updated_at"

// stampLayout is how Optimo writes a wall-clock time, in its records and in
// updated_from: date and time to the second, a space between, no zone.
const stampLayout = "2006-01-02 15:04:05"

// SourceOptions configures the streams.
type SourceOptions struct {
	// Options.Backfill replaces the streams by one pass per athlete
	// (listed through athlete.list when none is named), reading
	// workout.list and assessment.list with athlete_id, date_from and
	// date_to.
	stream.Options
	Zone *time.Location // the account's wall-clock zone
	// CursorFields names, per incremental method, the element holding the
	// records' change stamp (default updated_at).
	CursorFields map[string]string
	Log          *slog.Logger
}

// Source is an Optimo Sport account.
type Source struct {
	c *Client
	o SourceOptions
	// unfinished, set by Plan, holds the budget for each stream whose pass
	// is unfinished, by stream name; the other streams wait for them.
	unfinished map[string]func()
	planned    bool
}

// NewSource returns the Optimo source.
func NewSource(c *Client, o SourceOptions) *Source {
	o.Options = o.WithDefaults(DefaultLookback)
	if o.Zone == nil {
		o.Zone = time.UTC
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Source{c: c, o: o}
}

// Name is "optimo".
func (s *Source) Name() string { return SourceName }

// Stats reports the requests made so far.
func (s *Source) Stats() pipeline.RequestStats { return s.c.Stats() }

func (s *Source) table(name string) *schemas.Table {
	return stream.Table(s.o.Registry, SourceName, name)
}

func (s *Source) cursor(method string) string {
	if f := s.o.CursorFields[method]; f != "" {
		return f
	}
	return DefaultCursorField
}

// Streams: one per list method, or, for a backfill, the backfill alone
// (it lists the athletes itself when none are given, and leaves the
// incremental streams and their watermarks alone). After Plan, the streams
// with unfinished passes come first, so the runner starts them first.
func (s *Source) Streams() []pipeline.Stream {
	var out []pipeline.Stream
	if s.o.Backfill {
		out = []pipeline.Stream{&backfill{src: s}}
	} else {
		out = []pipeline.Stream{
			&list{src: s, method: "athlete.list", table: "athletes", incremental: true},
			&list{src: s, method: "coach.list", table: "coaches", adminOnly: true},
			&list{src: s, method: "workout.list", table: "workouts", incremental: true},
			&list{src: s, method: "assessment.list", table: "assessments", incremental: true},
		}
	}
	if s.planned {
		slices.SortStableFunc(out, func(a, b pipeline.Stream) int {
			_, ua := s.unfinished[a.Name()]
			_, ub := s.unfinished[b.Name()]
			switch {
			case ua && !ub:
				return -1
			case ub && !ua:
				return 1
			}
			return 0
		})
	}
	return out
}

// Plan is told the streams' states before any stream runs (the runner
// calls it before Streams). It gives the day's budget to unfinished work
// first: each stream whose pass is unfinished (never completed, or cut
// short on an earlier day; a backfill always) holds the budget while it
// runs, and the streams whose last pass finished wait before their first
// request until no hold is left (see Budget).
func (s *Source) Plan(states map[string][]byte) {
	s.planned = true
	s.unfinished = map[string]func(){}
	for _, st := range s.Streams() {
		if unfinished(st, states[st.Name()]) {
			s.unfinished[st.Name()] = s.c.budget.Hold()
		}
	}
}

func unfinished(st pipeline.Stream, raw []byte) bool {
	l, ok := st.(*list)
	if !ok || raw == nil {
		return true // a backfill, or a stream never completed
	}
	var s state
	if json.Unmarshal(raw, &s) != nil {
		return true
	}
	return l.incremental && s.Pass != nil
}

// turn waits for the stream's turn at the budget: a stream holding it
// (unfinished work) goes at once and lets go when done (the release it
// returns); the others wait for the holders.
func (s *Source) turn(ctx context.Context, stream string) (release func(), err error) {
	if !s.planned {
		return func() {}, nil
	}
	if r, ok := s.unfinished[stream]; ok {
		return r, nil
	}
	return func() {}, s.c.budget.AwaitUnfinished(ctx)
}

// begin waits for the stream's turn at the budget (see turn), then reads
// its state into v. The caller calls release when done, error or not.
func (s *Source) begin(ctx context.Context, name string, raw []byte, v any) (release func(), err error) {
	release, err = s.turn(ctx, name)
	if err != nil {
		return release, err
	}
	return release, stream.ReadState(raw, v)
}

// state is a list's position. A pass reads pages 1..pages; every page is
// checkpointed, so a pass cut short by the quota resumes the next day. The
// vendor orders records by id (new ones append, updated ones stay in
// place), but deletions shift later rows towards the start, onto pages
// already read. So a resumed pass reads its last page again (duplicates
// collapse by key in the views) and checks that it still finds that page's
// first or last row there (a shift of less than a page either way keeps one
// of them on it); and within a run, when a page's total is lower than the
// page before's, the page before is read again.
//
// The format only grows: fields added later are zero in older states and
// mean what the older code did (no started_at: the watermark is the newest
// stamp; no edge: no check).
type state struct {
	// Watermark is the wall-clock stamp below which a complete pass has
	// seen every change: the newest cursor value it read, or the vendor's
	// clock when it started if that is earlier (a pass that spans days
	// must not step over changes made between its pages). The next pass
	// asks for updated_from = Watermark - lookback.
	Watermark time.Time `json:"watermark,omitzero"`
	Pass      *pass     `json:"pass,omitempty"`
	// Warning is a problem of the last complete pass that the user should
	// see (athlake status shows it); empty when there is none.
	Warning string `json:"warning,omitempty"`
	// Seen hashes, by key, the records the last complete pass committed
	// that the next pass reads again (stamped within the lookback of the
	// watermark): those it finds unchanged it skips, so a sync that finds
	// nothing new writes nothing.
	Seen map[string]string `json:"seen,omitempty"`
	// Fingerprint hashes the records of the snapshot last committed (a
	// snapshot list): a refresh that reads the same writes nothing.
	Fingerprint string `json:"fingerprint,omitempty"`
}

type pass struct {
	From time.Time `json:"from,omitzero"` // the pass's updated_from
	Done int       `json:"pages_done"`
	// MaxStamp is the newest cursor value read (the JSON name is from when
	// the cursor was always updated_at).
	MaxStamp time.Time `json:"max_updated_at,omitzero"`
	// StartedAt is the vendor's wall clock when the first page was
	// answered (zero in states written before it was kept).
	StartedAt time.Time `json:"started_at,omitzero"`
	// Rows counts the rows read; Edge holds the keys of the first and the
	// last row of the last page read (JSON texts).
	Rows int      `json:"rows,omitempty"`
	Edge []string `json:"edge,omitempty"`
	// Shifted: when resuming, neither edge row was found on the page read
	// again: rows may have moved by more than a page, so the pass does not
	// move the watermark (the next pass asks from the same place).
	Shifted bool `json:"shifted,omitempty"`
}

type list struct {
	src         *Source
	method      string
	table       string
	incremental bool
	adminOnly   bool
}

func (st *list) Name() string { return st.table }

// wallOf is the wall-clock reading of instant t in loc, in the UTC
// location, to the second (how Optimo's stamps are held).
func wallOf(t time.Time, loc *time.Location) time.Time {
	w := t.In(loc)
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, time.UTC)
}

// serverWall is the vendor's wall clock when it answered p (its Date
// header; our clock when it sent none).
func (s *Source) serverWall(p *Page) time.Time {
	at := p.ServerTime
	if at.IsZero() {
		at = p.Received
	}
	return wallOf(at, s.o.Zone)
}

// rowInfo reads a converted record's key (its JSON text) and cursor.
func rowInfo(rec json.RawMessage, key, cursor string) (string, time.Time, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(rec, &m) != nil {
		return "", time.Time{}, false
	}
	var stamp time.Time
	var txt string
	ok := false
	if json.Unmarshal(m[cursor], &txt) == nil {
		if u, err := time.Parse(stampLayout, txt); err == nil {
			stamp, ok = u, true
		}
	}
	return string(m[key]), stamp, ok
}

func (st *list) Run(ctx context.Context, raw []byte, emit pipeline.Emit) error {
	var state state
	release, err := st.src.begin(ctx, st.Name(), raw, &state)
	defer release()
	if err != nil {
		return err
	}
	for {
		again, err := st.pass(ctx, &state, emit)
		if err != nil || !again {
			return err
		}
	}
}

// pass runs a pass to its end, from where state says. A pass resumed from
// an earlier run could not see changes made meanwhile on the pages it had
// read; its watermark stays at or before its start, so again reports that
// the next pass should follow at once, while the changes are fresh (and
// the stream still holds the budget if it was unfinished).
func (st *list) pass(ctx context.Context, state *state, emit pipeline.Emit) (again bool, err error) {
	s := st.src
	if state.Pass == nil || !st.incremental {
		state.Pass = &pass{}
		if st.incremental && !state.Watermark.IsZero() {
			state.Pass.From = state.Watermark.Add(-s.o.Lookback)
		}
	}
	ps := state.Pass
	var args []Arg
	if !ps.From.IsZero() {
		args = append(args, Arg{"updated_from", ps.From.Format(stampLayout)})
	}
	t := s.table(st.table)
	conv := transform.NewXML(s.o.Registry, t)
	dec := transform.NewJSON(s.o.Mem, s.o.Registry, t).InZone(s.o.Zone)
	cursor := s.cursor(st.method)
	var anomalies []string
	// The records read, for the next pass's Seen (by key: hash and stamp),
	// and a snapshot's fingerprint.
	type seenRec struct {
		hash  string
		stamp time.Time
	}
	reads := map[string]seenRec{}
	fp := stream.NewFingerprint()
	resumed := ps.Done > 0
	seen, whole := 0, !resumed // a resumed pass cannot check the total
	// read fetches a page and decodes it into a batch.
	read := func(page int) (*Page, []string, *pipeline.Batch, error) {
		p, err := s.c.List(ctx, st.method, args, page, conv)
		if err != nil {
			return nil, nil, nil, err
		}
		if ps.StartedAt.IsZero() && ps.Done == 0 {
			ps.StartedAt = s.serverWall(p)
		}
		lin := transform.Lineage{ExtractedAt: p.Received, RunID: s.o.RunID, Endpoint: p.Endpoint}
		keys := make([]string, 0, len(p.Records))
		raw := pipeline.Raw{Endpoint: p.Endpoint, FetchedAt: p.Received, Body: p.Body}
		for i, rec := range p.Records {
			k, u, ok := rowInfo(rec, t.Key[0], cursor)
			keys = append(keys, k)
			if ok && u.After(ps.MaxStamp) {
				ps.MaxStamp = u
			}
			h := stream.RecordHash(rec)
			fp.Add(rec)
			if ok && k != "" {
				reads[k] = seenRec{h, u}
			}
			if st.incremental && k != "" && state.Seen[k] == h {
				raw.Skip = append(raw.Skip, i) // committed unchanged by the last pass
				continue
			}
			dec.Add(rec, lin, nil)
		}
		return p, keys, stream.Batch(dec, raw, len(raw.Skip) < len(p.Records)), nil
	}
	// A snapshot list holds its pages until it knows whether they differ
	// from the snapshot last committed; what it still holds on return is
	// released.
	var held []*pipeline.Batch
	defer func() {
		for _, b := range held {
			for _, r := range b.Records {
				r.Record.Release()
			}
		}
	}()
	send := emit
	if !st.incremental {
		send = func(_ context.Context, b *pipeline.Batch) error {
			held = append(held, b)
			return nil
		}
	}
	prevTotal := -1
	// A resumed pass reads its last page again (see state).
	for page := max(ps.Done, 1); ; page++ {
		p, keys, b, err := read(page)
		var fail *FailError
		if st.adminOnly && errors.As(err, &fail) {
			// A coach token may not call this method: skip the table.
			s.o.Log.Warn("skipping a table the token may not read", "table", st.table, "vendor", fail.Messages)
			return false, emit(ctx, &pipeline.Batch{Anomalies: []string{fmt.Sprintf("optimo %s skipped: %v", st.method, fail.Messages)}})
		}
		if err != nil {
			return false, err
		}
		reread := resumed && page == ps.Done
		if reread && len(ps.Edge) > 0 && !slices.ContainsFunc(ps.Edge, func(k string) bool { return slices.Contains(keys, k) }) {
			ps.Shifted = true
			anomalies = append(anomalies, fmt.Sprintf("optimo %s: resuming at page %d, neither edge row of that page was found on it again: rows may have moved by more than a page, so the next pass asks from the same place again", st.method, page))
		}
		if len(keys) > 0 {
			ps.Edge = []string{keys[0], keys[len(keys)-1]}
		}
		seen += len(p.Records)
		if !reread {
			ps.Rows += len(p.Records)
		}
		// Rows deleted at the vendor while the pass runs move later rows
		// towards the start, some onto the page read before this one:
		// when the total drops, that page is read again.
		dropped := prevTotal >= 0 && p.Total < prevTotal && page > 1
		prevTotal = p.Total
		last := page >= p.Pages || len(p.Records) == 0
		edge := ps.Edge
		if st.incremental {
			// Each page is a checkpoint; a snapshot commits whole. Until
			// the page before is read again, the state resumes there (with
			// no edge to check: it is not that page's).
			ps.Done = page
			if dropped {
				ps.Done, ps.Edge = page-1, nil
			}
			b.State = stream.JSON(state)
		}
		if err := send(ctx, b); err != nil {
			return false, err
		}
		if dropped {
			whole = false
			p2, _, b2, err := read(page - 1)
			if err != nil {
				return false, err
			}
			prevTotal = p2.Total
			if st.incremental {
				ps.Done, ps.Edge = page, edge
				b2.State = stream.JSON(state)
			}
			if err := send(ctx, b2); err != nil {
				return false, err
			}
		}
		if last {
			if whole && seen != p.Total {
				anomalies = append(anomalies, fmt.Sprintf("%s: received %d rows in all, total says %d", st.method, seen, p.Total))
			}
			break
		}
	}
	// The pass is complete.
	state.Warning = ""
	done := &pipeline.Batch{Anomalies: anomalies}
	if sum := fp.Sum(); !st.incremental && sum != state.Fingerprint {
		if err := stream.ForgetFingerprint(ctx, emit, &state.Fingerprint, func() []byte { return stream.JSON(state) }); err != nil {
			return false, err
		}
		for len(held) > 0 {
			b := held[0]
			held = held[1:] // the sink owns it now
			if err := emit(ctx, b); err != nil {
				return false, err
			}
		}
		state.Fingerprint = sum
		done.Snapshots = []string{st.table}
	}
	if st.incremental {
		wm := ps.MaxStamp
		if !ps.StartedAt.IsZero() && ps.StartedAt.Before(wm) {
			wm = ps.StartedAt
		}
		if !ps.Shifted && wm.After(state.Watermark) {
			state.Watermark = wm
		}
		state.Seen = map[string]string{}
		if !state.Watermark.IsZero() {
			cut := state.Watermark.Add(-s.o.Lookback)
			for k, r := range reads {
				if !r.stamp.Before(cut) {
					state.Seen[k] = r.hash
				}
			}
		}
		if ps.Rows > 0 && ps.MaxStamp.IsZero() {
			state.Warning = fmt.Sprintf("optimo %s: no record carries the cursor field %q (a time like 2026-05-01 10:00:00), so every sync reads the whole list again; set sources.optimo.cursor_fields.%s to the element holding the change stamp", st.method, cursor, st.method)
			anomalies = append(anomalies, state.Warning)
		}
	}
	state.Pass = nil
	// Not without a watermark (the next pass would read everything) nor
	// after a shift (the next sync reads the same again anyway).
	again = st.incremental && resumed && !ps.Shifted && !state.Watermark.IsZero()
	done.Anomalies, done.State = anomalies, stream.JSON(state)
	return again, emit(ctx, done)
}
