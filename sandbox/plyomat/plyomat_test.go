package plyomat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/athlake/athlake/sandbox/internal/fault"
	"github.com/athlake/athlake/sandbox/internal/order"
	"github.com/athlake/athlake/sandbox/internal/pathseg"
	"github.com/athlake/athlake/sandbox/internal/scale"
	"github.com/athlake/athlake/sandbox/internal/simtest"
)

const (
	testKey = "pk_test_0123456789abcdef"
	prefix  = "/plyomat/v1"
)

// fixture is a server mounted the way the sandbox mounts it.
type fixture struct {
	t   *testing.T
	s   *Server
	srv *httptest.Server
}

func newFixture(t *testing.T, seed int64) *fixture {
	t.Helper()
	s := New(Options{Seed: seed, Scale: scale.Small, APIKey: testKey})
	return &fixture{t: t, s: s, srv: simtest.Mount(t, prefix, s)}
}

// get requests path (relative to the API base, with its query) with the
// key.
func (f *fixture) get(path string) simtest.Reply {
	f.t.Helper()
	return f.do(http.MethodGet, path, "Bearer "+testKey)
}

func (f *fixture) do(method, path, auth string) simtest.Reply {
	f.t.Helper()
	req := simtest.Request(f.t, method, f.srv.URL+prefix+path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return simtest.Do(f.t, f.srv.Client(), req)
}

type envelope struct {
	Data    []json.RawMessage `json:"data"`
	Total   int               `json:"total"`
	Limit   int               `json:"limit"`
	Offset  int               `json:"offset"`
	HasMore bool              `json:"has_more"`
}

func (f *fixture) list(path string) envelope {
	f.t.Helper()
	r := f.get(path)
	if r.Status != http.StatusOK {
		f.t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
	}
	var env envelope
	if err := json.Unmarshal(r.Body, &env); err != nil {
		f.t.Fatalf("GET %s: %v", path, err)
	}
	return env
}

// all pages through a list endpoint and decodes every record into T.
func all[T any](f *fixture, path string, pageSize int) []T {
	f.t.Helper()
	var out []T
	total := -1
	for offset := 0; ; {
		env := f.list(simtest.AddQuery(path, fmt.Sprintf("limit=%d&offset=%d", pageSize, offset)))
		if total >= 0 && env.Total != total {
			f.t.Fatalf("%s: total changed from %d to %d while paging", path, total, env.Total)
		}
		total = env.Total
		for _, raw := range env.Data {
			var x T
			if err := json.Unmarshal(raw, &x); err != nil {
				f.t.Fatalf("%s: %v in %s", path, err, raw)
			}
			out = append(out, x)
		}
		offset += len(env.Data)
		if want := offset < total; env.HasMore != want {
			f.t.Fatalf("%s offset %d: has_more = %v, want %v", path, offset, env.HasMore, want)
		}
		if !env.HasMore {
			break
		}
	}
	if len(out) != total {
		f.t.Fatalf("%s: got %d records, total says %d", path, len(out), total)
	}
	return out
}

func ids[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}

func setID(s Set) string         { return s.ID }
func sessionID(s Session) string { return s.ID }
func athleteID(a Athlete) string { return a.ID }

// apiOrder sorts like the API: created_at, then id.
func apiOrder[T any](xs []T, key func(T) (time.Time, string)) []T {
	xs = slices.Clone(xs)
	slices.SortFunc(xs, func(a, b T) int {
		at, aid := key(a)
		bt, bid := key(b)
		return order.TimeThenID(at, aid, bt, bid)
	})
	return xs
}

func setKey(s Set) (time.Time, string)         { return s.CreatedAt, s.ID }
func sessionKey(s Session) (time.Time, string) { return s.CreatedAt, s.ID }
func athleteKey(a Athlete) (time.Time, string) { return a.CreatedAt, a.ID }

func TestDeterministic(t *testing.T) {
	paths := []string{
		"/athletes", "/groups", "/devices", "/assessments", "/org/members?include_archived=true",
		"/sessions?limit=500", "/sets?limit=500", "/sets?limit=500&offset=200",
		"/sets?since=2026-05-20T00:00:00Z",
	}
	fetch := func(f *fixture) []string {
		var out []string
		for _, p := range paths {
			r := f.get(p)
			out = append(out, r.Header.Get("Date")+"\n"+string(r.Body))
		}
		return out
	}
	simtest.Deterministic(t, newFixture(t, 7), newFixture(t, 7), newFixture(t, 8), fetch,
		func(f *fixture) any { return f.s.Advance(36 * time.Hour) },
		func(f *fixture) any { return f.s.Truth() })
}

func TestVolumesAndShapes(t *testing.T) {
	d := New(Options{Seed: 1, Scale: scale.Small, APIKey: testKey}).Truth()
	reps := 0
	for _, s := range d.Sets {
		reps += len(s.Reps)
	}
	if len(d.Athletes) != 20 || len(d.Groups) != 3 || len(d.Devices) != 3 || reps < 1000 || reps > 10000 {
		t.Errorf("small: %d athletes, %d groups, %d devices, %d reps", len(d.Athletes), len(d.Groups), len(d.Devices), reps)
	}
	var archived, owners int
	for _, m := range d.OrgMembers {
		if m.Archived != (m.ArchivedAt != nil) {
			t.Errorf("member %s: archived %v, archived_at %v", m.ID, m.Archived, m.ArchivedAt)
		}
		if m.Archived {
			archived++
		}
		if m.Role == "owner" {
			owners++
		}
	}
	if archived < 1 || archived > 2 || owners != 1 {
		t.Errorf("%d archived members, %d owners", archived, owners)
	}
	perAthlete := map[string]int{}
	for _, m := range d.Memberships {
		perAthlete[m.AthleteID]++
	}
	for id, n := range perAthlete {
		if n > 2 {
			t.Errorf("athlete %s in %d groups", id, n)
		}
	}
	var whole, fractional int
	for _, a := range d.Athletes {
		if a.BodyWeightKg == math.Trunc(a.BodyWeightKg) {
			whole++
		} else {
			fractional++
		}
	}
	if whole == 0 || fractional == 0 {
		t.Errorf("body weights: %d whole, %d fractional; want both", whole, fractional)
	}
	start, _ := time.Parse(time.RFC3339, DefaultStart)
	for _, s := range d.Sessions {
		if !s.StartedAt.Before(start) || s.StartedAt.Before(start.Add(-121*24*time.Hour)) || s.UpdatedAt.Before(s.CreatedAt) || s.CreatedAt.After(start) {
			t.Errorf("session %s: started %v, created %v, updated %v", s.ID, s.StartedAt, s.CreatedAt, s.UpdatedAt)
		}
	}
}

// TestWireIsTruth reads every resource through the API and compares it
// with the truth, value by value.
func TestWireIsTruth(t *testing.T) {
	f := newFixture(t, 3)
	truth := f.s.Truth()
	check := func(name string, got, want any) {
		t.Helper()
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s: wire differs from truth (-truth +wire):\n%s", name, d)
		}
	}
	check("athletes", all[Athlete](f, "/athletes", 7), apiOrder(truth.Athletes, athleteKey))
	check("groups", all[Group](f, "/groups", 2), truth.Groups)
	check("devices", all[Device](f, "/devices", 500), truth.Devices)
	check("sessions", all[Session](f, "/sessions", 50), apiOrder(truth.Sessions, sessionKey))
	check("sets", all[Set](f, "/sets", 500), apiOrder(truth.Sets, setKey))
	check("assessments", all[Assessment](f, "/assessments", 500), truth.Assessments)
	check("org members", all[OrgMember](f, "/org/members?include_archived=true", 500), truth.OrgMembers)

	// Detail endpoints serve the bare record.
	var got Set
	want := truth.Sets[5]
	if err := json.Unmarshal(f.get("/sets/"+want.ID).Body, &got); err != nil {
		t.Fatal(err)
	}
	check("set detail", got, want)
	for _, path := range []string{"/athletes/" + truth.Athletes[0].ID, "/groups/" + truth.Groups[0].ID, "/devices/" + truth.Devices[0].ID, "/sessions/" + truth.Sessions[0].ID} {
		r := f.get(path)
		if r.Status != http.StatusOK || !json.Valid(r.Body) || strings.HasPrefix(string(r.Body), `{"data"`) {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Body)
		}
	}

	// Wire format details: millisecond UTC times, nulls kept, nested
	// calibration.
	raw := f.get("/sets/" + want.ID).Body
	var m map[string]any
	json.Unmarshal(raw, &m)
	if ts, _ := m["created_at"].(string); len(ts) != len("2026-05-03T09:12:45.123Z") || !strings.HasSuffix(ts, "Z") {
		t.Errorf("created_at = %q, want RFC 3339 UTC with milliseconds", m["created_at"])
	}
	for _, k := range []string{"id", "session_id", "athlete_id", "mode", "drop_height_cm", "started_at", "created_at", "updated_at", "reps"} {
		if _, ok := m[k]; !ok {
			t.Errorf("set lacks %q: %s", k, raw)
		}
	}
	var dev map[string]any
	json.Unmarshal(f.get("/devices/"+truth.Devices[0].ID).Body, &dev)
	if cal, ok := dev["calibration"].(map[string]any); !ok || cal["checked_at"] == nil {
		t.Errorf("device calibration = %#v", dev["calibration"])
	}
}

