package optimo

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/extract/internal/stream"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/transform"
)

// Replay decodes the source's raw responses again (`athlake rebuild`), in
// the account's zone as configured now.
func (c *Config) Replay(env *connector.Env) (connector.Replay, error) {
	return &replay{o: stream.FromEnv(env, 0).WithDefaults(DefaultLookback), zone: c.zone, decs: map[string]*decoder{}}, nil
}

type replay struct {
	o    stream.Options
	zone *time.Location
	decs map[string]*decoder
}

// decoder is a table's XML conversion and JSON decoder.
type decoder struct {
	conv *transform.XML
	dec  *transform.JSON
}

// Decode decodes a list page ("POST workout.list athlete_id=..."), the
// records the stream skipped left out.
func (r *replay) Decode(_, runID string, raw pipeline.Raw) (*pipeline.Batch, error) {
	method, _, _ := strings.Cut(strings.TrimPrefix(raw.Endpoint, "POST "), " ")
	table, ok := methodTables[method]
	if !ok {
		return nil, fmt.Errorf("optimo %s: not a list athlake reads", raw.Endpoint)
	}
	d := r.decs[table]
	if d == nil {
		t := stream.Table(r.o.Registry, SourceName, table)
		d = &decoder{conv: transform.NewXML(r.o.Registry, t), dec: transform.NewJSON(r.o.Mem, r.o.Registry, t).InZone(r.zone)}
		r.decs[table] = d
	}
	var p Page
	if err := parseList(raw.Body, method, d.conv, &p); err != nil {
		return nil, err
	}
	lin := transform.Lineage{ExtractedAt: raw.FetchedAt, RunID: runID, Endpoint: raw.Endpoint}
	for i, rec := range p.Records {
		if !slices.Contains(raw.Skip, i) {
			d.dec.Add(rec, lin, nil)
		}
	}
	recs, rejects := d.dec.Flush()
	return &pipeline.Batch{Records: recs, Rejects: rejects}, nil
}

// methodTables maps each list method athlake calls to its table.
var methodTables = map[string]string{
	"athlete.list":    "athletes",
	"coach.list":      "coaches",
	"workout.list":    "workouts",
	"assessment.list": "assessments",
}
