package optimo

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/athlake/athlake/extract/internal/resume"
	"github.com/athlake/athlake/extract/internal/stream"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/transform"
)

// backfill reads workouts and assessments athlete by athlete over a window
// (workout.list and assessment.list with athlete_id, date_from and
// date_to), without touching the incremental streams' watermarks, within
// the same daily budget. Every page is a checkpoint: a backfill cut short
// by the quota resumes the next day at the page it stopped at, which it
// reads again (rows may have shifted). Its progress is kept under a hash of
// its parameters, so the same command resumes and a different one starts
// over; a complete one run again is done again.
//
// Without athletes, it goes through athlete.list page by page (the rows
// land in optimo_athletes too) and, on each page, through every athlete of
// the page.
type backfill struct{ src *Source }

func (st *backfill) Name() string { return "backfill" }

// backfillState is a backfill's progress.
type backfillState struct {
	// Params is the hash of the backfill's parameters, "complete:<hash>"
	// once it finished.
	Params string `json:"params"`
	// AthletePage is the athlete.list page being worked through (all
	// athletes only), AthleteFirst the key of its first athlete.
	AthletePage  int    `json:"athlete_page,omitempty"`
	AthleteFirst string `json:"athlete_first,omitempty"`
	// Done are the athletes finished.
	Done []string `json:"done"`
	// Athlete is in progress: Method's pages up to Pages are committed,
	// the methods before Method all of them. Edge holds the keys of the
	// first and last rows of the last page read.
	Athlete string   `json:"athlete,omitempty"`
	Method  string   `json:"method,omitempty"`
	Pages   int      `json:"pages_done,omitempty"`
	Edge    []string `json:"edge,omitempty"`
}

// perAthlete are the lists a backfill reads for each athlete, with the
// wall-clock field its window applies to.
var perAthlete = []struct{ method, table, at string }{
	{"workout.list", "workouts", "started_at"},
	{"assessment.list", "assessments", "assessed_at"},
}

// windowArgs map the window [Since, Until] (instants) to Optimo's date
// arguments. Optimo compares started_at / assessed_at, wall-clock readings
// of the account's zone, with whole dates (date_to includes its whole
// day). The dates sent are the instants' wall-clock dates in the zone,
// widened by a day on each side: in a zone whose offset changes at
// midnight a reading near the date line belongs to the neighbouring date
// (and an hour of readings repeats across DST). The rows are then kept
// exactly by inWindow.
func (s *Source) windowArgs() []Arg {
	var args []Arg
	if !s.o.Since.IsZero() {
		args = append(args, Arg{"date_from", s.o.Since.In(s.o.Zone).AddDate(0, 0, -1).Format(time.DateOnly)})
	}
	if !s.o.Until.IsZero() {
		args = append(args, Arg{"date_to", s.o.Until.In(s.o.Zone).AddDate(0, 0, 1).Format(time.DateOnly)})
	}
	return args
}

// inWindow keeps a record whose wall-clock field, converted to UTC through
// the account's zone exactly as the view's _utc column is (a repeated
// reading is its first occurrence), lies in [Since, Until]. A record whose
// field cannot be read is kept: the decoder rejects it with the reason.
func (s *Source) inWindow(rec json.RawMessage, field string) bool {
	if s.o.Since.IsZero() && s.o.Until.IsZero() {
		return true
	}
	var m map[string]json.RawMessage
	var txt string
	if json.Unmarshal(rec, &m) != nil || json.Unmarshal(m[field], &txt) != nil {
		return true
	}
	w, err := time.Parse(stampLayout, txt)
	if err != nil {
		return true
	}
	at := transform.WallToUTC(w, s.o.Zone)
	return (s.o.Since.IsZero() || !at.Before(s.o.Since)) && (s.o.Until.IsZero() || !at.After(s.o.Until))
}

// idOf is a record's id as text: a JSON string's value, a number's digits.
func idOf(raw json.RawMessage) string {
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return str
	}
	return strings.TrimSpace(string(raw))
}

func (st *backfill) Run(ctx context.Context, raw []byte, emit pipeline.Emit) error {
	s := st.src
	var bf backfillState
	release, err := s.begin(ctx, st.Name(), raw, &bf)
	defer release()
	if err != nil {
		return err
	}
	params := resume.Key(s.o.Athletes, s.o.Since, s.o.Until)
	if bf.Params != params { // another backfill's, or this one complete: start over
		bf = backfillState{Params: params, Done: []string{}}
	}
	var anomalies []string
	if len(s.o.Athletes) > 0 {
		more, err := st.athletes(ctx, &bf, s.o.Athletes, emit)
		if err != nil {
			return err
		}
		anomalies = append(anomalies, more...)
	} else {
		t := s.table("athletes")
		conv := transform.NewXML(s.o.Registry, t)
		dec := transform.NewJSON(s.o.Mem, s.o.Registry, t).InZone(s.o.Zone)
		// fetch reads an athlete page: its rows go to optimo_athletes
		// (with the next checkpoint), its ids come back.
		fetch := func(page int) (*Page, []string, error) {
			p, err := s.c.List(ctx, "athlete.list", nil, page, conv)
			if err != nil {
				return nil, nil, err
			}
			lin := transform.Lineage{ExtractedAt: p.Received, RunID: s.o.RunID, Endpoint: p.Endpoint}
			var ids []string
			for _, rec := range p.Records {
				dec.Add(rec, lin, nil)
				var m map[string]json.RawMessage
				if json.Unmarshal(rec, &m) == nil && m[t.Key[0]] != nil {
					ids = append(ids, idOf(m[t.Key[0]]))
				}
			}
			return p, ids, emit(ctx, stream.Batch(dec, pipeline.Raw{Endpoint: p.Endpoint, FetchedAt: p.Received, Body: p.Body}, true))
		}
		// A resumed backfill reads its athlete page again (the athletes
		// done are skipped). If that page's first athlete is no longer on
		// it, athletes were deleted before it and later ones moved onto
		// the page before: that one is read too.
		for page := max(bf.AthletePage, 1); ; page++ {
			p, ids, err := fetch(page)
			if err != nil {
				return err
			}
			if page == bf.AthletePage && page > 1 && bf.AthleteFirst != "" && !slices.Contains(ids, bf.AthleteFirst) {
				_, before, err := fetch(page - 1)
				if err != nil {
					return err
				}
				ids = append(before, ids...)
			} else if len(ids) > 0 {
				bf.AthleteFirst = ids[0]
			}
			bf.AthletePage = page
			if err := emit(ctx, &pipeline.Batch{State: stream.JSON(bf)}); err != nil {
				return err
			}
			more, err := st.athletes(ctx, &bf, ids, emit)
			if err != nil {
				return err
			}
			anomalies = append(anomalies, more...)
			if page >= p.Pages || len(p.Records) == 0 {
				break
			}
		}
	}
	return emit(ctx, &pipeline.Batch{Anomalies: anomalies, State: stream.JSON(backfillState{Params: resume.Complete(params), Done: []string{}})})
}

