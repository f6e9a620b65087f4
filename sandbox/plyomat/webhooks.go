package plyomat

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Webhook delivery defaults, as the vendor documents them.
var (
	// DefaultRetries are the waits before each retry of a failed delivery.
	DefaultRetries = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour}
)

const (
	// DefaultCoalesce is how long a set.completed waits for further
	// changes of its set before it is sent once.
	DefaultCoalesce = 30 * time.Second
	// DefaultPauseAfter is how many consecutive failed attempts pause a
	// subscription; it resumes on its next successful delivery.
	DefaultPauseAfter = 10
	// SubscriptionsPath is the simulator's subscription endpoint (the real
	// vendor has a screen in its app instead).
	SubscriptionsPath = "/webhook_subscriptions"
)

// WebhookOptions configure the simulator's deliveries. Tests compress
// time: an injected clock, short retries and coalesce window.
type WebhookOptions struct {
	Now        func() time.Time // the deliveries' clock (default time.Now), not the data's virtual clock
	Coalesce   time.Duration    // default DefaultCoalesce; negative: none
	Retries    []time.Duration  // default DefaultRetries
	PauseAfter int              // default DefaultPauseAfter
	Parallel   int              // deliveries in flight at once (default 4)
	Client     *http.Client     // default: a client with a 10 s timeout
}

// WebhookFaults are test knobs: each counts the next deliveries it spoils.
type WebhookFaults struct {
	BadSignature int // signed with another secret
	Stale        int // signed with a timestamp 10 minutes old
	Future       int // signed with a timestamp 10 minutes ahead
	Replay       int // after a success, the same request is sent again verbatim
	Duplicate    int // the event is delivered twice, under two delivery ids
}

// Subscription is a webhook subscription.
type Subscription struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Secret string   `json:"secret"`
	Paused bool     `json:"paused"`
}

// WebhookEvent is an event the simulator generated.
type WebhookEvent struct {
	ID       string
	Type     string
	RecordID string
}

// DeliveryAttempt is one POST of a delivery, as the subscriber answered it.
type DeliveryAttempt struct {
	EventID    string
	EventType  string
	RecordID   string
	DeliveryID string
	Attempt    int    // 0 for the first
	Status     int    // 0 when no answer (connection refused, cut, timeout)
	Fault      string // the knob that spoiled it, if any
	At         time.Time
	Latency    time.Duration // from the request's start to its answer
}

// OK reports whether the subscriber acknowledged it.
func (a DeliveryAttempt) OK() bool { return a.Status >= 200 && a.Status < 300 }

// WebhookStats count the deliveries.
type WebhookStats struct {
	Events    int // generated
	Coalesced int // set.completed merged into one already waiting
	Attempts  int
	Delivered int // acknowledged (2xx)
	Failed    int // attempts not acknowledged
	Dropped   int // deliveries given up after the last retry
	Pending   int // waiting (coalescing, retrying or paused)
}

type delivery struct {
	ev      WebhookEvent
	payload []byte
	id      string // delivery id, the same across retries
	attempt int
	due     time.Time
}

// hooks is the webhook side of a Server.
type hooks struct {
	mu      sync.Mutex
	o       WebhookOptions
	sub     *Subscription
	queue   []*delivery
	faults  WebhookFaults
	attempt []DeliveryAttempt
	stats   WebhookStats
	fails   int // consecutive failed attempts
	rng     *rand.Rand
}

func newHooks(seed uint64) *hooks {
	return &hooks{rng: rand.New(rand.NewPCG(seed, 0x706c796f6d617403)), o: WebhookOptions{}}
}

// SetWebhookOptions sets the delivery options (before any delivery).
func (s *Server) SetWebhookOptions(o WebhookOptions) {
	h := s.hooks
	h.mu.Lock()
	defer h.mu.Unlock()
	h.o = o
}

func (h *hooks) now() time.Time {
	if h.o.Now != nil {
		return h.o.Now()
	}
	return time.Now()
}

func (h *hooks) uuid() string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := h.rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	x := hex.EncodeToString(b[:])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// Subscribe registers the one subscription of the organisation (replacing
// any): deliveries of events (none: all) go to url, signed with secret
// (empty: one is made up and returned).
func (s *Server) Subscribe(url string, events []string, secret string) Subscription {
	h := s.hooks
	h.mu.Lock()
	defer h.mu.Unlock()
	if secret == "" {
		secret = "whsec_" + hex.EncodeToString([]byte(h.uuid()))[:32]
	}
	h.sub = &Subscription{ID: "sub_" + h.uuid()[:8], URL: url, Events: slices.Clone(events), Secret: secret}
	h.queue, h.fails = nil, 0
	return *h.sub
}

// SetWebhookFaults sets the knobs.
func (s *Server) SetWebhookFaults(f WebhookFaults) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.faults = f
}

// WebhookStats returns the counts so far.
func (s *Server) WebhookStats() WebhookStats {
	h := s.hooks
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.stats
	st.Pending = len(h.queue)
	return st
}

