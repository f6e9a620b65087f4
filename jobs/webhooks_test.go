package jobs

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/extract/plyomat/webhook"
	"github.com/athlake/athlake/internal/webhooktest"
	sbp "github.com/athlake/athlake/sandbox/plyomat"
)

const testWebhookSecret = "whsec_jobs_test_5f2c9e0a7d"

// hookClock is the sandbox deliveries' clock, moved by hand.
type hookClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *hookClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *hookClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// receiver is `athlake webhooks serve` running in the test on a loopback
// port, over lake l.
type receiver struct {
	url      string
	inflight atomic.Int64 // apply runs under way
	runs     atomic.Int64 // apply runs done
	stop     func()
}

func startReceiver(t *testing.T, l *lake, o WebhooksOptions) *receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rv := &receiver{url: "http://" + ln.Addr().String() + webhook.Path}
	o.Listener = ln
	if o.ApplyDelay == 0 {
		o.ApplyDelay = -1 // at once, unless the test says
	}
	if o.ApplyEvery == 0 {
		o.ApplyEvery = 200 * time.Millisecond
	}
	o.Applying = func() { rv.inflight.Add(1) }
	o.Applied = func(_ *Summary, err error) {
		if err != nil {
			t.Errorf("apply: %v", err)
		}
		rv.runs.Add(1)
		rv.inflight.Add(-1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeWebhooks(ctx, l.env(), l.cfg, o) }()
	var once sync.Once
	rv.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("webhooks serve: %v", err)
			}
		})
	}
	t.Cleanup(rv.stop)
	return rv
}

