package plyomat

import (
	"context"
	"encoding/json"
	"time"

	"github.com/athlake/athlake/extract/internal/httpx"
	"github.com/athlake/athlake/extract/internal/resume"
	"github.com/athlake/athlake/extract/internal/stream"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/transform"
)

// backfill re-reads sessions and sets per athlete over a window, without
// touching the incremental watermarks. Its progress is kept under its
// parameters, so the same command resumes and a different one starts over.
type backfill struct{ src *Source }

func (st *backfill) Name() string { return "backfill" }

func (st *backfill) Run(ctx context.Context, raw []byte, emit pipeline.Emit) error {
	s := st.src
	var prev backfillState
	if err := stream.ReadState(raw, &prev); err != nil {
		return err
	}
	params := resume.Key(s.o.Athletes, s.o.Since, s.o.Until)
	var bf *backfillState
	if len(prev.Done) > 0 || !prev.StartedAt.IsZero() {
		bf = &prev
	}
	finished := func(b *backfillState) []byte {
		return stream.JSON(backfillState{StartedAt: b.StartedAt, Params: resume.Complete(params), Done: []string{}})
	}
	if bf != nil && bf.Params == resume.Complete(params) {
		bf = nil // the same backfill again: do it again
	}
	return s.perAthlete(ctx, bf, params, emit,
		func(b *backfillState) []byte { return stream.JSON(b) }, finished,
		[]perAthleteList{{"sessions", s.c.Sessions}, {"sets", s.c.Sets}},
		Filter{Since: s.o.Since}, s.o.Until)
}

// backfillState is the progress of a per-athlete pass: a backfill's, or
// the first pass of sets (kept in incrementalState.Backfill).
type backfillState struct {
	StartedAt time.Time `json:"started_at"`
	Params    string    `json:"params,omitempty"`
	Done      []string  `json:"done"`
}

// perAthleteList is one table read per athlete.
type perAthleteList struct {
	table string
	list  func(ctx context.Context, f Filter, fn func(*Page) error) ([]string, error)
}

// perAthlete reads tables athlete by athlete, committing each athlete as a
// checkpoint, so an interrupted pass resumes after the last athlete done.
func (s *Source) perAthlete(ctx context.Context, bf *backfillState, params string, emit pipeline.Emit,
	progress, finished func(*backfillState) []byte, lists []perAthleteList, f Filter, until time.Time) error {
	if bf == nil || bf.Params != params {
		bf = &backfillState{Params: params}
	}
	athletes := s.o.Athletes
	if len(athletes) == 0 {
		var err error
		athletes, err = s.athleteIDs(ctx, bf)
		if err != nil {
			return err
		}
	}
	done := map[string]bool{}
	for _, id := range bf.Done {
		done[id] = true
	}
	decs := make([]*transform.JSON, len(lists))
	for i, l := range lists {
		decs[i] = transform.NewJSON(s.o.Mem, s.o.Registry, s.table(l.table))
	}
	var keep func(json.RawMessage) bool
	if !until.IsZero() {
		keep = func(r json.RawMessage) bool {
			var t struct {
				StartedAt time.Time `json:"started_at"`
			}
			return json.Unmarshal(r, &t) != nil || !t.StartedAt.After(until)
		}
	}
	var todo []string
	for _, id := range athletes {
		if !done[id] {
			todo = append(todo, id)
			done[id] = true // an id listed twice is read once
		}
	}
	// Athletes are read Concurrency at once and emitted in order, each
	// followed by its checkpoint, so the state never names an athlete
	// whose pages are not all committed.
	type result struct {
		list      int // index in lists, or -1 for anomalies alone
		page      *Page
		anomalies []string
	}
	var anomalies []string
	var vanished httpx.Vanished // an athlete deleted since the listing
	cur := progress(bf)
	err := pipeline.Ordered(ctx, pipeline.OrderedOptions{Parallel: s.o.Concurrency},
		todo, func(ctx context.Context, id string, send func(result) error) error {
			for i, l := range lists {
				ff := f
				ff.AthleteID = id
				more, err := l.list(ctx, ff, func(p *Page) error { return send(result{list: i, page: p}) })
				gone, err := vanished.Check(err)
				if err != nil {
					return err
				}
				if gone != "" {
					more = append(more, gone)
				}
				if len(more) > 0 {
					if err := send(result{list: -1, anomalies: more}); err != nil {
						return err
					}
				}
			}
			return nil
		}, func(_ string, r result) error {
			if r.list < 0 {
				anomalies = append(anomalies, r.anomalies...)
				return nil
			}
			if bf.StartedAt.IsZero() {
				bf.StartedAt = r.page.ServerTime
				cur = progress(bf)
			}
			b := s.decode(decs[r.list], r.page, nil, keep)
			b.State = cur
			return emit(ctx, b)
		}, func(id string) error {
			bf.Done = append(bf.Done, id)
			cur = progress(bf)
			return emit(ctx, &pipeline.Batch{State: cur})
		})
	if err != nil {
		return err
	}
	return emit(ctx, &pipeline.Batch{Anomalies: anomalies, State: finished(bf)})
}

// athleteIDs lists every athlete's id, noting the server's clock at the
// start of the pass.
func (s *Source) athleteIDs(ctx context.Context, bf *backfillState) ([]string, error) {
	var out []string
	_, err := s.c.Athletes(ctx, "", func(p *Page) error {
		if bf.StartedAt.IsZero() {
			bf.StartedAt = p.ServerTime
		}
		out = append(out, ids(p.Records)...)
		return nil
	})
	return out, err
}
