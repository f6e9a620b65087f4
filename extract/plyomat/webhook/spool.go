package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/athlake/athlake/load/store"
)

// Dir is the lake folder of the webhook spools, one per source
// (_webhooks/plyomat/spool/...). It is not one of the lake's committed
// folders: mirror and compaction leave it alone.
const Dir = "_webhooks"

// RecordVersion is the version of a spooled record's format.
const RecordVersion = 1

// Delivery is a delivery's body as the vendor documents it.
type Delivery struct {
	EventType     string          `json:"event_type"`
	EventID       string          `json:"event_id"`
	SourceVersion json.RawMessage `json:"source_version,omitempty"`
	DeliveryID    string          `json:"delivery_id"`
	Payload       json.RawMessage `json:"payload"`
}

// Record is a verified delivery as the spool keeps it: the raw body, so
// the event table holds what the vendor sent, and when it arrived.
type Record struct {
	Version    int       `json:"version"`
	EventID    string    `json:"event_id"`
	EventType  string    `json:"event_type"`
	DeliveryID string    `json:"delivery_id"`
	SignedAt   time.Time `json:"signed_at"`
	ReceivedAt time.Time `json:"received_at"`
	VerifiedAt time.Time `json:"verified_at"`
	// Body is the delivery's body, as JSON (compacted: insignificant
	// whitespace is not kept).
	Body json.RawMessage `json:"body"`
}

// Delivery decodes the record's body.
func (r *Record) Delivery() (Delivery, error) {
	var d Delivery
	err := json.Unmarshal(r.Body, &d)
	return d, err
}

// Entry is a record in the spool with its key.
type Entry struct {
	Key string
	Record
}

// Spool keeps verified deliveries in the lake until they are applied, one
// object per event: a redelivery, a replay or a duplicate of an event
// lands on the same key and is stored once. An object appears only once
// complete (store.Store), so a record is either whole or absent.
type Spool struct {
	st     store.Store
	prefix string
	locks  [64]sync.Mutex // by key hash: one writer per key in this process
}

// NewSpool returns the spool of source in st.
func NewSpool(st store.Store, source string) *Spool {
	return &Spool{st: st, prefix: path.Join(Dir, source, "spool") + "/"}
}

// Prefix is the folder of the spool's objects, with a trailing slash.
func (s *Spool) Prefix() string { return s.prefix }

// Key is where an event's record lives: a hash of the event id, so any id
// is a safe object name.
func (s *Spool) Key(eventID string) string {
	h := sha256.Sum256([]byte(eventID))
	return s.prefix + hex.EncodeToString(h[:20]) + ".json"
}

// Add stores rec unless its event is already in the spool; stored is false
// for an event already there. It returns once the record is durable.
func (s *Spool) Add(ctx context.Context, rec Record) (stored bool, err error) {
	key := s.Key(rec.EventID)
	h := sha256.Sum256([]byte(key))
	mu := &s.locks[h[0]%byte(len(s.locks))]
	mu.Lock()
	defer mu.Unlock()
	switch _, _, err := s.st.Get(ctx, key); {
	case err == nil:
		return false, nil
	case !errors.Is(err, store.ErrNotFound):
		return false, fmt.Errorf("webhook spool: reading %s: %w", key, err)
	}
	rec.Version = RecordVersion
	b, err := json.Marshal(rec)
	if err != nil {
		return false, err
	}
	if err := s.st.Put(ctx, key, b); err != nil {
		return false, fmt.Errorf("webhook spool: writing %s: %w", key, err)
	}
	return true, nil
}

// List reads up to limit records (0: all), the oldest received first.
// A record that cannot be decoded is returned in bad, by key, to be
// removed with an anomaly.
func (s *Spool) List(ctx context.Context, limit int) (entries []Entry, bad []string, err error) {
	objs, err := s.st.List(ctx, s.prefix)
	if err != nil {
		return nil, nil, fmt.Errorf("webhook spool: listing %s: %w", s.prefix, err)
	}
	sort.SliceStable(objs, func(i, j int) bool { return objs[i].ModTime.Before(objs[j].ModTime) })
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		if limit > 0 && len(entries)+len(bad) >= limit {
			break
		}
		b, _, err := s.st.Get(ctx, o.Key)
		if errors.Is(err, store.ErrNotFound) {
			continue // applied and removed by another run meanwhile
		}
		if err != nil {
			return nil, nil, fmt.Errorf("webhook spool: reading %s: %w", o.Key, err)
		}
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil || rec.EventID == "" || rec.Version != RecordVersion {
			bad = append(bad, o.Key)
			continue
		}
		entries = append(entries, Entry{Key: o.Key, Record: rec})
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].ReceivedAt.Before(entries[j].ReceivedAt) })
	return entries, bad, nil
}

// Pending reports whether the spool holds anything.
func (s *Spool) Pending(ctx context.Context) (int, error) {
	objs, err := s.st.List(ctx, s.prefix)
	if err != nil {
		return 0, fmt.Errorf("webhook spool: listing %s: %w", s.prefix, err)
	}
	return len(objs), nil
}

// Remove deletes records once their events are applied (committed).
func (s *Spool) Remove(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if err := s.st.Delete(ctx, k); err != nil {
			return fmt.Errorf("webhook spool: removing %s: %w", k, err)
		}
	}
	return nil
}

// Overlays counts, per table, the times records fetched one by one (or
// taken from a payload) were laid over the table's snapshot. A snapshot
// stream that finds a count moved since it last wrote writes its snapshot
// again even when the vendor's records are those it last wrote, so that
// polling, not a pulled record, has the last word.
type Overlays struct {
	st  store.Store
	key string
}

// NewOverlays returns the overlay counts of source in st.
func NewOverlays(st store.Store, source string) *Overlays {
	return &Overlays{st: st, key: path.Join(Dir, source, "overlays.json")}
}

// Counts reads the counts (none yet: an empty map).
func (o *Overlays) Counts(ctx context.Context) (map[string]int64, error) {
	counts := map[string]int64{}
	b, _, err := o.st.Get(ctx, o.key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return counts, nil
	case err != nil:
		return nil, fmt.Errorf("webhook overlays: reading %s: %w", o.key, err)
	}
	if err := json.Unmarshal(b, &counts); err != nil {
		return nil, fmt.Errorf("webhook overlays: %s: %w", o.key, err)
	}
	return counts, nil
}

// Add counts an overlay of each table; it is written before the overlay
// is committed (under the lake's lock), so a snapshot never misses one.
func (o *Overlays) Add(ctx context.Context, tables ...string) error {
	counts, err := o.Counts(ctx)
	if err != nil {
		return err
	}
	for _, t := range tables {
		counts[t]++
	}
	b, err := json.Marshal(counts)
	if err != nil {
		return err
	}
	if err := o.st.Put(ctx, o.key, b); err != nil {
		return fmt.Errorf("webhook overlays: writing %s: %w", o.key, err)
	}
	return nil
}