// DeliveryAttempts returns every attempt so far, in order.
func (s *Server) DeliveryAttempts() []DeliveryAttempt {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	return slices.Clone(s.hooks.attempt)
}

// SubscriptionState returns the subscription (ok false when none).
func (s *Server) SubscriptionState() (Subscription, bool) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	if s.hooks.sub == nil {
		return Subscription{}, false
	}
	return *s.hooks.sub, true
}

// serveSubscriptions answers POST /webhook_subscriptions
// {"url": ..., "events": [...], "secret": optional} with the subscription
// (its secret shown once, as the vendor does) and GET with it (secret
// hidden).
func (s *Server) serveSubscriptions(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		var in struct {
			URL    string   `json:"url"`
			Events []string `json:"events"`
			Secret string   `json:"secret"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil || in.URL == "" {
			write(w, s.Now(), badRequest("want a JSON object with url (and events, secret)"))
			return
		}
		sub := s.Subscribe(in.URL, in.Events, in.Secret)
		b, _ := json.Marshal(sub)
		write(w, s.Now(), response{status: http.StatusCreated, body: b})
	case http.MethodGet:
		sub, ok := s.SubscriptionState()
		if !ok {
			write(w, s.Now(), errorResponse(http.StatusNotFound, "not_found", "no subscription"))
			return
		}
		sub.Secret = ""
		b, _ := json.Marshal(sub)
		write(w, s.Now(), response{status: http.StatusOK, body: b})
	default:
		resp := errorResponse(http.StatusMethodNotAllowed, "method_not_allowed", "GET or POST")
		resp.header = map[string]string{"Allow": "GET, POST"}
		write(w, s.Now(), resp)
	}
}

// enqueue turns what an Advance changed into events for the subscription.
func (s *Server) enqueue(rep AdvanceReport) {
	h := s.hooks
	h.mu.Lock()
	sub := h.sub
	h.mu.Unlock()
	if sub == nil {
		return
	}
	type ev struct {
		typ, id string
		body    []byte
	}
	var evs []ev
	s.st.RLock()
	d, x := &s.st.Data, s.st.Index
	for _, id := range rep.NewAthletes {
		if b, ok := encodeByID(id, x.athleteByID, d.Athletes, appendAthlete); ok {
			evs = append(evs, ev{"athlete.created", id, b})
		}
	}
	for _, id := range rep.UpdatedAthletes {
		if b, ok := encodeByID(id, x.athleteByID, d.Athletes, appendAthlete); ok {
			evs = append(evs, ev{"athlete.updated", id, b})
		}
	}
	for _, id := range rep.NewSessions {
		if b, ok := encodeByID(id, x.sessionByID, d.Sessions, appendSession); ok {
			evs = append(evs, ev{"session.started", id, b})
			if p := x.sessionByID[id]; d.Sessions[p].EndedAt != nil {
				evs = append(evs, ev{"session.ended", id, b})
			}
		}
	}
	for _, id := range append(slices.Clone(rep.NewSets), rep.UpdatedSets...) {
		if b, ok := encodeByID(id, x.setByID, d.Sets, appendSet); ok {
			evs = append(evs, ev{"set.completed", id, b})
		}
	}
	s.st.RUnlock()

	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	coalesce := h.o.Coalesce
	if coalesce == 0 {
		coalesce = DefaultCoalesce
	}
	for _, e := range evs {
		if len(sub.Events) > 0 && !slices.Contains(sub.Events, e.typ) {
			continue
		}
		h.stats.Events++
		due := now
		if e.typ == "set.completed" && coalesce > 0 {
			// A set.completed waiting for its set takes the newer record.
			merged := false
			for _, q := range h.queue {
				if q.ev.Type == e.typ && q.ev.RecordID == e.id && q.attempt == 0 && q.due.After(now) {
					q.payload, merged = e.body, true
					h.stats.Coalesced++
					break
				}
			}
			if merged {
				continue
			}
			due = now.Add(coalesce)
		}
		h.queue = append(h.queue, &delivery{ev: WebhookEvent{ID: h.uuid(), Type: e.typ, RecordID: e.id}, payload: e.body, id: h.uuid(), due: due})
	}
}

// request is one POST ready to send.
type request struct {
	d     *delivery
	body  []byte
	hdr   http.Header
	fault string
	again bool // a replay or duplicate: not the delivery itself
}

// DeliverDue sends the deliveries due by the clock, Parallel at once, and
// returns once they are answered: an acknowledged one is done, a failed
// one waits for its next retry (dropped after the last), and a run of
// failures pauses the subscription, which then tries only its oldest
// delivery until one succeeds. It returns the attempts made.
func (s *Server) DeliverDue(ctx context.Context) []DeliveryAttempt {
	h := s.hooks
	h.mu.Lock()
	sub := h.sub
	if sub == nil {
		h.mu.Unlock()
		return nil
	}
	now := h.now()
	var due []*delivery
	var rest []*delivery
	for _, d := range h.queue {
		if !d.due.After(now) && (!sub.Paused || len(due) == 0) {
			due = append(due, d)
		} else {
			rest = append(rest, d)
		}
	}
	h.queue = rest
	var reqs []request
	for _, d := range due {
		reqs = append(reqs, h.prepare(sub, d, now)...)
	}
	client, parallel := h.o.Client, max(h.o.Parallel, 1)
	if h.o.Parallel == 0 {
		parallel = 4
	}
	h.mu.Unlock()
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}

	results := make([]DeliveryAttempt, len(reqs))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range reqs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i] = s.post(ctx, client, sub.URL, reqs[i])
		}()
	}
	wg.Wait()

	h.mu.Lock()
	defer h.mu.Unlock()
	for i, rq := range reqs {
		a := results[i]
		h.attempt = append(h.attempt, a)
		h.stats.Attempts++
		if a.OK() {
			h.stats.Delivered++
		} else {
			h.stats.Failed++
		}
		if rq.again {
			continue
		}
		d := rq.d
		if a.OK() {
			h.fails = 0
			sub.Paused = false
			continue
		}
		h.fails++
		pauseAfter := h.o.PauseAfter
		if pauseAfter == 0 {
			pauseAfter = DefaultPauseAfter
		}
		if h.fails >= pauseAfter {
			sub.Paused = true
		}
		retries := h.o.Retries
		if retries == nil {
			retries = DefaultRetries
		}
		if d.attempt >= len(retries) {
			h.stats.Dropped++
			continue
		}
		d.due = h.now().Add(retries[d.attempt])
		d.attempt++
		h.queue = append(h.queue, d)
	}
	return results
}

// prepare builds the requests of one delivery's attempt, the knobs
// applied. Callers hold h.mu.
func (h *hooks) prepare(sub *Subscription, d *delivery, now time.Time) []request {
	body := func(deliveryID string) []byte {
		b := []byte(`{"event_type":`)
		b = strconv.AppendQuote(b, d.ev.Type)
		b = append(b, `,"event_id":`...)
		b = strconv.AppendQuote(b, d.ev.ID)
		b = append(b, `,"source_version":1,"delivery_id":`...)
		b = strconv.AppendQuote(b, deliveryID)
		b = append(b, `,"payload":`...)
		b = append(b, d.payload...)
		return append(b, '}')
	}
	sign := func(b []byte, id string, t time.Time, secret string) http.Header {
		ts := strconv.FormatInt(t.Unix(), 10)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(ts + "."))
		m.Write(b)
		return http.Header{
			"Content-Type":          {"application/json"},
			"X-Plyomat-Event":       {d.ev.Type},
			"X-Plyomat-Delivery-Id": {id},
			"X-Plyomat-Timestamp":   {ts},
			"X-Plyomat-Signature":   {"t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))},
		}
	}
	b := body(d.id)
	at, secret, fault := now, sub.Secret, ""
	f := &h.faults
	switch {
	case f.BadSignature > 0:
		f.BadSignature--
		secret, fault = "whsec_forged", "bad_signature"
	case f.Stale > 0:
		f.Stale--
		at, fault = now.Add(-10*time.Minute), "stale"
	case f.Future > 0:
		f.Future--
		at, fault = now.Add(10*time.Minute), "future"
	}
	out := []request{{d: d, body: b, hdr: sign(b, d.id, at, secret), fault: fault}}
	if fault != "" {
		return out
	}
	if f.Replay > 0 {
		f.Replay--
		out = append(out, request{d: d, body: b, hdr: out[0].hdr, fault: "replay", again: true})
	}
	if f.Duplicate > 0 {
		f.Duplicate--
		id := h.uuid()
		b2 := body(id)
		out = append(out, request{d: d, body: b2, hdr: sign(b2, id, at, secret), fault: "duplicate", again: true})
	}
	return out
}

func (s *Server) post(ctx context.Context, c *http.Client, url string, rq request) DeliveryAttempt {
	a := DeliveryAttempt{EventID: rq.d.ev.ID, EventType: rq.d.ev.Type, RecordID: rq.d.ev.RecordID,
		DeliveryID: rq.hdr.Get("X-Plyomat-Delivery-Id"), Attempt: rq.d.attempt, Fault: rq.fault}
	start := time.Now()
	a.At = s.hooks.now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(rq.body))
	if err != nil {
		return a
	}
	req.Header = rq.hdr.Clone()
	req.Header.Set("User-Agent", "Plyomat-Webhooks/1.0 (sandbox)")
	resp, err := c.Do(req)
	a.Latency = time.Since(start)
	if err != nil {
		return a
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	a.Status = resp.StatusCode
	return a
}

// RunWebhooks delivers what is due every interval until ctx is done (the
// sandbox command and the demo; tests call DeliverDue on their clock).
func (s *Server) RunWebhooks(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.DeliverDue(ctx)
		}
	}
}
