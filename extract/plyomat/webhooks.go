package plyomat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/extract/internal/httpx"
	"github.com/athlake/athlake/extract/internal/stream"
	"github.com/athlake/athlake/extract/plyomat/webhook"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
	"github.com/athlake/athlake/transform"
)

// WebhookStream is the name of the stream that applies the webhook spool.
// Its rows of the athletes snapshot are laid over the newest snapshot.
const WebhookStream = connector.OverlayStream

// Webhook application limits.
const (
	// spoolBatch is how many spooled events one run applies at most; the
	// rest wait for the next run.
	spoolBatch = 2000
	// appliedTTL is how long an applied event's id is remembered, so a
	// redelivery of it (the vendor retries for about 7.5 hours; a replay
	// older than 5 minutes is refused) is removed from the spool without
	// being applied again.
	appliedTTL = 24 * time.Hour
	// webhookEndpoint is the raw endpoint of a spooled delivery.
	webhookEndpoint = "POST " + webhook.Path
)

// Event actions (the action column of webhook_events).
const (
	ActionPulled   = "pulled"   // the record was fetched by id
	ActionGone     = "gone"     // the detail endpoint answered 404
	ActionRecorded = "recorded" // no targeted pull; the next sync refreshes the table
	ActionApplied  = "applied"  // the payload, the record itself, written to its table
)

// target is a record an event asks to fetch by id.
type target struct{ resource, id string }

// pullTarget is what an event type fetches: set.completed a set,
// session.* a session, athlete.* an athlete (laid over the athletes
// snapshot until the next one). Assessment events are applied from their
// payload (payloadTable); group events are recorded, and the next sync
// refreshes the groups.
func pullTarget(eventType string) (resource string, ok bool) {
	switch eventType {
	case "set.completed":
		return "sets", true
	case "session.started", "session.ended":
		return "sessions", true
	case "athlete.created", "athlete.updated", "athlete.archived":
		return "athletes", true
	}
	return "", false
}

// payloadTable is the table an event's payload is written to as it is:
// the vendor documents the payload as the record that changed, and has no
// detail endpoint to pull an assessment from. Like a pulled athlete, it is
// laid over the snapshot until the next one.
func payloadTable(eventType string) (string, bool) {
	switch eventType {
	case "assessment.created", "assessment.updated", "assessment.archived":
		return "assessments", true
	}
	return "", false
}

// addEvent decodes a spooled event as the stream applies it: its
// webhook_events row and, for an event applied from its payload, the
// record.
func addEvent(decoder func(table string) *transform.JSON, r webhook.Record, lin transform.Lineage, derived map[string]string) {
	decoder("webhook_events").Add(eventRow(r), lin, derived)
	if table, ok := payloadTable(r.EventType); ok {
		if d, err := r.Delivery(); err == nil && len(d.Payload) > 0 && d.Payload[0] == '{' {
			decoder(table).Add(d.Payload, lin, nil)
		}
	}
}

// flushAll flushes decoders into one batch, by table name.
func flushAll(decs map[string]*transform.JSON) *pipeline.Batch {
	b := &pipeline.Batch{}
	for _, table := range slices.Sorted(maps.Keys(decs)) {
		recs, rejects := decs[table].Flush()
		b.Records, b.Rejects = append(b.Records, recs...), append(b.Rejects, rejects...)
	}
	return b
}

// webhookState is the state of the webhooks stream.
type webhookState struct {
	// Applied maps the ids of the events applied within appliedTTL to
	// when they were received.
	Applied map[string]time.Time `json:"applied,omitempty"`
}

// webhooks applies the spool: each new event's record is fetched by id
// (GET /sets/{id}, GET /sessions/{id}), written to its table, and the
// event to webhook_events; the state remembers the events applied; once
// that is committed, their spool records are removed. A crash before the
// commit leaves the spool as it was (applied again, the same rows); after
// it, the next run removes the records the state names.
type webhooks struct {
	src   *Source
	spool *webhook.Spool
}

func (st *webhooks) Name() string { return WebhookStream }