func TestPaging(t *testing.T) {
	f := newFixture(t, 4)
	truth := f.s.Truth()
	want := ids(apiOrder(truth.Sets, setKey), setID)
	for _, size := range []int{37, 100, 500} {
		if d := cmp.Diff(want, ids(all[Set](f, "/sets", size), setID)); d != "" {
			t.Errorf("page size %d: ids differ:\n%s", size, d)
		}
	}
	env := f.list("/sets")
	if env.Limit != DefaultLimit || env.Offset != 0 || len(env.Data) != DefaultLimit || env.Total != len(want) || !env.HasMore {
		t.Errorf("default page: limit %d offset %d rows %d total %d has_more %v", env.Limit, env.Offset, len(env.Data), env.Total, env.HasMore)
	}
	env = f.list("/sets?limit=100000")
	if env.Limit != MaxLimit || len(env.Data) != min(MaxLimit, len(want)) {
		t.Errorf("limit=100000: limit %d, %d rows; want clamped to %d", env.Limit, len(env.Data), MaxLimit)
	}
	env = f.list(fmt.Sprintf("/sets?offset=%d", len(want)+10))
	if len(env.Data) != 0 || env.HasMore || env.Total != len(want) {
		t.Errorf("offset past the end: %d rows, has_more %v, total %d", len(env.Data), env.HasMore, env.Total)
	}
	env = f.list(fmt.Sprintf("/sets?offset=%d&limit=5", len(want)-3))
	if len(env.Data) != 3 || env.HasMore {
		t.Errorf("last page: %d rows, has_more %v", len(env.Data), env.HasMore)
	}
	if r := f.get("/sets?offset=9223372036854775807&limit=500"); r.Status != http.StatusOK {
		t.Errorf("huge offset: %d %s", r.Status, r.Body)
	}
	for _, q := range []string{"limit=0", "limit=-1", "limit=abc", "limit=1.5", "limit=", "offset=-1", "offset=x", "since=yesterday", "since=2026-05-01"} {
		r := f.get("/sets?" + q)
		if r.Status != http.StatusBadRequest || errCode(r.Body) != "bad_request" {
			t.Errorf("GET /sets?%s: %d %s; want 400 bad_request", q, r.Status, r.Body)
		}
	}
}

