package plyomat

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/extract/internal/stream"
	"github.com/athlake/athlake/extract/plyomat/webhook"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/transform"
)

// Replay decodes the source's raw responses again (`athlake rebuild`).
func (c *Config) Replay(env *connector.Env) (connector.Replay, error) {
	return &replay{o: stream.FromEnv(env, 0).WithDefaults(DefaultLookback), decs: map[string]*transform.JSON{}}, nil
}

type replay struct {
	o    stream.Options
	decs map[string]*transform.JSON
}

// Decode decodes a list page as the streams do: the table is the list's
// (a group's athlete list is group_members), the records the stream
// skipped stay skipped.
func (r *replay) Decode(streamName, runID string, raw pipeline.Raw) (*pipeline.Batch, error) {
	if streamName == WebhookStream {
		return r.decodeWebhook(runID, raw)
	}
	table, with, err := listTable(raw)
	if err != nil {
		return nil, err
	}
	var env envelope
	if err := json.Unmarshal(raw.Body, &env); err != nil {
		return nil, fmt.Errorf("plyomat %s: decoding the response: %w", raw.Endpoint, err)
	}
	dec := r.decoder(table)
	lin := transform.Lineage{ExtractedAt: raw.FetchedAt, RunID: runID, Endpoint: raw.Endpoint}
	for i, rec := range env.Data {
		if slices.Contains(raw.Skip, i) {
			continue
		}
		if table == "group_members" {
			rec = membership(rec)
		}
		dec.Add(rec, lin, with)
	}
	recs, rejects := dec.Flush()
	return &pipeline.Batch{Records: recs, Rejects: rejects}, nil
}

// listTable is the table of the list an endpoint ("GET /v1/sets?...")
// reads, and the fields the stream derived for its rows: a group's id for
// its members, from the response's own record or, for a response recorded
// without, from the request.
func listTable(raw pipeline.Raw) (string, map[string]string, error) {
	_, target, _ := strings.Cut(raw.Endpoint, " ")
	u, err := url.Parse(target)
	if err != nil {
		return "", nil, fmt.Errorf("plyomat %s: %w", raw.Endpoint, err)
	}
	switch name := path.Base(u.Path); name {
	case "athletes":
		if g := u.Query().Get("group_id"); g != "" {
			with := raw.With
			if with["group_id"] == "" {
				with = map[string]string{"group_id": g}
			}
			return "group_members", with, nil
		}
		return name, raw.With, nil
	case "groups", "devices", "assessments", "sessions", "sets":
		return name, raw.With, nil
	case "members":
		return "org_members", raw.With, nil
	}
	return "", nil, fmt.Errorf("plyomat %s: not a list athlake reads", raw.Endpoint)
}

func (r *replay) decoder(table string) *transform.JSON {
	dec := r.decs[table]
	if dec == nil {
		dec = transform.NewJSON(r.o.Mem, r.o.Registry, stream.Table(r.o.Registry, SourceName, table))
		r.decs[table] = dec
	}
	return dec
}

// decodeWebhook decodes what the webhooks stream kept: a spooled delivery
// (its webhook_events row, and the assessment its payload carries) or a
// record fetched by id (GET /sets/{id}).
func (r *replay) decodeWebhook(runID string, raw pipeline.Raw) (*pipeline.Batch, error) {
	method, target, _ := strings.Cut(raw.Endpoint, " ")
	lin := transform.Lineage{ExtractedAt: raw.FetchedAt, RunID: runID, Endpoint: raw.Endpoint}
	if method == "POST" {
		var wr webhook.Record
		if err := json.Unmarshal(raw.Body, &wr); err != nil {
			return nil, fmt.Errorf("plyomat %s: decoding the spooled delivery: %w", raw.Endpoint, err)
		}
		decs := map[string]*transform.JSON{}
		addEvent(func(table string) *transform.JSON {
			decs[table] = r.decoder(table)
			return decs[table]
		}, wr, lin, raw.With)
		return flushAll(decs), nil
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("plyomat %s: %w", raw.Endpoint, err)
	}
	// Ids are escaped as one segment: the resource is the one before.
	segs := strings.Split(u.EscapedPath(), "/")
	if len(segs) < 2 {
		return nil, fmt.Errorf("plyomat %s: not a detail endpoint athlake reads", raw.Endpoint)
	}
	table := segs[len(segs)-2]
	if !slices.Contains([]string{"sets", "sessions", "athletes"}, table) {
		return nil, fmt.Errorf("plyomat %s: not a detail endpoint athlake reads", raw.Endpoint)
	}
	dec := r.decoder(table)
	dec.Add(raw.Body, lin, raw.With)
	recs, rejects := dec.Flush()
	return &pipeline.Batch{Records: recs, Rejects: rejects}, nil
}