// spooled is how many deliveries wait in the lake's spool.
func spooled(t *testing.T, l *lake) int {
	t.Helper()
	st, err := openStore(context.Background(), l.env(), l.cfg)
	if err != nil {
		t.Fatal(err)
	}
	n, err := webhook.NewSpool(st, "plyomat").Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitApplied waits until the spool is empty and no apply run is under
// way (a run starts only when the spool holds something): the views are
// then up to date and the database free to read.
func (rv *receiver) waitApplied(t *testing.T, l *lake) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	// The spool is read first: a run that starts after it was found empty
	// finds nothing to apply.
	for spooled(t, l) != 0 || rv.inflight.Load() != 0 || rv.runs.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the spool still holds %d deliveries after 60 s (%d runs under way)", spooled(t, l), rv.inflight.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hooked is a Plyomat lake with a webhook secret, synced once, whose
// simulator delivers to a receiver.
func hooked(t *testing.T, o WebhooksOptions) (*lake, *receiver, *sbp.Server, *hookClock) {
	t.Helper()
	return hookLake(t, newHarness(t, 11), o)
}

// hookLake gives l a webhook secret, syncs it once and has its simulator
// deliver to a receiver.
func hookLake(t *testing.T, l *lake, o WebhooksOptions) (*lake, *receiver, *sbp.Server, *hookClock) {
	t.Helper()
	l.cfg.Sources.plyomat().WebhookSecret = testWebhookSecret
	l.sync()
	rv := startReceiver(t, l, o)
	p := l.sb.Plyomat
	clk := &hookClock{t: time.Now()}
	p.SetWebhookOptions(sbp.WebhookOptions{Now: clk.Now, Parallel: 4})
	p.Subscribe(rv.url, nil, testWebhookSecret)
	return l, rv, p, clk
}

// deliverAll sends what is due after the coalesce window and checks that
// every attempt was acknowledged.
func deliverAll(t *testing.T, p *sbp.Server, clk *hookClock) []sbp.DeliveryAttempt {
	t.Helper()
	clk.Add(sbp.DefaultCoalesce)
	as := p.DeliverDue(context.Background())
	for _, a := range as {
		if !a.OK() && a.Fault == "" {
			t.Fatalf("delivery refused: %+v", a)
		}
	}
	if st := p.WebhookStats(); st.Pending != refused(as) {
		t.Fatalf("%d deliveries pending, %d refused", st.Pending, refused(as))
	}
	return as
}

// post delivers body to the receiver at url, signed now, as the vendor
// would, and fails the test unless it is acknowledged.
func post(t *testing.T, url string, body []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(webhooktest.Request(url, []byte(testWebhookSecret), body))
	if err != nil {
		t.Fatalf("delivery: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("delivery answered %d", resp.StatusCode)
	}
}

func refused(as []sbp.DeliveryAttempt) int {
	n := 0
	for _, a := range as {
		if !a.OK() {
			n++
		}
	}
	return n
}

// The sandbox's deliveries reach the views through targeted pulls, within
// the latency target at the receiver's default settings; forged, stale and
// future ones are refused; replays and duplicates are stored once; the
// next sync agrees with the truth.
func TestWebhooksReachTheViews(t *testing.T) {
	t.Parallel()
	l, rv, p, clk := hooked(t, WebhooksOptions{ApplyDelay: DefaultApplyDelay, ApplyEvery: DefaultApplyEvery})
	rep := p.Advance(3 * time.Hour)
	if len(rep.NewSets) == 0 {
		t.Fatal("the advance made no set")
	}
	before := p.Stats().ByPath
	sent := time.Now()
	as := deliverAll(t, p, clk)
	rv.waitApplied(t, l)
	latency := time.Since(sent)
	t.Logf("%d deliveries acknowledged and in the views %s after they were sent (apply delay %s)", len(as), latency.Round(time.Millisecond), DefaultApplyDelay)
	if latency > 60*time.Second {
		t.Errorf("latency %s over the 60 s target", latency)
	}

	// Sets, reps, sessions and athletes (pulled records laid over the
	// snapshot): exactly the truth, before any sync.
	want := expected(p.Truth())
	for _, table := range []string{"sets", "reps", "sessions", "athletes"} {
		if d := rowsDiff(want[table], sortRows(l.viewRows(viewQueries[table]))); d != "" {
			t.Errorf("plyomat_%s after the webhooks differs from the truth:\n%s", table, d)
		}
	}
	// Targeted pulls: one GET per set or session, no list.
	after := p.Stats().ByPath
	for path, n := range after {
		if n > before[path] && !strings.HasPrefix(path, "/sets/") && !strings.HasPrefix(path, "/sessions/") && !strings.HasPrefix(path, "/athletes/") {
			t.Errorf("applying the webhooks requested %s", path)
		}
	}
	events := map[string]string{}
	for _, a := range as {
		events[a.EventID] = a.EventType
	}
	rows := l.query("SELECT event_id, event_type, action, record_id, delivery_id IS NOT NULL, payload->>'id' = record_id FROM plyomat_webhook_events")
	if len(rows) != len(events) {
		t.Fatalf("%d event rows, want %d", len(rows), len(events))
	}
	for _, r := range rows {
		wantAction := map[bool]string{true: "pulled", false: "recorded"}[strings.HasPrefix(r[1], "set.") || strings.HasPrefix(r[1], "session.") || strings.HasPrefix(r[1], "athlete.")]
		if events[r[0]] != r[1] || r[2] != wantAction || r[4] != "true" || r[5] != "true" {
			t.Errorf("event row %v (want type %s, action %s)", r, events[r[0]], wantAction)
		}
	}

	// Forged, stale and future deliveries are refused; replays and
	// duplicates acknowledged and stored once.
	p.SetWebhookFaults(sbp.WebhookFaults{BadSignature: 1, Stale: 1, Future: 1, Replay: 2, Duplicate: 2})
	p.Advance(2 * time.Hour)
	as = deliverAll(t, p, clk)
	good := map[string]bool{}
	for _, a := range as {
		switch a.Fault {
		case "bad_signature", "stale", "future":
			if a.Status != 401 {
				t.Errorf("%s delivery answered %d, want 401", a.Fault, a.Status)
			}
		default:
			if !a.OK() {
				t.Errorf("%s delivery answered %d", a.Fault, a.Status)
			}
			good[a.EventID] = true
		}
	}
	// The refused ones are retried (1 minute later) and then accepted.
	clk.Add(time.Minute)
	for _, a := range p.DeliverDue(context.Background()) {
		if !a.OK() {
			t.Errorf("retry answered %d", a.Status)
		}
		good[a.EventID] = true
	}
	rv.waitApplied(t, l)
	if got := l.query("SELECT count(*), count(DISTINCT event_id) FROM plyomat_webhook_events"); got[0][0] != got[0][1] || got[0][0] != i(len(events)+len(good)) {
		t.Errorf("event rows (all, distinct) = %v, want %d", got[0], len(events)+len(good))
	}
	want = expected(p.Truth())
	for _, table := range []string{"sets", "reps", "sessions", "athletes"} {
		if d := rowsDiff(want[table], sortRows(l.viewRows(viewQueries[table]))); d != "" {
			t.Errorf("plyomat_%s differs from the truth:\n%s", table, d)
		}
	}

	// Polling stays the source of truth: a sync makes every view exact.
	rv.stop()
	l.sync()
	l.assertExact(expected(p.Truth()))
	l.assertNoKeyDoubled()
	if strings.Contains(l.logs.String(), testWebhookSecret) {
		t.Error("the webhook secret is in the logs")
	}
}

// Without the applier, the next sync applies the spool first; a
// redelivery of an applied event is not applied again.
func TestSyncAppliesTheSpool(t *testing.T) {
	t.Parallel()
	l, rv, p, clk := hooked(t, WebhooksOptions{NoApply: true})
	p.Advance(2 * time.Hour)
	as := deliverAll(t, p, clk)
	if n := spooled(t, l); n == 0 || n > len(as) {
		t.Fatalf("%d spooled for %d deliveries", n, len(as))
	}
	sum := l.sync()
	if n := spooled(t, l); n != 0 {
		t.Fatalf("%d still spooled after the sync", n)
	}
	if sum.Rows["plyomat_webhook_events"] == 0 {
		t.Errorf("the sync wrote no event: %v", sum.Rows)
	}
	l.assertExact(expected(p.Truth()))
	// A redelivery of an applied event (the vendor retrying after a lost
	// answer) is spooled again, then removed without a second row.
	rows := l.query("SELECT count(*) FROM plyomat_webhook_events")
	a := as[0]
	body := []byte(`{"event_type":"` + a.EventType + `","event_id":"` + a.EventID + `","delivery_id":"again","payload":{"id":"` + a.RecordID + `"}}`)
	post(t, rv.url, body)
	if n := spooled(t, l); n != 1 {
		t.Fatalf("%d spooled after the redelivery, want 1", n)
	}
	l.sync()
	if n := spooled(t, l); n != 0 {
		t.Fatalf("%d still spooled after the sync", n)
	}
	if got := l.query("SELECT count(*) FROM plyomat_webhook_events"); got[0][0] != rows[0][0] {
		t.Errorf("%s event rows after the redelivery, want %s", got[0][0], rows[0][0])
	}

	// A rebuild from the raw responses (deliveries and targeted pulls
	// included) gives the same views.
	events := "SELECT event_id, event_type, delivery_id, source_version, signed_at, received_at, verified_at, CAST(payload AS VARCHAR), record_id, action FROM plyomat_webhook_events ORDER BY event_id"
	before := l.query(events)
	if _, err := Rebuild(context.Background(), l.env(), l.cfg, RebuildOptions{}); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	l.assertExact(expected(p.Truth()))
	if after := l.query(events); !slices.EqualFunc(before, after, slices.Equal) {
		t.Errorf("plyomat_webhook_events after a rebuild:\n%s", rowsDiff(before, after))
	}
}

// TestWebhooksOnS3: with the lake on a real S3-compatible server, a
// delivery is acknowledged once spooled in the bucket, a replay and a
// duplicate are stored once, and the events and targeted pulls are
// committed there: the views over the mirrored lake equal the truth, the
// spool is empty and no upload is left unfinished.
func TestWebhooksOnS3(t *testing.T) {
	t.Parallel()
	h, srv, bucket := newS3Harness(t, 11)
	l, rv, p, clk := hookLake(t, h, WebhooksOptions{})
	p.SetWebhookFaults(sbp.WebhookFaults{Replay: 1, Duplicate: 1})
	if rep := p.Advance(3 * time.Hour); len(rep.NewSets) == 0 {
		t.Fatal("the advance made no set")
	}
	as := deliverAll(t, p, clk)
	rv.waitApplied(t, l)
	rv.stop()
	events := map[string]bool{}
	for _, a := range as {
		events[a.EventID] = true
	}
	mirrorViews(t, l.env(), l.cfg, filepath.Join(l.dir, "mirror"), l.cfg.DuckDB)
	want := expected(p.Truth())
	for _, table := range []string{"sets", "reps", "sessions"} {
		if d := rowsDiff(want[table], sortRows(l.viewRows(viewQueries[table]))); d != "" {
			t.Errorf("plyomat_%s after the webhooks differs from the truth:\n%s", table, d)
		}
	}
	if got := l.query("SELECT count(*), count(DISTINCT event_id) FROM plyomat_webhook_events"); got[0][0] != got[0][1] || got[0][0] != i(len(events)) {
		t.Errorf("event rows (all, distinct) = %v, want %d", got[0], len(events))
	}
	if up := srv.Uploads(t, bucket); len(up) != 0 {
		t.Errorf("unfinished uploads: %v", up)
	}
}

// A base_url that reaches no Plyomat API answers 404 to every targeted
// pull: the run fails naming the key, the events stay spooled (none is
// recorded as gone), and once the URL is right they are applied.
func TestWebhooksWrongBaseURL(t *testing.T) {
	t.Parallel()
	l, _, p, clk := hooked(t, WebhooksOptions{NoApply: true})
	p.Advance(2 * time.Hour)
	deliverAll(t, p, clk)
	n := spooled(t, l)
	if n == 0 {
		t.Fatal("nothing spooled")
	}
	right := l.cfg.Sources.plyomat().BaseURL
	l.cfg.Sources.plyomat().BaseURL = right + "/nowhere"
	_, err := l.run(RunOptions{Command: "webhooks", Sources: []string{"plyomat"}, Run: connector.Run{Webhooks: true}})
	if err == nil || !strings.Contains(err.Error(), "sources.plyomat.base_url") {
		t.Fatalf("apply with a wrong base_url: %v, want an error naming sources.plyomat.base_url", err)
	}
	if got := spooled(t, l); got != n {
		t.Fatalf("%d spooled after the failed run, want the %d delivered", got, n)
	}
	l.cfg.Sources.plyomat().BaseURL = right
	l.sync()
	if got := spooled(t, l); got != 0 {
		t.Fatalf("%d still spooled after the sync", got)
	}
	if got := l.query("SELECT count(*) FILTER (action = 'gone'), count(*) FROM plyomat_webhook_events"); got[0][0] != "0" || got[0][1] == "0" {
		t.Errorf("event rows (gone, all) = %v, want none gone", got[0])
	}
	l.assertExact(expected(p.Truth()))
}

// Pulled athletes are laid over the athletes snapshot until a newer
// snapshot: a compaction drops the older snapshots and the records pulled
// before the newest, keeps those pulled after it, and the views stay
// exact throughout.
func TestWebhooksOverlayCompacted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _, p, clk := hooked(t, WebhooksOptions{NoApply: true})
	apply := func() {
		t.Helper()
		if _, err := l.run(RunOptions{Command: "webhooks", Sources: []string{"plyomat"}, Run: connector.Run{Webhooks: true}}); err != nil {
			t.Fatalf("applying the spool: %v", err)
		}
	}
	athletes := func(when string) {
		t.Helper()
		if d := rowsDiff(expected(p.Truth())["athletes"], sortRows(l.viewRows(viewQueries["athletes"]))); d != "" {
			t.Fatalf("plyomat_athletes %s differs from the truth:\n%s", when, d)
		}
	}
	p.Advance(2 * time.Hour) // a new athlete, another's weight
	deliverAll(t, p, clk)
	apply()
	athletes("after the pulls")
	l.sync() // a newer snapshot
	p.Advance(2 * time.Hour)
	deliverAll(t, p, clk)
	apply() // pulled after the newest snapshot
	athletes("after the second pulls")
	rep, err := Compact(ctx, l.env(), l.cfg, CompactOptions{Grace: -1, Tables: []string{"plyomat_athletes"}})
	if err != nil {
		t.Fatal(err)
	}
	// The first snapshot and the first pulls go; the rest is read.
	var dropped int
	for _, ct := range rep.Tables {
		if ct.Table == "plyomat_athletes" {
			dropped = ct.Replaced
		}
	}
	if dropped < 2 {
		t.Errorf("compaction replaced %d athletes files, want the first snapshot's and the first pulls'", dropped)
	}
	athletes("after the compaction") // Compact builds the views again
	l.sync()
	l.assertExact(expected(p.Truth()))
}

// An assessment event is applied from its payload (the vendor has no
// detail endpoint to pull one from): the record the payload carries is
// laid over the assessments snapshot until the next sync's, a rebuild
// gives the same, and no request is made for it.
func TestWebhooksAssessmentFromPayload(t *testing.T) {
	t.Parallel()
	l, rv, p, _ := hooked(t, WebhooksOptions{NoApply: true})
	a := p.Truth().Assessments[0]
	a.Score += 1.5
	a.UpdatedAt = a.UpdatedAt.Add(time.Hour)
	payload, err := a.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"event_type":"assessment.updated","event_id":"evt-assessment-1","source_version":1,"delivery_id":"dl-1","payload":` + string(payload) + `}`)
	post(t, rv.url, body)
	before := p.Stats().ByPath
	if _, err := l.run(RunOptions{Command: "webhooks", Sources: []string{"plyomat"}, Run: connector.Run{Webhooks: true}}); err != nil {
		t.Fatalf("applying the spool: %v", err)
	}
	for path, n := range p.Stats().ByPath {
		if n > before[path] {
			t.Errorf("applying an assessment event requested %s", path)
		}
	}
	score := func() [][]string {
		return l.query("SELECT score, (SELECT count(*) FROM plyomat_assessments) FROM plyomat_assessments WHERE id = '" + a.ID + "'")
	}
	applied := score()
	if want := [][]string{{f(a.Score), i(len(p.Truth().Assessments))}}; !slices.EqualFunc(applied, want, slices.Equal) {
		t.Errorf("the assessment and the count of assessments after the event: %v, want %v", applied, want)
	}
	if got := l.query("SELECT action, record_id FROM plyomat_webhook_events WHERE event_id = 'evt-assessment-1'"); len(got) != 1 || got[0][0] != "applied" || got[0][1] != a.ID {
		t.Errorf("event row %v, want applied %s", got, a.ID)
	}
	if _, err := Rebuild(context.Background(), l.env(), l.cfg, RebuildOptions{}); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	if got := score(); !slices.EqualFunc(got, applied, slices.Equal) {
		t.Errorf("after a rebuild: %v, want %v", got, applied)
	}
	// The next snapshot is the vendor's word again.
	l.sync()
	l.assertExact(expected(p.Truth()))
}
