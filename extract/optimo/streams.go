package optimo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
	"github.com/athlake/athlake/transform"
)

// SourceName is the source's name in the lake and the config.
const SourceName = "optimo"

// DefaultOverlap is how far before the newest updated_at already committed
// an incremental pass asks again (inclusive), for records stamped late.
const DefaultOverlap = time.Hour

// wallLayout is how Optimo writes times.
const wallLayout = "2006-01-02 15:04:05"

// SourceOptions configures the streams.
type SourceOptions struct {
	Registry *schemas.Registry
	Mem      memory.Allocator
	RunID    string
	Zone     *time.Location // the account's wall-clock zone
	Overlap  time.Duration
	Log      *slog.Logger
}

// Source is an Optimo Sport account.
type Source struct {
	c *Client
	o SourceOptions
}

// NewSource returns the Optimo source.
func NewSource(c *Client, o SourceOptions) *Source {
	if o.Overlap <= 0 {
		o.Overlap = DefaultOverlap
	}
	if o.Mem == nil {
		o.Mem = memory.DefaultAllocator
	}
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

// Streams: one per list method.
func (s *Source) Streams() []pipeline.Stream {
	return []pipeline.Stream{
		&list{src: s, method: "athlete.list", table: "athletes", incremental: true},
		&list{src: s, method: "coach.list", table: "coaches", adminOnly: true},
		&list{src: s, method: "workout.list", table: "workouts", incremental: true},
		&list{src: s, method: "assessment.list", table: "assessments", incremental: true},
	}
}

// state is a list's position. A pass reads pages 1..pages; every page is
// checkpointed, so a pass cut short by the quota resumes at the next page
// the next day (records are ordered by id: new ones append, updated ones
// stay in place).
type state struct {
	// Watermark is the newest updated_at (wall clock) of a complete pass;
	// the next asks for updated_from = Watermark - overlap.
	Watermark time.Time `json:"watermark,omitzero"`
	Pass      *pass     `json:"pass,omitempty"`
}

type pass struct {
	From     time.Time `json:"from,omitzero"` // the pass's updated_from
	Done     int       `json:"pages_done"`
	MaxStamp time.Time `json:"max_updated_at,omitzero"`
}

type list struct {
	src         *Source
	method      string
	table       string
	incremental bool
	adminOnly   bool
}

func (st *list) Name() string { return st.table }

func (st *list) Run(ctx context.Context, raw []byte, emit pipeline.Emit) error {
	s := st.src
	var state state
	if raw != nil {
		if err := json.Unmarshal(raw, &state); err != nil {
			return fmt.Errorf("reading state: %w", err)
		}
	}
	if state.Pass == nil || !st.incremental {
		state.Pass = &pass{}
		if st.incremental && !state.Watermark.IsZero() {
			state.Pass.From = state.Watermark.Add(-s.o.Overlap)
		}
	}
	var args []Arg
	if !state.Pass.From.IsZero() {
		args = append(args, Arg{"updated_from", state.Pass.From.Format(wallLayout)})
	}
	t, _ := s.o.Registry.Lookup(SourceName, st.table)
	conv := transform.NewXML(s.o.Registry, t)
	dec := transform.NewJSON(s.o.Mem, s.o.Registry, t).InZone(s.o.Zone)
	var anomalies []string
	seen, whole := 0, state.Pass.Done == 0 // a resumed pass cannot check the total
	for page := state.Pass.Done + 1; ; page++ {
		p, err := s.c.List(ctx, st.method, args, page, conv)
		var fail *FailError
		if st.adminOnly && errors.As(err, &fail) {
			// A coach token may not call this method: skip the table.
			s.o.Log.Warn("skipping a table the token may not read", "table", st.table, "vendor", fail.Messages)
			return emit(ctx, &pipeline.Batch{Anomalies: []string{fmt.Sprintf("optimo %s skipped: %v", st.method, fail.Messages)}})
		}
		if err != nil {
			return err
		}
		lin := transform.Lineage{ExtractedAt: p.Received, RunID: s.o.RunID, Endpoint: p.Endpoint}
		for _, rec := range p.Records {
			dec.Add(rec, lin, nil)
			var r struct {
				UpdatedAt string `json:"updated_at"`
			}
			if json.Unmarshal(rec, &r) == nil {
				if u, err := time.Parse(wallLayout, r.UpdatedAt); err == nil && u.After(state.Pass.MaxStamp) {
					state.Pass.MaxStamp = u
				}
			}
		}
		recs, rejects := dec.Flush()
		b := &pipeline.Batch{Records: recs, Rejects: rejects, Raw: []pipeline.Raw{{Endpoint: p.Endpoint, FetchedAt: p.Received, Body: p.Body}}}
		seen += len(p.Records)
		last := page >= p.Pages || len(p.Records) == 0
		if st.incremental {
			// Each page is a checkpoint; a snapshot commits whole.
			state.Pass.Done = page
			b.State = mustJSON(state)
		}
		if err := emit(ctx, b); err != nil {
			return err
		}
		if last {
			if whole && seen != p.Total {
				anomalies = append(anomalies, fmt.Sprintf("%s: received %d rows in all, total says %d", st.method, seen, p.Total))
			}
			break
		}
	}
	// The pass is complete.
	if state.Pass.MaxStamp.After(state.Watermark) {
		state.Watermark = state.Pass.MaxStamp
	}
	state.Pass = nil
	return emit(ctx, &pipeline.Batch{Anomalies: anomalies, State: mustJSON(state)})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs
	}
	return b
}