func errCode(body []byte) string {
	var e struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(body, &e) != nil || e.Error.Message == "" {
		return "(not an error body: " + string(body) + ")"
	}
	return e.Error.Code
}

func TestFilters(t *testing.T) {
	f := newFixture(t, 5)
	truth := f.s.Truth()

	// since is inclusive, on created_at or updated_at, at an exact stamp.
	exact := time.Date(2026, 5, 30, 12, 0, 0, 0, time.UTC)
	var target string
	f.s.Mutate(func(d *Dataset) {
		s := &d.Sets[0]
		s.UpdatedAt = exact
		target = s.ID
	})
	truth = f.s.Truth()
	for _, since := range []string{"2026-05-30T12:00:00Z", "2026-05-30T12:00:00.000Z", "2026-05-30T14:00:00+02:00", "2026-05-30T11:59:59.999999999Z"} {
		got := ids(all[Set](f, "/sets?since="+url.QueryEscape(since), 500), setID)
		if !slices.Contains(got, target) {
			t.Errorf("since=%s misses the set updated at exactly %v", since, exact)
		}
		var want []string
		for _, s := range apiOrder(truth.Sets, setKey) {
			if !s.CreatedAt.Before(exact) || !s.UpdatedAt.Before(exact) {
				want = append(want, s.ID)
			}
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("since=%s:\n%s", since, d)
		}
	}
	if got := ids(all[Set](f, "/sets?since=2026-05-30T12:00:00.001Z", 500), setID); slices.Contains(got, target) {
		t.Error("since one millisecond after updated_at still selects the set")
	}
	var wantSessions []string
	since := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, s := range apiOrder(truth.Sessions, sessionKey) {
		if !s.CreatedAt.Before(since) || !s.UpdatedAt.Before(since) {
			wantSessions = append(wantSessions, s.ID)
		}
	}
	if d := cmp.Diff(wantSessions, ids(all[Session](f, "/sessions?since=2026-05-01T00:00:00Z", 100), sessionID)); d != "" || len(wantSessions) == 0 {
		t.Errorf("sessions since (%d wanted):\n%s", len(wantSessions), d)
	}

	// athlete_id, session_id, mode.
	a := truth.Athletes[3].ID
	sess := truth.Sets[10].SessionID
	var byAthlete, bySession, byMode, byAthleteMode []string
	var athleteSessions []string
	for _, s := range apiOrder(truth.Sets, setKey) {
		if s.AthleteID == a {
			byAthlete = append(byAthlete, s.ID)
			if s.Mode == "rebound" {
				byAthleteMode = append(byAthleteMode, s.ID)
			}
		}
		if s.SessionID == sess {
			bySession = append(bySession, s.ID)
		}
		if s.Mode == "drop_jump" {
			byMode = append(byMode, s.ID)
		}
	}
	for _, s := range apiOrder(truth.Sessions, sessionKey) {
		if s.AthleteID == a {
			athleteSessions = append(athleteSessions, s.ID)
		}
	}
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/sets?athlete_id=" + a, byAthlete},
		{"/sets?session_id=" + sess, bySession},
		{"/sets?mode=drop_jump", byMode},
		{"/sets?athlete_id=" + a + "&mode=rebound", byAthleteMode},
		{"/sets?athlete_id=nobody", nil},
	} {
		if d := cmp.Diff(c.want, ids(all[Set](f, c.path, 500), setID), cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s:\n%s", c.path, d)
		}
	}
	if d := cmp.Diff(athleteSessions, ids(all[Session](f, "/sessions?athlete_id="+a, 500), sessionID)); d != "" {
		t.Errorf("sessions of an athlete:\n%s", d)
	}

	// group_id.
	for _, g := range truth.Groups {
		members := map[string]bool{}
		for _, m := range truth.Memberships {
			if m.GroupID == g.ID {
				members[m.AthleteID] = true
			}
		}
		var want []string
		for _, a := range apiOrder(truth.Athletes, athleteKey) {
			if members[a.ID] {
				want = append(want, a.ID)
			}
		}
		if d := cmp.Diff(want, ids(all[Athlete](f, "/athletes?group_id="+g.ID, 500), athleteID)); d != "" || len(want) == 0 {
			t.Errorf("group %s (%d members):\n%s", g.Name, len(want), d)
		}
	}

	// include_archived.
	var active, everyone int
	for _, m := range truth.OrgMembers {
		everyone++
		if !m.Archived {
			active++
		}
	}
	if got := f.list("/org/members").Total; got != active {
		t.Errorf("org members by default: %d, want the %d active ones", got, active)
	}
	if got := f.list("/org/members?include_archived=false").Total; got != active {
		t.Errorf("org members include_archived=false: %d, want %d", got, active)
	}
	if got := f.list("/org/members?include_archived=true").Total; got != everyone || everyone == active {
		t.Errorf("org members with archived: %d, want %d (active %d)", got, everyone, active)
	}
}

