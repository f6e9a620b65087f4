package teampro

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/extract/internal/stream"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/transform"
)

// decoders turn details into records: the streams' and a rebuild's.
type decoders struct {
	decs    map[string]*transform.JSON
	samples *transform.Samples
}

// detailTables are the tables decoded from whole details (their children
// come with them).
var detailTables = []string{"teams", "team_sessions", "player_sessions", "session_summaries"}

func newDecoders(o stream.Options) *decoders {
	d := &decoders{decs: map[string]*transform.JSON{}}
	for _, t := range detailTables {
		d.decs[t] = transform.NewJSON(o.Mem, o.Registry, stream.Table(o.Registry, SourceName, t))
	}
	d.samples = transform.NewSamples(o.Mem, stream.Table(o.Registry, SourceName, "samples"))
	return d
}

// flush turns everything decoded so far into a batch.
func (d *decoders) flush(raw []pipeline.Raw, anomalies []string) *pipeline.Batch {
	b := &pipeline.Batch{Raw: raw, Anomalies: anomalies}
	for _, t := range detailTables {
		recs, rejects := d.decs[t].Flush()
		b.Records, b.Rejects = append(b.Records, recs...), append(b.Rejects, rejects...)
	}
	recs, rejects := d.samples.Flush()
	b.Records, b.Rejects = append(b.Records, recs...), append(b.Rejects, rejects...)
	return b
}

// releaseDecoded drops what was decoded but will not be emitted.
func (d *decoders) releaseDecoded() {
	b := d.flush(nil, nil)
	for _, rec := range b.Records {
		rec.Record.Release()
	}
}

// sessionWith is what a player session's details are decoded with besides
// them: the player whose list named it, and the list's timezone_offset,
// which the details lack.
func sessionWith(player string, ls listed) map[string]string {
	with := map[string]string{}
	if player != "" {
		with["player_id"] = player
	}
	if ls.TimezoneOffset != nil {
		with["timezone_offset"] = strconv.FormatInt(*ls.TimezoneOffset, 10)
	}
	return with
}

// decodePlayerSession decodes the details of player session id, with samples,
// and returns the samples' anomalies.
func (d *decoders) decodePlayerSession(data json.RawMessage, id string, lin transform.Lineage, with map[string]string) []string {
	var offset *int64
	var defaults map[string]json.RawMessage
	if v, err := strconv.ParseInt(with["timezone_offset"], 10, 64); err == nil {
		// A value the details carry themselves wins.
		offset = &v
		defaults = map[string]json.RawMessage{"timezone_offset": json.RawMessage(strconv.FormatInt(v, 10))}
	}
	var derived map[string]string
	if p := with["player_id"]; p != "" {
		derived = map[string]string{"player_id": p}
	}
	ps := d.decs["player_sessions"]
	part, ok := ps.AddDefaults(data, lin, derived, defaults)
	if !ok {
		return nil
	}
	// The samples and start time as the session's decoder found them: the
	// megabytes of samples are skipped once.
	samples := ps.Member("samples")
	var startText string
	json.Unmarshal(ps.Member("start_time"), &startText)
	start, err := transform.ParseTime(startText, true)
	if samples == nil || string(samples) == "null" || err != nil {
		return nil
	}
	return d.samples.Add(samples, id, start, offset, part, lin)
}

// Replay decodes the source's raw responses again (`athlake rebuild`).
func (c *Config) Replay(env *connector.Env) (connector.Replay, error) {
	return &replay{d: newDecoders(stream.FromEnv(env, 0).WithDefaults(DefaultLookback))}, nil
}

type replay struct{ d *decoders }

// Decode decodes the details of a team, a team session, a player session
// (with samples) or a session summary, as the streams do.
func (r *replay) Decode(_, runID string, raw pipeline.Raw) (*pipeline.Batch, error) {
	_, target, _ := strings.Cut(raw.Endpoint, " ")
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("teampro %s: %w", raw.Endpoint, err)
	}
	// The body was checked when it was received: found, not validated
	// again (a body of 10 Hz samples is megabytes).
	data := transform.Members(raw.Body, "data")[0]
	if len(data) == 0 || data[0] != '{' {
		return nil, fmt.Errorf("teampro %s: response without a data object", raw.Endpoint)
	}
	lin := transform.Lineage{ExtractedAt: raw.FetchedAt, RunID: runID, Endpoint: raw.Endpoint}
	segs := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	var anomalies []string
	switch n := len(segs); {
	case n >= 3 && segs[n-3] == "teams" && segs[n-2] == "training_sessions":
		r.d.decs["team_sessions"].Add(data, lin, nil)
	case n >= 2 && segs[n-2] == "teams":
		r.d.decs["teams"].Add(data, lin, nil)
	case n >= 3 && segs[n-3] == "training_sessions" && segs[n-1] == "session_summary":
		r.d.decs["session_summaries"].Add(data, lin, nil)
	case n >= 2 && segs[n-2] == "training_sessions":
		anomalies = r.d.decodePlayerSession(data, segs[n-1], lin, raw.With)
	default:
		return nil, fmt.Errorf("teampro %s: not a response athlake reads", raw.Endpoint)
	}
	return r.d.flush(nil, anomalies), nil
}