func (st *webhooks) Run(ctx context.Context, raw []byte, emit pipeline.Emit) error {
	s := st.src
	var state webhookState
	if err := stream.ReadState(raw, &state); err != nil {
		return err
	}
	entries, bad, err := st.spool.List(ctx, spoolBatch)
	if err != nil {
		return err
	}
	if len(entries)+len(bad) == 0 {
		return nil
	}
	var anomalies []string
	for _, k := range bad {
		anomalies = append(anomalies, fmt.Sprintf("webhook spool: %s is not a spooled delivery; removed", k))
	}
	done := append([]string(nil), bad...) // spool keys to remove once committed
	// fresh are the events not applied yet, each with what it pulls.
	type event struct {
		webhook.Entry
		recordID string
		pull     *target
	}
	var fresh []event
	var targets []target
	seen := map[target]bool{}
	for _, e := range entries {
		if _, ok := state.Applied[e.EventID]; ok {
			done = append(done, e.Key) // a redelivery of an applied event
			continue
		}
		ev := event{Entry: e}
		if d, err := e.Delivery(); err == nil {
			var rec ref
			_ = json.Unmarshal(d.Payload, &rec)
			ev.recordID = rec.ID
			if res, ok := pullTarget(d.EventType); ok && rec.ID != "" {
				t := target{res, rec.ID}
				ev.pull = &t
				if !seen[t] {
					seen[t] = true
					targets = append(targets, t)
				}
			}
		}
		fresh = append(fresh, ev)
	}

	// The snapshots these events lay records over are counted before
	// the records are committed.
	var overlaid []string
	for _, e := range fresh {
		table, ok := payloadTable(e.EventType)
		if e.pull != nil {
			table, ok = e.pull.resource, true
		}
		if ok && s.table(table).Mode == schemas.Snapshot && !slices.Contains(overlaid, table) {
			overlaid = append(overlaid, table)
		}
	}
	if len(overlaid) > 0 && s.o.Overlays != nil {
		if err := s.o.Overlays.Add(ctx, overlaid...); err != nil {
			return err
		}
	}
	gone := map[target]bool{}
	if len(targets) > 0 {
		decs := map[string]*transform.JSON{}
		type fetched struct {
			resp *httpx.Response
		}
		err := pipeline.Ordered(ctx, pipeline.OrderedOptions{Parallel: s.o.Concurrency}, targets,
			func(ctx context.Context, t target, send func(fetched) error) error {
				resp, err := s.c.detail(ctx, t.resource, t.id)
				if api := (*APIError)(nil); errors.As(err, &api) && api.Status == http.StatusNotFound {
					return send(fetched{})
				}
				if err != nil {
					return err
				}
				return send(fetched{resp: resp})
			},
			func(t target, f fetched) error {
				if f.resp == nil {
					gone[t] = true
					anomalies = append(anomalies, fmt.Sprintf("webhook: %s %s no longer exists at Plyomat (404)", t.resource, t.id))
					return nil
				}
				dec := decs[t.resource]
				if dec == nil {
					dec = transform.NewJSON(s.o.Mem, s.o.Registry, s.table(t.resource))
					decs[t.resource] = dec
				}
				p := &Page{Records: []json.RawMessage{f.resp.Body}, Endpoint: f.resp.Endpoint, Body: f.resp.Body, Received: f.resp.Received}
				return emit(ctx, s.decode(dec, p, nil, nil))
			}, func(target) error { return nil })
		if err != nil {
			return err
		}
		// Every record gone is unlikely; a base_url that reaches no
		// Plyomat API answers 404 to everything. The events stay spooled.
		if len(gone) == len(targets) {
			if err := s.c.reachable(ctx); err != nil {
				return fmt.Errorf("plyomat: every record the webhooks named answered 404 (%d), and so does a list: is sources.plyomat.base_url right? %w", len(targets), err)
			}
		}
	}

	decs := map[string]*transform.JSON{}
	decoder := func(table string) *transform.JSON {
		if decs[table] == nil {
			decs[table] = transform.NewJSON(s.o.Mem, s.o.Registry, s.table(table))
		}
		return decs[table]
	}
	next := webhookState{Applied: map[string]time.Time{}}
	var raws []pipeline.Raw
	for _, e := range fresh {
		action := ActionRecorded
		if _, ok := payloadTable(e.EventType); ok {
			action = ActionApplied
		}
		if e.pull != nil {
			action = ActionPulled
			if gone[*e.pull] {
				action = ActionGone
			}
		}
		derived := map[string]string{"action": action}
		if e.recordID != "" {
			derived["record_id"] = e.recordID
		}
		lin := transform.Lineage{ExtractedAt: e.ReceivedAt, RunID: s.o.RunID, Endpoint: webhookEndpoint}
		addEvent(decoder, e.Record, lin, derived)
		raws = append(raws, pipeline.Raw{Endpoint: webhookEndpoint, FetchedAt: e.ReceivedAt, Body: stream.JSON(e.Record), With: derived})
		next.Applied[e.EventID] = e.ReceivedAt
		done = append(done, e.Key)
	}
	if len(fresh) > 0 {
		b := flushAll(decs)
		b.Raw = raws
		if err := emit(ctx, b); err != nil {
			return err
		}
	}
	cut := time.Now().Add(-appliedTTL)
	for id, at := range state.Applied {
		if at.After(cut) {
			next.Applied[id] = at
		}
	}
	// Sync: the events and the state are durable before their spool
	// records go.
	if err := emit(ctx, &pipeline.Batch{Anomalies: anomalies, State: stream.JSON(next), Sync: true}); err != nil {
		return err
	}
	return st.spool.Remove(ctx, done...)
}

// eventRow is the webhook_events row of a spooled record: the delivery's
// fields with the record's times (a body that cannot be read still gives
// the event's id and type).
func eventRow(r webhook.Record) json.RawMessage {
	row := map[string]any{
		"event_id": r.EventID, "event_type": r.EventType, "delivery_id": r.DeliveryID,
		"signed_at": r.SignedAt, "received_at": r.ReceivedAt, "verified_at": r.VerifiedAt,
	}
	var d webhook.Delivery
	if json.Unmarshal(r.Body, &d) == nil {
		if len(d.SourceVersion) > 0 {
			row["source_version"] = d.SourceVersion
		}
		if len(d.Payload) > 0 {
			row["payload"] = d.Payload
		}
	}
	return stream.JSON(row)
}

// reachable checks that the API answers a list (one group).
func (c *Client) reachable(ctx context.Context) error {
	var page json.RawMessage
	_, err := c.h.GetJSON(ctx, "/groups", url.Values{"limit": {"1"}}, &page)
	return err
}

// detail fetches one record by id, keeping the response for the raw
// archive and lineage.
func (c *Client) detail(ctx context.Context, resource, id string) (*httpx.Response, error) {
	var rec json.RawMessage
	return c.h.GetJSON(ctx, "/"+resource+"/"+httpx.Segment(id), nil, &rec)
}