func TestAuthAndErrors(t *testing.T) {
	f := newFixture(t, 6)
	for _, auth := range []string{"", "Bearer wrong", "Basic " + testKey, testKey, "Bearer " + testKey + "x"} {
		r := f.do(http.MethodGet, "/athletes", auth)
		if r.Status != http.StatusUnauthorized || errCode(r.Body) != "unauthorized" {
			t.Errorf("auth %q: %d %s", auth, r.Status, r.Body)
		}
		if strings.Contains(string(r.Body), testKey) || strings.Contains(string(r.Body), "wrong") {
			t.Errorf("auth %q: the 401 echoes the key: %s", auth, r.Body)
		}
	}
	if r := f.do(http.MethodGet, "/athletes", "bearer "+testKey); r.Status != http.StatusOK {
		t.Errorf("lower-case scheme: %d", r.Status)
	}
	if r := f.do(http.MethodGet, "/athletes", "Bearer "+testKey); r.Status != http.StatusOK {
		t.Errorf("good key: %d", r.Status)
	}
	noKey := New(Options{Seed: 1})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/athletes", nil)
	req.Header.Set("Authorization", "Bearer ")
	noKey.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("server without a key accepted an empty bearer: %d", rec.Code)
	}

	// Requests by the answer they get.
	for _, c := range []struct {
		status int
		code   string
		reqs   []string // "METHOD path"
	}{
		{404, "not_found", []string{"GET /athletes/no-such-athlete", "GET /sets/no-such-set", "GET /sessions/x", "GET /groups/x",
			"GET /devices/x", "GET /assessments/x", "GET /nothing", "GET /athletes/", "GET /org", "GET /org/members/x"}},
		{405, "method_not_allowed", []string{"POST /athletes", "DELETE /sets/x", "PUT /org/members"}},
	} {
		for _, req := range c.reqs {
			method, path, _ := strings.Cut(req, " ")
			r := f.do(method, path, "Bearer "+testKey)
			if r.Status != c.status || errCode(r.Body) != c.code {
				t.Errorf("%s: %d %s; want %d %s", req, r.Status, r.Body, c.status, c.code)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: Content-Type %q", req, ct)
			}
		}
	}

	// The Date header is the virtual clock.
	r := f.get("/groups")
	if got, want := r.Header.Get("Date"), f.s.Now().Format(http.TimeFormat); got != want {
		t.Errorf("Date = %q, want the virtual clock %q", got, want)
	}
	f.s.Advance(90 * time.Minute)
	r = f.get("/groups")
	if got, want := r.Header.Get("Date"), "Mon, 01 Jun 2026 01:30:00 GMT"; got != want {
		t.Errorf("Date after Advance = %q, want %q", got, want)
	}
}

func TestPhysics(t *testing.T) {
	f := newFixture(t, 9)
	f.s.Advance(48 * time.Hour) // edited reps must stay consistent too
	sets := all[Set](f, "/sets", 500)
	var reps, dropped int
	modes := map[string]int{}
	for _, s := range sets {
		modes[s.Mode]++
		if (s.Mode == "drop_jump") != (s.DropHeightCm != nil) {
			t.Errorf("set %s (%s): drop_height_cm %v", s.ID, s.Mode, s.DropHeightCm)
		}
		if s.DropHeightCm != nil && !slices.Contains([]float64{20, 30, 40, 60}, *s.DropHeightCm) {
			t.Errorf("set %s: drop height %v", s.ID, *s.DropHeightCm)
		}
		if len(s.Reps) == 0 {
			t.Errorf("set %s has no reps", s.ID)
		}
		for i, r := range s.Reps {
			reps++
			ft := float64(r.FlightTimeMs) / 1000
			if r.FlightTimeMs < 300 || r.FlightTimeMs > 650 || math.Abs(r.JumpHeightCm-9.81*ft*ft/8*100) > 0.01 {
				t.Errorf("set %s rep %d: flight %d ms, height %v cm", s.ID, r.RepIndex, r.FlightTimeMs, r.JumpHeightCm)
			}
			reactive := s.Mode == "drop_jump" || s.Mode == "rebound"
			if reactive != (r.ContactTimeMs != nil) || (r.ContactTimeMs == nil) != (r.RSI == nil) {
				t.Errorf("set %s (%s) rep %d: contact %v, rsi %v", s.ID, s.Mode, r.RepIndex, r.ContactTimeMs, r.RSI)
			}
			if r.ContactTimeMs != nil {
				if *r.ContactTimeMs < 140 || *r.ContactTimeMs > 350 {
					t.Errorf("set %s rep %d: contact %d ms", s.ID, r.RepIndex, *r.ContactTimeMs)
				}
				if want := (r.JumpHeightCm / 100) / (float64(*r.ContactTimeMs) / 1000); math.Abs(*r.RSI-want) > 0.005+1e-9 {
					t.Errorf("set %s rep %d: rsi %v, want %v", s.ID, r.RepIndex, *r.RSI, want)
				}
			}
			if !slices.Contains([]string{"left", "right", "both"}, r.Side) {
				t.Errorf("set %s rep %d: side %q", s.ID, r.RepIndex, r.Side)
			}
			if !r.IsKept {
				dropped++
			}
			if r.CapturedAt.Before(s.StartedAt) || r.CapturedAt.After(s.CreatedAt) {
				t.Errorf("set %s rep %d: captured %v outside the set (%v – %v)", s.ID, r.RepIndex, r.CapturedAt, s.StartedAt, s.CreatedAt)
			}
			if i > 0 && (r.RepIndex <= s.Reps[i-1].RepIndex || !r.CapturedAt.After(s.Reps[i-1].CapturedAt)) {
				t.Errorf("set %s: rep %d after rep %d", s.ID, r.RepIndex, s.Reps[i-1].RepIndex)
			}
		}
	}
	if len(modes) != 4 {
		t.Errorf("modes = %v", modes)
	}
	if share := float64(dropped) / float64(reps); share < 0.05 || share > 0.15 {
		t.Errorf("%d of %d reps not kept (%.0f%%), want about 10%%", dropped, reps, share*100)
	}
}

