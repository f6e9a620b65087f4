package plyomat

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/extract/internal/stream"
)

// Estimate says what the next sync would do (`athlake plan`).
func (c *Config) Estimate(ctx context.Context, env *connector.Env, states map[string][]byte) (*connector.Estimate, error) {
	src, err := c.Source(ctx, env)
	if err != nil {
		return nil, err
	}
	return src.(*Source).estimate(ctx, states)
}

// estimate reads the dimension lists as the sync would (they are a page
// or two each) and tells from their fingerprints which snapshots the sync
// writes, and asks the session and set lists for their totals alone. A
// set's reps come with it: their rows are the sets' times the mean reps of
// the sets the counts returned.
func (s *Source) estimate(ctx context.Context, states map[string][]byte) (*connector.Estimate, error) {
	began := time.Now()
	e := &connector.Estimate{Notes: []string{"Plyomat documents no rate limit: seconds are the requests at the latency of the plan's own, " +
		"4 in flight"}}
	ps := s.c.pageSize
	athletes, serverNow, err := s.estimateSnapshots(ctx, e, states)
	if err != nil {
		return nil, err
	}
	e.Asked = e.Requests
	// The latency of a request, from these, sent one after another.
	latency := connector.Latency(time.Since(began), e.Asked)

	// The incremental lists: their totals since the watermark, less the
	// records the last pass committed that the sync finds unchanged.
	var reps repsMean
	for _, name := range []string{"sessions", "sets"} {
		var state incrementalState
		if err := stream.ReadState(states[name], &state); err != nil {
			return nil, err
		}
		if state.Watermark.IsZero() && name == "sets" {
			if err := s.estimateSetsByAthlete(ctx, e, state.Backfill, athletes, &reps); err != nil {
				return nil, err
			}
			// The pass from its start that follows it reads what was
			// stamped within the lookback again.
			state.Watermark = serverNow
		}
		f := Filter{}
		if !state.Watermark.IsZero() {
			f.Since = state.Watermark.Add(-s.o.Lookback)
		}
		limit := 1
		if name == "sets" {
			limit = ps // a page of sets is a sample of their reps
		}
		total, recs, err := s.c.Count(ctx, "/"+name, f.values(), limit)
		if err != nil {
			return nil, err
		}
		e.Asked++
		e.Requests += connector.Pages(total, ps)
		n := int64(max(total-len(state.Seen), 0))
		e.AddRows(name, n)
		if name == "sets" {
			reps.add(recs)
			e.AddRows("reps", reps.rows(e.Rows["sets"]))
		}
	}
	if s.o.Spool != nil {
		e.Notes = append(e.Notes, "webhook deliveries waiting in the spool are not counted")
	}
	e.Seconds = connector.UnlimitedSeconds(e.Requests, latency, s.o.Concurrency)
	return e, nil
}

// estimateSnapshots reads the dimension lists as the sync's snapshot
// streams do, and adds their requests, and the rows of those whose
// fingerprint moved, to e. It returns the athletes listed and the
// server's clock then.
func (s *Source) estimateSnapshots(ctx context.Context, e *connector.Estimate, states map[string][]byte) (athletes []string, serverNow time.Time, err error) {
	rowsOf := func(pp []*Page) (n int64) {
		for _, p := range pp {
			n += int64(len(p.Records))
		}
		return n
	}
	for _, st := range s.Streams() {
		var tables []string
		next := snapshotState{}
		var rows []int64
		switch st := st.(type) {
		case *snapshot:
			pp, at, _, err := st.read(ctx)
			if err != nil {
				return nil, at, err
			}
			if st.name == "athletes" {
				serverNow = at
				for _, p := range pp {
					athletes = append(athletes, ids(p.Records)...)
				}
			}
			e.Requests += len(pp)
			tables, next.Fingerprint, rows = st.tables, fingerprint(pp).Sum(), []int64{rowsOf(pp)}
		case *groupsStream:
			g, err := st.read(ctx)
			if err != nil {
				return nil, serverNow, err
			}
			members := int64(0)
			e.Requests += len(g.groupPages)
			for _, m := range g.members {
				e.Requests += len(m.pages)
				members += rowsOf(m.pages)
			}
			tables, next.Fingerprint, rows = groupsTables, g.fp.Sum(), []int64{rowsOf(g.groupPages), members}
		default:
			continue
		}
		_, due, err := s.snapshotDue(ctx, states[st.Name()], tables, &next)
		if err != nil {
			return nil, serverNow, err
		}
		for i, t := range tables {
			if due {
				e.AddRows(t, rows[i])
			}
		}
	}
	return athletes, serverNow, nil
}

// estimateSetsByAthlete counts the requests and sets of the first pass of
// sets, athlete by athlete (the athletes not done yet), with one request
// an athlete.
func (s *Source) estimateSetsByAthlete(ctx context.Context, e *connector.Estimate, bf *backfillState, athletes []string, reps *repsMean) error {
	done := map[string]bool{}
	if bf != nil {
		for _, id := range bf.Done {
			done[id] = true
		}
	}
	e.Requests += connector.Pages(len(athletes), s.c.pageSize) // the pass lists the athletes
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(s.o.Concurrency)
	for _, id := range athletes {
		if done[id] {
			continue
		}
		done[id] = true
		g.Go(func() error {
			total, recs, err := s.c.Count(ctx, "/sets", Filter{AthleteID: id}.values(), 1)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			e.Asked++
			e.Requests += connector.Pages(total, s.c.pageSize)
			e.AddRows("sets", int64(total))
			reps.add(recs)
			return nil
		})
	}
	return g.Wait()
}

// repsMean is the mean count of reps of the sets seen.
type repsMean struct{ sets, reps int64 }

func (m *repsMean) add(sets []json.RawMessage) {
	for _, r := range sets {
		var set struct {
			Reps []json.RawMessage `json:"reps"`
		}
		if json.Unmarshal(r, &set) == nil {
			m.sets++
			m.reps += int64(len(set.Reps))
		}
	}
}

// rows is the reps of n sets.
func (m *repsMean) rows(n int64) int64 {
	if m.sets == 0 {
		return 0
	}
	return n * m.reps / m.sets
}