// athletes reads the per-athlete lists of each athlete not done yet,
// resuming the one in progress.
func (st *backfill) athletes(ctx context.Context, bf *backfillState, ids []string, emit pipeline.Emit) ([]string, error) {
	var anomalies []string
	for _, id := range ids {
		if slices.Contains(bf.Done, id) {
			continue
		}
		first, from := 0, 1 // the list and page to start at
		if bf.Athlete == id {
			first = max(slices.IndexFunc(perAthlete, func(l struct{ method, table, at string }) bool { return l.method == bf.Method }), 0)
			from = max(bf.Pages, 1)
		} else {
			bf.Athlete, bf.Method, bf.Pages, bf.Edge = id, perAthlete[0].method, 0, nil
		}
		for _, l := range perAthlete[first:] {
			if bf.Method != l.method {
				// The lists before are complete: a stop now resumes here,
				// without reading their last page again.
				bf.Method, bf.Pages, bf.Edge, from = l.method, 0, nil, 1
				if err := emit(ctx, &pipeline.Batch{State: stream.JSON(bf)}); err != nil {
					return nil, err
				}
			}
			more, err := st.list(ctx, bf, id, l.method, l.table, l.at, from, emit)
			if err != nil {
				return nil, err
			}
			anomalies = append(anomalies, more...)
		}
		bf.Done = append(bf.Done, id)
		bf.Athlete, bf.Method, bf.Pages, bf.Edge = "", "", 0, nil
		if err := emit(ctx, &pipeline.Batch{State: stream.JSON(bf)}); err != nil {
			return nil, err
		}
	}
	return anomalies, nil
}

// list reads one athlete's list from page from (a resumed list: the page
// read last, again).
func (st *backfill) list(ctx context.Context, bf *backfillState, id, method, table, at string, from int, emit pipeline.Emit) ([]string, error) {
	s := st.src
	t := s.table(table)
	conv := transform.NewXML(s.o.Registry, t)
	dec := transform.NewJSON(s.o.Mem, s.o.Registry, t).InZone(s.o.Zone)
	args := append([]Arg{{"athlete_id", id}}, s.windowArgs()...)
	var anomalies []string
	resumed := bf.Pages > 0
	prevTotal := -1
	for page := from; ; page++ {
		p, err := s.c.List(ctx, method, args, page, conv)
		if err != nil {
			return nil, err
		}
		lin := transform.Lineage{ExtractedAt: p.Received, RunID: s.o.RunID, Endpoint: p.Endpoint}
		keys := make([]string, 0, len(p.Records))
		raw := pipeline.Raw{Endpoint: p.Endpoint, FetchedAt: p.Received, Body: p.Body}
		for i, rec := range p.Records {
			var m map[string]json.RawMessage
			if json.Unmarshal(rec, &m) == nil {
				keys = append(keys, string(m[t.Key[0]]))
			}
			if s.inWindow(rec, at) {
				dec.Add(rec, lin, nil)
			} else {
				raw.Skip = append(raw.Skip, i)
			}
		}
		b := stream.Batch(dec, raw, true)
		if resumed && page == from && len(bf.Edge) > 0 && !slices.ContainsFunc(bf.Edge, func(k string) bool { return slices.Contains(keys, k) }) && page > 1 {
			// Rows moved by more than a page since the last run: read the
			// athlete's list from its first page (what this page holds is
			// kept).
			anomalies = append(anomalies, fmt.Sprintf("optimo %s: resuming athlete %q at page %d, neither edge row of that page was found on it again: reading the athlete's list from its first page", method, id, page))
			bf.Pages, bf.Edge = 0, nil
			if err := emit(ctx, b); err != nil {
				return nil, err
			}
			page, resumed = 0, false
			continue
		}
		// A total lower than the page before's: rows were deleted, and
		// later ones moved onto the page before. It is read again, then
		// this one.
		dropped := prevTotal >= 0 && p.Total < prevTotal && page > 1
		prevTotal = p.Total
		bf.Pages, bf.Edge = page, nil
		if dropped {
			bf.Pages = page - 1
		} else if len(keys) > 0 {
			bf.Edge = []string{keys[0], keys[len(keys)-1]}
		}
		b.State = stream.JSON(bf)
		if err := emit(ctx, b); err != nil {
			return nil, err
		}
		if dropped {
			page, resumed = page-2, false
			continue
		}
		if page >= p.Pages || len(p.Records) == 0 {
			return anomalies, nil
		}
	}
}
