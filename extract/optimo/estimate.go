package optimo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/extract/internal/stream"
	"github.com/athlake/athlake/transform"
)

// Estimate says what the next sync would do (`athlake plan`). Its own
// requests count against the day's budget, as every request does.
func (c *Config) Estimate(ctx context.Context, env *connector.Env, states map[string][]byte) (*connector.Estimate, error) {
	src, err := c.Source(ctx, env)
	if err != nil {
		return nil, err
	}
	return src.(*Source).estimate(ctx, states)
}

// estimate asks each incremental list for its first page from where the
// sync would ask, whose paging attributes give the pages and rows of the
// pass; the snapshot lists (a page or two) it reads whole, and tells from
// their fingerprint whether the sync writes them.
func (s *Source) estimate(ctx context.Context, states map[string][]byte) (*connector.Estimate, error) {
	began := time.Now()
	e := &connector.Estimate{}
	for _, ss := range s.Streams() {
		st := ss.(*list)
		var state state
		if err := stream.ReadState(states[st.Name()], &state); err != nil {
			return nil, err
		}
		var args []Arg
		from := time.Time{}
		switch {
		case !st.incremental:
		case state.Pass != nil:
			from = state.Pass.From
		case !state.Watermark.IsZero():
			from = state.Watermark.Add(-s.o.Lookback)
		}
		if !from.IsZero() {
			args = append(args, Arg{"updated_from", from.Format(stampLayout)})
		}
		t := s.table(st.table)
		conv := transform.NewXML(s.o.Registry, t)
		dec := transform.NewJSON(s.o.Mem, s.o.Registry, t).InZone(s.o.Zone)
		p, err := s.c.List(ctx, st.method, args, 1, conv)
		e.Asked++
		var fail *FailError
		if st.adminOnly && errors.As(err, &fail) {
			e.Requests++ // the sync asks once, then skips the table
			continue
		}
		if err != nil {
			return nil, err
		}
		pages := max(p.Pages, 1)
		if !st.incremental {
			fp := stream.NewFingerprint()
			rows := map[string]int64{}
			for pg := 1; ; pg++ {
				for _, rec := range p.Records {
					fp.Add(rec)
				}
				for t, n := range stream.Rows(dec, p.Records) {
					rows[t] += n
				}
				if pg >= pages || len(p.Records) == 0 {
					break
				}
				if p, err = s.c.List(ctx, st.method, args, pg+1, conv); err != nil {
					return nil, err
				}
				e.Asked++
			}
			e.Requests += pages
			if fp.Sum() != state.Fingerprint {
				stream.Scale(e, rows, 1, 1)
			}
			continue
		}
		rows := p.Total - len(state.Seen)
		if ps := state.Pass; ps != nil && ps.Done > 0 {
			// A resumed pass reads its last page again, then the sync
			// follows it with a fresh pass (a page, mostly).
			rows = p.Total - ps.Rows
			pages = pages - ps.Done + 2
		}
		e.Requests += pages
		// The first page's records, decoded, give the rows of the
		// table's children per record.
		stream.Scale(e, stream.Rows(dec, p.Records), len(p.Records), rows)
	}
	left, tomorrow := s.c.budget.Left()
	lat := connector.Latency(time.Since(began), e.Asked)
	e.Days = 1
	e.Seconds = connector.UnlimitedSeconds(e.Requests, lat, 1)
	if over := e.Requests - left; over > 0 {
		limit := s.c.budget.limit
		e.Days = 1 + (over+limit-1)/limit
		last := over - (e.Days-2)*limit
		e.Seconds = math.Round(tomorrow.Seconds() + float64(e.Days-2)*86400 + float64(last)*lat.Seconds())
	}
	e.Notes = append(e.Notes, fmt.Sprintf("%d of the day's %d requests are left (%s), the plan's own spent", left, s.c.budget.limit, s.c.budget.Zone()))
	return e, nil
}