func TestAdvance(t *testing.T) {
	f := newFixture(t, 10)
	before := f.s.Truth()
	start := f.s.Now()
	since := url.QueryEscape(start.Format(time.RFC3339Nano))
	if n := f.list("/sets?since=" + since).Total; n != 0 {
		t.Fatalf("%d sets changed at or after the start", n)
	}
	rep := f.s.Advance(36 * time.Hour)
	t.Logf("%+v", rep)
	simtest.Window(t, 36*time.Hour, start, rep.From, rep.To, f.s.Now())
	if len(rep.NewSessions) < 3 || len(rep.NewSets) < 3 || rep.NewReps < 9 || len(rep.UpdatedSets) < 3 || rep.EditedReps < 3 || rep.RemovedReps < 1 ||
		len(rep.UpdatedAthletes) != 1 || len(rep.NewAthletes) != 1 || len(rep.RemovedDevices) != 1 {
		t.Errorf("report: %+v", rep)
	}

	// since returns exactly the new and the updated sets, and the new
	// sessions.
	want := append(slices.Clone(rep.NewSets), rep.UpdatedSets...)
	slices.Sort(want)
	got := ids(all[Set](f, "/sets?since="+since, 500), setID)
	slices.Sort(got)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("sets since the old now:\n%s", d)
	}
	gotSessions := ids(all[Session](f, "/sessions?since="+since, 500), sessionID)
	slices.Sort(gotSessions)
	if d := cmp.Diff(slices.Sorted(slices.Values(rep.NewSessions)), gotSessions); d != "" {
		t.Errorf("sessions since the old now:\n%s", d)
	}

	after := f.s.Truth()
	old := map[string]Set{}
	for _, s := range before.Sets {
		old[s.ID] = s
	}
	gaps := 0
	for _, id := range rep.UpdatedSets {
		var s Set
		json.Unmarshal(f.get("/sets/"+url.PathEscape(id)).Body, &s)
		if !s.UpdatedAt.After(start) || s.UpdatedAt.After(f.s.Now()) {
			t.Errorf("updated set %s: updated_at %v outside the window", id, s.UpdatedAt)
		}
		if cmp.Equal(s.Reps, old[id].Reps) {
			t.Errorf("updated set %s: reps unchanged", id)
		}
		for i, r := range s.Reps {
			if r.RepIndex != i {
				gaps++
				break
			}
		}
	}
	if gaps != rep.RemovedReps {
		t.Errorf("%d sets with a gap in rep_index, %d reps removed", gaps, rep.RemovedReps)
	}
	for _, id := range rep.NewSets {
		var s Set
		json.Unmarshal(f.get("/sets/"+id).Body, &s)
		if !s.CreatedAt.After(start) || s.UpdatedAt.After(f.s.Now()) || len(s.Reps) < 3 {
			t.Errorf("new set %s: created %v, updated %v, %d reps", id, s.CreatedAt, s.UpdatedAt, len(s.Reps))
		}
	}
	if r := f.get("/devices/" + rep.RemovedDevices[0]); r.Status != http.StatusNotFound {
		t.Errorf("removed device: %d", r.Status)
	}
	if devs := ids(all[Device](f, "/devices", 500), func(d Device) string { return d.ID }); slices.Contains(devs, rep.RemovedDevices[0]) {
		t.Error("removed device still listed")
	}
	var athlete Athlete
	json.Unmarshal(f.get("/athletes/"+rep.UpdatedAthletes[0]).Body, &athlete)
	for _, a := range before.Athletes {
		if a.ID == athlete.ID && (a.BodyWeightKg == athlete.BodyWeightKg || !athlete.UpdatedAt.After(start)) {
			t.Errorf("athlete %s: weight %v -> %v, updated %v", a.ID, a.BodyWeightKg, athlete.BodyWeightKg, athlete.UpdatedAt)
		}
	}
	if r := f.get("/athletes/" + rep.NewAthletes[0]); r.Status != http.StatusOK {
		t.Errorf("new athlete: %d", r.Status)
	}
	if len(after.Athletes) != len(before.Athletes)+1 {
		t.Errorf("%d athletes after, %d before", len(after.Athletes), len(before.Athletes))
	}

	// Nothing moves without Advance; a non-positive Advance is a no-op.
	if r := f.s.Advance(0); len(r.NewSets) != 0 || !f.s.Now().Equal(start.Add(36*time.Hour)) {
		t.Errorf("Advance(0) = %+v", r)
	}
	if d := cmp.Diff(after, f.s.Truth()); d != "" {
		t.Errorf("Advance(0) changed the data:\n%s", d)
	}
	// A short window updates but makes no sessions (they last up to an hour).
	short := f.s.Advance(10 * time.Minute)
	if len(short.NewSessions) != 0 || len(short.UpdatedSets) == 0 {
		t.Errorf("Advance(10m) = %+v", short)
	}
}

