package plyomat

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is the deliveries' clock, moved by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// subscriber records deliveries and answers with status() (200 default).
type subscriber struct {
	mu     sync.Mutex
	got    []map[string]any
	hdrs   []http.Header
	status func() int
}

func (sb *subscriber) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	m["_raw"] = string(b)
	sb.mu.Lock()
	sb.got = append(sb.got, m)
	sb.hdrs = append(sb.hdrs, r.Header.Clone())
	st := 200
	if sb.status != nil {
		st = sb.status()
	}
	sb.mu.Unlock()
	w.WriteHeader(st)
}

func newHooked(t *testing.T, sb *subscriber) (*Server, *fakeClock, Subscription) {
	t.Helper()
	s := New(Options{Seed: 3, APIKey: "k"})
	hs := httptest.NewServer(sb)
	t.Cleanup(hs.Close)
	clk := &fakeClock{t: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
	s.SetWebhookOptions(WebhookOptions{Now: clk.Now, PauseAfter: 3})
	sub := s.Subscribe(hs.URL, nil, "whsec_sandbox_test")
	return s, clk, sub
}

func TestWebhooksDeliverEveryChangeSigned(t *testing.T) {
	t.Parallel()
	sb := &subscriber{}
	s, clk, sub := newHooked(t, sb)
	rep := s.Advance(3 * time.Hour)
	if len(rep.NewSets) == 0 || len(rep.UpdatedSets) == 0 {
		t.Fatalf("the advance made no sets: %+v", rep)
	}
	ctx := context.Background()
	// Only the events not coalesced go at once; set.completed after 30 s.
	first := s.DeliverDue(ctx)
	for _, a := range first {
		if a.EventType == "set.completed" {
			t.Fatalf("a set.completed went before its coalesce window: %+v", a)
		}
	}
	clk.Add(DefaultCoalesce)
	s.DeliverDue(ctx)
	sets := map[string]bool{}
	for i, m := range sb.got {
		h := sb.hdrs[i]
		ts := h.Get("X-Plyomat-Timestamp")
		mac := hmac.New(sha256.New, []byte(sub.Secret))
		mac.Write([]byte(ts + "." + m["_raw"].(string)))
		if want := "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil)); h.Get("X-Plyomat-Signature") != want {
			t.Fatalf("signature %q, want %q", h.Get("X-Plyomat-Signature"), want)
		}
		if h.Get("X-Plyomat-Delivery-Id") != m["delivery_id"] || h.Get("X-Plyomat-Event") != m["event_type"] {
			t.Errorf("headers disagree with the body: %v / %v", h, m)
		}
		if m["event_type"] == "set.completed" {
			p := m["payload"].(map[string]any)
			sets[p["id"].(string)] = true
			if _, ok := p["reps"]; !ok {
				t.Errorf("set payload without reps: %v", p)
			}
		}
	}
	want := map[string]bool{}
	for _, id := range append(slices.Clone(rep.NewSets), rep.UpdatedSets...) {
		want[id] = true
	}
	if len(sets) != len(want) {
		t.Errorf("set.completed for %d sets, want %d", len(sets), len(want))
	}
	for id := range want {
		if !sets[id] {
			t.Errorf("no set.completed for set %s", id)
		}
	}
	if st := s.WebhookStats(); st.Pending != 0 || st.Delivered != len(sb.got) || st.Events != len(sb.got) {
		t.Errorf("stats %+v, %d received", st, len(sb.got))
	}
}

func TestWebhooksCoalesceRetryPauseAndKnobs(t *testing.T) {
	t.Parallel()
	var fail bool
	sb := &subscriber{status: func() int {
		if fail {
			return 503
		}
		return 200
	}}
	s, clk, _ := newHooked(t, sb)
	s.SetWebhookOptions(WebhookOptions{Now: clk.Now, PauseAfter: 3, Coalesce: time.Minute})
	ctx := context.Background()

	// Coalescing: a set edited twice within the window is delivered once,
	// with its latest record.
	s.Advance(2 * time.Hour)
	s.DeliverDue(ctx) // non-set events
	sb.mu.Lock()
	sb.got, sb.hdrs = nil, nil
	sb.mu.Unlock()
	var id string
	for _, d := range s.hooks.queue {
		if d.ev.Type == "set.completed" {
			id = d.ev.RecordID
			break
		}
	}
	s.Mutate(func(d *Dataset) {
		for i := range d.Sets {
			if d.Sets[i].ID == id {
				d.Sets[i].Mode = "edited"
			}
		}
	})
	s.enqueue(AdvanceReport{UpdatedSets: []string{id}})
	if st := s.WebhookStats(); st.Coalesced != 1 {
		t.Fatalf("coalesced %d, want 1", st.Coalesced)
	}
	clk.Add(time.Minute)
	s.DeliverDue(ctx)
	n := 0
	for _, m := range sb.got {
		if p, _ := m["payload"].(map[string]any); p["id"] == id {
			n++
			if p["mode"] != "edited" {
				t.Errorf("coalesced delivery carries the old record: %v", p["mode"])
			}
		}
	}
	if n != 1 {
		t.Errorf("set %s delivered %d times, want once", id, n)
	}

	// Retries: 1m, 5m, ... after failures; three failures pause the
	// subscription, which then tries one delivery at a time; a success
	// resumes it.
	fail = true
	s.enqueue(AdvanceReport{NewAthletes: []string{s.Truth().Athletes[0].ID}, UpdatedAthletes: []string{s.Truth().Athletes[1].ID, s.Truth().Athletes[2].ID}})
	if got := len(s.DeliverDue(ctx)); got != 3 {
		t.Fatalf("%d attempts, want 3", got)
	}
	if sub, _ := s.SubscriptionState(); !sub.Paused {
		t.Fatal("not paused after 3 failures")
	}
	if got := s.DeliverDue(ctx); len(got) != 0 {
		t.Fatalf("retried before 1m: %+v", got)
	}
	clk.Add(time.Minute)
	if got := s.DeliverDue(ctx); len(got) != 1 || got[0].Attempt != 1 {
		t.Fatalf("paused: %+v, want one attempt (the first retry)", got)
	}
	fail = false
	clk.Add(5 * time.Minute)
	got := s.DeliverDue(ctx)
	if len(got) != 1 || !got[0].OK() {
		t.Fatalf("after 5m: %+v", got)
	}
	if sub, _ := s.SubscriptionState(); sub.Paused {
		t.Fatal("still paused after a success")
	}
	clk.Add(time.Minute)
	if got := s.DeliverDue(ctx); len(got) != 2 {
		t.Fatalf("resumed: %d attempts, want the 2 waiting", len(got))
	}

	// Knobs.
	s.SetWebhookFaults(WebhookFaults{BadSignature: 1, Stale: 1, Replay: 1, Duplicate: 1})
	s.enqueue(AdvanceReport{NewAthletes: []string{s.Truth().Athletes[3].ID, s.Truth().Athletes[4].ID, s.Truth().Athletes[5].ID}})
	var faults []string
	for _, a := range s.DeliverDue(ctx) {
		faults = append(faults, a.Fault)
	}
	slices.Sort(faults)
	if strings.Join(faults, ",") != ",bad_signature,duplicate,replay,stale" {
		t.Errorf("faults %q", faults)
	}
}
