package teampro

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/athlake/athlake/extract/internal/httpx"
	"github.com/athlake/athlake/extract/internal/resume"
	"github.com/athlake/athlake/extract/internal/stream"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/transform"
)

// Wall-clock readings lie between UTC-12 and UTC+14 of their instant.
const (
	maxOffsetWest = 12 * time.Hour
	maxOffsetEast = 14 * time.Hour
)

// backfill re-reads players' sessions over a window, player by player:
// each session's details with samples and RR intervals, and its summary.
// It never touches the training stream's state (watermark, seen sessions):
// its progress is kept under its own name and a hash of its parameters, so
// the same command resumes where it stopped and a different one starts
// over; a complete backfill run again is done again. It shares the
// client's rate limiter, whose level it saves and restores like training.
// Players are those named (--athlete; an id Team Pro does not know is
// skipped with an anomaly, as --athlete serves every source) or, when none
// is, every player on a roster when the backfill starts.
type backfill struct{ src *Source }

func (st *backfill) Name() string { return "backfill" }

// backfillState is the progress of a backfill.
type backfillState struct {
	// Params hashes the players and window; "complete:<hash>" once done.
	Params string `json:"params,omitempty"`
	// Players are the players to do, fixed when the backfill starts (the
	// rosters then, when no player was named).
	Players []string `json:"players,omitempty"`
	Done    []string `json:"done"`
	// Current is the player in progress and CurrentDone its sessions
	// committed so far.
	Current     string            `json:"current,omitempty"`
	CurrentDone []string          `json:"current_done,omitempty"`
	Bucket      httpx.BucketState `json:"bucket,omitzero"`
}

// backfillWindow maps the backfill's instants to the vendor's filter.
//
// --since and --until are instants; a player session's start_time is a
// wall-clock reading, and since/until filter on that reading, exclusively
// (since < start_time < until). The list is asked for a window wider by the
// largest offsets there are (a reading is between 12 h behind and 14 h
// ahead of UTC), each bound pushed out one more second (the filter is
// exclusive and sent to the second), so that it holds every session that
// can start in [Since, Until]; keep then selects exactly: a session is
// taken when Since <= its start <= Until (both inclusive, like Plyomat's
// backfill), its start being start_time minus the list's timezone_offset,
// or, for a session without an offset, start_time read as UTC.
func backfillWindow(since, until time.Time) (Window, func(listed) bool) {
	var w Window
	if !since.IsZero() {
		w.Since = since.UTC().Add(-maxOffsetWest - time.Second)
	}
	if !until.IsZero() {
		w.Until = until.UTC().Add(maxOffsetEast + time.Second)
	}
	keep := func(ls listed) bool {
		start, err := transform.ParseTime(ls.StartTime, true)
		if err != nil {
			return true // no start to judge by: the vendor's window holds it
		}
		if ls.TimezoneOffset != nil {
			start = start.Add(-time.Duration(*ls.TimezoneOffset) * time.Minute)
		}
		return (since.IsZero() || !start.Before(since)) && (until.IsZero() || !start.After(until))
	}
	return w, keep
}

func (st *backfill) Run(ctx context.Context, raw []byte, emit pipeline.Emit) error {
	s := st.src
	var bf backfillState
	if err := stream.ReadState(raw, &bf); err != nil {
		return err
	}
	s.restoreBucket(bf.Bucket)
	named := slices.Clone(s.o.Athletes)
	slices.Sort(named)
	named = slices.Compact(named)
	params := resume.Key(named, s.o.Since, s.o.Until)
	if bf.Params != params {
		// Another backfill, or this one complete: start over.
		bf = backfillState{Params: params}
	}
	r := s.newRun(emit)
	r.checkpoint = func() []byte {
		bf.Bucket = s.c.Bucket().State()
		return stream.JSON(bf)
	}
	if bf.Players == nil {
		bf.Players = named
		if len(named) == 0 {
			_, players, err := r.teams(ctx)
			if err != nil {
				return err
			}
			bf.Players = players
		}
		if err := emit(ctx, &pipeline.Batch{State: r.checkpoint()}); err != nil {
			return err
		}
	}
	window, keep := backfillWindow(s.o.Since, s.o.Until)
	for _, player := range bf.Players {
		if slices.Contains(bf.Done, player) {
			continue
		}
		if bf.Current != player {
			bf.Current, bf.CurrentDone = player, nil
		}
		var todo []listed
		anomalies, err := s.c.PlayerSessions(ctx, player, window, collect(&todo, keep))
		var api *APIError
		if len(named) > 0 && errors.As(err, &api) && api.Status == http.StatusNotFound {
			// --athlete names ids of every source: one that is not a
			// Team Pro player (a Plyomat athlete's) is skipped.
			anomalies, err = []string{fmt.Sprintf("%s %s: no such player: skipped", api.Source, api.Endpoint)}, nil
		}
		if err != nil {
			return err
		}
		for _, ps := range todo {
			if slices.Contains(bf.CurrentDone, ps.ID) {
				continue
			}
			b, _, err := r.fetchPlayerSession(ctx, ps.ID, player, ps)
			if err != nil {
				return err
			}
			if b == nil {
				continue // deleted since listed: a resumed run asks again
			}
			bf.CurrentDone = append(bf.CurrentDone, ps.ID)
			b.State = r.checkpoint()
			if err := emit(ctx, b); err != nil {
				return err
			}
		}
		bf.Done = append(bf.Done, player)
		bf.Current, bf.CurrentDone = "", nil
		if err := emit(ctx, &pipeline.Batch{Anomalies: anomalies, State: r.checkpoint()}); err != nil {
			return err
		}
	}
	bf = backfillState{Params: resume.Complete(params), Done: []string{}}
	return emit(ctx, &pipeline.Batch{State: r.checkpoint()})
}