func TestTruthIsACopyAndMutateReindexes(t *testing.T) {
	f := newFixture(t, 11)
	tr := f.s.Truth()
	id := tr.Sets[0].ID
	poked := 0
	for i := range tr.Sets {
		for j := range tr.Sets[i].Reps {
			if p := tr.Sets[i].Reps[j].ContactTimeMs; p != nil {
				*p = -1
				poked++
			}
		}
	}
	tr.Sets[0].Reps[0].FlightTimeMs = 1
	tr.Athletes[0].FirstName = "changed"
	for _, s := range f.s.Truth().Sets {
		for _, r := range s.Reps {
			if r.ContactTimeMs != nil && *r.ContactTimeMs == -1 {
				t.Fatal("editing the truth's pointers changed the server")
			}
		}
	}
	if poked == 0 || f.s.Truth().Athletes[0].FirstName == "changed" || f.s.Truth().Sets[0].Reps[0].FlightTimeMs == 1 {
		t.Error("editing the truth changed the server")
	}

	// Mutate: a late set, a removed rep, a sub-millisecond stamp.
	late := time.Date(2026, 5, 31, 23, 50, 0, 123456789, time.UTC)
	f.s.Mutate(func(d *Dataset) {
		s := d.Sets[1]
		s.ID = "late-set-0001"
		s.CreatedAt, s.UpdatedAt = late, late
		s.Reps = append([]Rep(nil), s.Reps[1:]...)
		d.Sets = append(d.Sets, s)
		d.Sets[0].Reps = d.Sets[0].Reps[:1]
	})
	var s Set
	r := f.get("/sets/late-set-0001")
	if err := json.Unmarshal(r.Body, &s); err != nil || r.Status != 200 {
		t.Fatalf("late set: %d %s", r.Status, r.Body)
	}
	if want := late.Truncate(time.Millisecond); !s.CreatedAt.Equal(want) || s.Reps[0].RepIndex != 1 {
		t.Errorf("late set: created %v (want %v), first rep index %d", s.CreatedAt, want, s.Reps[0].RepIndex)
	}
	truth := f.s.Truth()
	if d := cmp.Diff(truth.Sets[len(truth.Sets)-1], s); d != "" {
		t.Errorf("truth and wire differ after Mutate:\n%s", d)
	}
	if got := f.list("/sets?since=2026-05-31T23:50:00.123Z"); got.Total != 1 {
		t.Errorf("since the late stamp: %d sets", got.Total)
	}
	json.Unmarshal(f.get("/sets/"+id).Body, &s)
	if len(s.Reps) != 1 {
		t.Errorf("set %s has %d reps after Mutate kept 1", id, len(s.Reps))
	}
}

func TestOverrides(t *testing.T) {
	f := newFixture(t, 12)
	var setID string
	f.s.Mutate(func(d *Dataset) {
		s := &d.Sets[2]
		setID = s.ID
		s.Reps[1].Overrides = map[string]any{"jump_height_cm": "abc", "velocity_mps": 2.5}
		s.Overrides = map[string]any{"started_at": 1714726365, "vendor_extra": map[string]any{"a": []any{1, "x"}}, "mode": Omit{}}
		d.Athletes[0].Overrides = map[string]any{"body_weight_kg": nil}
	})
	var m map[string]any
	json.Unmarshal(f.get("/sets/"+setID).Body, &m)
	if m["started_at"] != 1714726365.0 || !cmp.Equal(m["vendor_extra"], map[string]any{"a": []any{1.0, "x"}}) {
		t.Errorf("set overrides not on the wire: %v", m)
	}
	if _, ok := m["mode"]; ok {
		t.Error("an Omit override left the field in place")
	}
	rep := m["reps"].([]any)[1].(map[string]any)
	if rep["jump_height_cm"] != "abc" || rep["velocity_mps"] != 2.5 || rep["flight_time_ms"] == nil {
		t.Errorf("rep overrides not on the wire: %v", rep)
	}
	// The same through the list endpoint.
	env := f.list("/sets?limit=500")
	found := false
	for _, raw := range env.Data {
		if strings.Contains(string(raw), `"jump_height_cm":"abc"`) && strings.Contains(string(raw), `"vendor_extra":{"a":[1,"x"]}`) {
			found = true
		}
	}
	if !found {
		t.Error("overrides missing from the list response")
	}
	var a map[string]any
	json.Unmarshal(f.get("/athletes/"+f.s.Truth().Athletes[0].ID).Body, &a)
	if v, ok := a["body_weight_kg"]; !ok || v != nil {
		t.Errorf("body_weight_kg override to null: %v, %v", v, ok)
	}
	// Overrides are not part of json's view of the truth's fields, but
	// MarshalJSON renders the wire form.
	b, _ := json.Marshal(f.s.Truth().Sets[2])
	if !strings.Contains(string(b), `"jump_height_cm":"abc"`) {
		t.Errorf("MarshalJSON ignores overrides: %s", b)
	}
}

func TestHostileIDs(t *testing.T) {
	f := newFixture(t, 13)
	got := f.s.AddHostileIDs()
	if !cmp.Equal(got, HostileIDs()) || !slices.ContainsFunc(got, func(id string) bool { return len(id) == 300 }) {
		t.Fatalf("hostile ids = %q", got)
	}
	truth := f.s.Truth()
	inGroup := ids(all[Athlete](f, "/athletes?group_id="+url.QueryEscape(truth.Groups[0].ID), 500), athleteID)
	for _, id := range got {
		for _, res := range []string{"athletes", "groups", "devices", "sessions", "sets"} {
			r := f.get("/" + res + "/" + pathseg.Escape(id))
			var rec struct{ ID string }
			if r.Status != http.StatusOK || json.Unmarshal(r.Body, &rec) != nil || rec.ID != id {
				t.Errorf("GET /%s/%s: %d %s", res, pathseg.Escape(id), r.Status, r.Body)
			}
		}
		sets := all[Set](f, "/sets?athlete_id="+url.QueryEscape(id), 500)
		if len(sets) < 2 || len(sets[0].Reps) == 0 {
			t.Errorf("athlete %q: %d sets", id, len(sets))
		}
		for _, s := range sets {
			if s.AthleteID != id || s.SessionID != id || !strings.HasPrefix(s.ID, id) {
				t.Errorf("athlete %q: got set %q of %q in session %q", id, s.ID, s.AthleteID, s.SessionID)
			}
		}
		if bySession := all[Set](f, "/sets?session_id="+url.QueryEscape(id), 500); len(bySession) != len(sets) {
			t.Errorf("session %q: %d sets, athlete has %d", id, len(bySession), len(sets))
		}
		if sessions := all[Session](f, "/sessions?athlete_id="+url.QueryEscape(id), 500); len(sessions) != 1 || sessions[0].DeviceID == nil || *sessions[0].DeviceID != id {
			t.Errorf("athlete %q: sessions %+v", id, sessions)
		}
		if !slices.Contains(inGroup, id) {
			t.Errorf("athlete %q not in the first group", id)
		}
		if members := ids(all[Athlete](f, "/athletes?group_id="+url.QueryEscape(id), 500), athleteID); !cmp.Equal(members, []string{id}) {
			t.Errorf("group %q: members %q", id, members)
		}
	}
	// Within the incremental lookback: stamped in the hour before now.
	since := url.QueryEscape(f.s.Now().Add(-time.Hour).Format(time.RFC3339))
	if n := f.list("/sets?since=" + since).Total; n == 0 {
		t.Error("hostile athletes' sets are not within the hour before now")
	}
	// Adding them again adds nothing.
	n := len(f.s.Truth().Athletes)
	f.s.AddHostileIDs()
	if m := len(f.s.Truth().Athletes); m != n {
		t.Errorf("second AddHostileIDs: %d -> %d athletes", n, m)
	}
	// The raw, unescaped "a/b" is another path.
	if r := f.get("/athletes/a/b"); r.Status != http.StatusNotFound {
		t.Errorf("GET /athletes/a/b: %d", r.Status)
	}
}

func TestMalformed(t *testing.T) {
	f := newFixture(t, 14)
	f.s.SetFaults(Faults{HTTP: fault.HTTP{MalformedOnce: "/sets"}})
	if r := f.get("/athletes"); !json.Valid(r.Body) {
		t.Error("MalformedOnce on /sets broke /athletes")
	}
	if r := f.get("/sets/" + f.s.Truth().Sets[0].ID); !json.Valid(r.Body) {
		t.Error("MalformedOnce broke a detail response")
	}
	r := f.get("/sets?limit=5")
	if r.Status != http.StatusOK || json.Valid(r.Body) {
		t.Errorf("first /sets after MalformedOnce: %d, valid JSON %v", r.Status, json.Valid(r.Body))
	}
	for range 3 {
		if r := f.get("/sets?limit=5"); r.Status != http.StatusOK || !json.Valid(r.Body) {
			t.Errorf("later /sets: %d %s", r.Status, r.Body)
		}
	}
	if st := f.s.Stats(); st.Malformed != 1 || st.Faults() != 1 {
		t.Errorf("stats: %+v", st)
	}

	f.s.SetFaults(Faults{HTTP: fault.HTTP{MalformedAlways: "/sessions"}})
	for range 5 {
		if r := f.get("/sessions"); r.Status != http.StatusOK || json.Valid(r.Body) {
			t.Errorf("/sessions with MalformedAlways: %d, valid %v", r.Status, json.Valid(r.Body))
		}
	}
	if r := f.get("/sets"); !json.Valid(r.Body) {
		t.Error("MalformedAlways on /sessions broke /sets")
	}
	f.s.SetFaults(Faults{})
	if r := f.get("/sessions"); !json.Valid(r.Body) {
		t.Error("cleared faults still break /sessions")
	}
}

func TestStorm429AndErrors(t *testing.T) {
	f := newFixture(t, 15)
	f.s.SetFaults(Faults{HTTP: fault.HTTP{Storm429: 3, RetryAfter: 2}})
	for i := range 3 {
		r := f.get("/athletes")
		if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "2" || errCode(r.Body) != "rate_limited" {
			t.Errorf("request %d of the storm: %d, Retry-After %q, %s", i, r.Status, r.Header.Get("Retry-After"), r.Body)
		}
	}
	if r := f.get("/athletes"); r.Status != http.StatusOK {
		t.Errorf("after the storm: %d", r.Status)
	}
	f.s.SetFaults(Faults{HTTP: fault.HTTP{Storm429: 1}})
	if r := f.get("/groups"); r.Header.Get("Retry-After") != "1" {
		t.Errorf("default Retry-After = %q", r.Header.Get("Retry-After"))
	}
	// Unauthorised requests are refused before any fault.
	if r := f.do("GET", "/groups", ""); r.Status != http.StatusUnauthorized {
		t.Errorf("no key during faults: %d", r.Status)
	}

	f.s.SetFaults(Faults{HTTP: fault.HTTP{ErrorRate: 1}})
	statuses := map[int]int{}
	for range 30 {
		r := f.get("/groups")
		statuses[r.Status]++
		if errCode(r.Body) != "internal" {
			t.Errorf("5xx body: %s", r.Body)
		}
	}
	if statuses[500]+statuses[502]+statuses[503] != 30 || len(statuses) < 2 {
		t.Errorf("ErrorRate 1: statuses %v", statuses)
	}
	f.s.SetFaults(Faults{HTTP: fault.HTTP{ErrorRate: 0.3}})
	errs := 0
	for range 200 {
		if f.get("/groups").Status >= 500 {
			errs++
		}
	}
	if errs < 30 || errs > 90 {
		t.Errorf("ErrorRate 0.3: %d errors in 200", errs)
	}
	st := f.s.Stats()
	if st.RateLimited != 4 || st.ServerErrors != 30+errs {
		t.Errorf("stats: %+v", st)
	}
}

func TestResetAndHang(t *testing.T) {
	f := newFixture(t, 16)
	client := f.srv.Client()
	get := func(ctx context.Context, path string) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+prefix+path, nil)
		req.Header.Set("Authorization", "Bearer "+testKey)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.Header.Get("Content-Length") == "" {
			return errors.New("no Content-Length")
		}
		_, err = io.ReadAll(resp.Body)
		return err
	}
	f.s.SetFaults(Faults{HTTP: fault.HTTP{ResetRate: 1}})
	for range 3 {
		if err := get(context.Background(), "/sets"); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("reset: err = %v, want unexpected EOF", err)
		}
	}
	if err := get(context.Background(), "/sets/"+f.s.Truth().Sets[0].ID); err != nil {
		t.Errorf("reset applies to lists only: %v", err)
	}

	f.s.SetFaults(Faults{HTTP: fault.HTTP{HangRate: 1, HangFor: time.Minute}})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	began := time.Now()
	err := get(ctx, "/sessions")
	cancel()
	if err == nil || time.Since(began) > 10*time.Second {
		t.Errorf("hang: err = %v after %v", err, time.Since(began))
	}
	f.s.SetFaults(Faults{HTTP: fault.HTTP{HangRate: 1, HangFor: 50 * time.Millisecond}})
	if err := get(context.Background(), "/sessions"); err == nil {
		t.Error("hang that ends: the body came whole")
	}
	f.s.SetFaults(Faults{})
	if err := get(context.Background(), "/sessions"); err != nil {
		t.Errorf("after faults: %v", err)
	}
	st := f.s.Stats()
	if st.Resets != 3 || st.Hangs != 2 {
		t.Errorf("stats: %+v", st)
	}
}

func TestStats(t *testing.T) {
	f := newFixture(t, 17)
	f.get("/athletes")
	f.get("/athletes?limit=5")
	f.get("/sets")
	f.do("GET", "/sets", "")
	f.get("/nope")
	st := f.s.Stats()
	want := map[string]int{"/athletes": 2, "/sets": 2, "/nope": 1}
	if st.Total != 5 || !cmp.Equal(st.ByPath, want) {
		t.Errorf("stats = %+v, want total 5, by path %v", st, want)
	}
	st.ByPath["/x"] = 9 // a copy
	f.s.ResetStats()
	if st := f.s.Stats(); st.Total != 0 || len(st.ByPath) != 0 {
		t.Errorf("after reset: %+v", st)
	}
}

// TestConcurrent runs requests while Advance and Mutate change the data
// (meaningful under -race).
func TestConcurrent(t *testing.T) {
	f := newFixture(t, 18)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 20 {
				r := f.get("/sets?limit=50&offset=" + strconv.Itoa((w*20+i)%300))
				if r.Status != http.StatusOK || !json.Valid(r.Body) {
					t.Errorf("%d %s", r.Status, r.Body)
				}
			}
		})
	}
	for range 5 {
		f.s.Advance(2 * time.Hour)
		f.s.Mutate(func(d *Dataset) { d.Sets[0].UpdatedAt = d.Sets[0].UpdatedAt.Add(time.Second) })
		f.s.Truth()
	}
	wg.Wait()
	if got := f.s.Stats().Total; got != 160 {
		t.Errorf("Total = %d, want 160", got)
	}
}

func BenchmarkNewLarge(b *testing.B) {
	for b.Loop() {
		New(Options{Seed: 1, Scale: scale.Large, APIKey: testKey})
	}
}

func BenchmarkListSets(b *testing.B) {
	s := New(Options{Seed: 1, Scale: scale.Medium, APIKey: testKey})
	req := httptest.NewRequest(http.MethodGet, "/sets?limit=500&offset=1000", nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	for b.Loop() {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		b.SetBytes(int64(rec.Body.Len()))
	}
}
