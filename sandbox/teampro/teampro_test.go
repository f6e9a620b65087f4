package teampro

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
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/oauth2"

	"github.com/athlake/athlake/sandbox/internal/fault"
	"github.com/athlake/athlake/sandbox/internal/scale"
	"github.com/athlake/athlake/sandbox/internal/simtest"
)

const (
	testClient   = "athlake-test"
	testSecret   = "s3cr3t/with+odd=chars" // form-encoded in basic auth by x/oauth2
	testRedirect = "https://app.example/callback"
	mount        = "/teampro"
)

// fixture is a server mounted the way the sandbox mounts it, on a fake
// clock.
type fixture struct {
	t     *testing.T
	s     *Server
	srv   *httptest.Server
	clock *simtest.Clock
	hc    *http.Client // does not follow redirects
	tok   string
}

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	if o.ClientID == "" {
		o.ClientID, o.ClientSecret = testClient, testSecret
	}
	if o.RedirectURL == "" {
		o.RedirectURL = testRedirect
	}
	clock := simtest.NewClock(time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC))
	if o.Clock == nil {
		o.Clock = clock.Now
	}
	s := New(o)
	srv := simtest.Mount(t, mount, s)
	return &fixture{t: t, s: s, srv: srv, clock: clock, hc: srv.Client()}
}

func (f *fixture) do(req *http.Request) simtest.Reply {
	f.t.Helper()
	return simtest.Do(f.t, f.hc, req)
}

// call requests path (relative to the mount point) with a bearer token
// ("" for none).
func (f *fixture) call(method, path, token string) simtest.Reply {
	f.t.Helper()
	req := simtest.Request(f.t, method, f.srv.URL+mount+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return f.do(req)
}

// get requests an API path with the fixture's access token.
func (f *fixture) get(path string) simtest.Reply {
	f.t.Helper()
	if f.tok == "" {
		tr, r := f.exchange(f.s.AuthorizeCode(""), "")
		if r.Status != http.StatusOK {
			f.t.Fatalf("token: %d %s", r.Status, r.Body)
		}
		f.tok = tr.AccessToken
	}
	return f.call(http.MethodGet, path, f.tok)
}

// ok requests path and decodes a 200's body into v.
func (f *fixture) ok(path string, v any) {
	f.t.Helper()
	r := f.get(path)
	if r.Status != http.StatusOK {
		f.t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		f.t.Fatalf("GET %s: %v", path, err)
	}
}

type tokenReply struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	RefreshToken     string `json:"refresh_token"`
	ExpiresIn        int    `json:"expires_in"`
	Scope            string `json:"scope"`
	JTI              string `json:"jti"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// postToken posts form to the token endpoint with basic client
// credentials (form-encoded, as RFC 6749 says).
func (f *fixture) postToken(form url.Values, user, pass string) (tokenReply, simtest.Reply) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+mount+PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	r := f.do(req)
	var tr tokenReply
	if err := json.Unmarshal(r.Body, &tr); err != nil {
		f.t.Fatalf("token endpoint: %d %s: %v", r.Status, r.Body, err)
	}
	return tr, r
}

func (f *fixture) exchange(code, redirect string) (tokenReply, simtest.Reply) {
	f.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}}
	if redirect != "" {
		form.Set("redirect_uri", redirect)
	}
	return f.postToken(form, testClient, testSecret)
}

func (f *fixture) refresh(rt string) (tokenReply, simtest.Reply) {
	f.t.Helper()
	return f.postToken(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, testClient, testSecret)
}

type page struct {
	Data []json.RawMessage `json:"data"`
	Page struct {
		PerPage       int `json:"per_page"`
		TotalElements int `json:"total_elements"`
		PageNumber    int `json:"page_number"`
		TotalPages    int `json:"total_pages"`
	} `json:"page"`
}

// all pages through a list endpoint and decodes every item into T.
func all[T any](f *fixture, path string, perPage int) []T {
	f.t.Helper()
	var out []T
	for n := 0; ; n++ {
		var p page
		f.ok(simtest.AddQuery(path, fmt.Sprintf("page=%d&per_page=%d", n, perPage)), &p)
		if p.Page.PageNumber != n || p.Page.PerPage != perPage || p.Page.TotalPages != (p.Page.TotalElements+perPage-1)/perPage {
			f.t.Fatalf("%s page %d: envelope %+v", path, n, p.Page)
		}
		for _, raw := range p.Data {
			var x T
			if err := json.Unmarshal(raw, &x); err != nil {
				f.t.Fatalf("%s: %v in %s", path, err, raw)
			}
			out = append(out, x)
		}
		if n+1 >= p.Page.TotalPages {
			if len(out) != p.Page.TotalElements {
				f.t.Fatalf("%s: %d items, total_elements %d", path, len(out), p.Page.TotalElements)
			}
			return out
		}
	}
}

// errorOf is the message of an API error body ("" when it is none).
func errorOf(body []byte) (status int, msg string) {
	var e struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return 0, ""
	}
	return e.Status, e.Message
}

// parseISO parses the ISO-8601 durations the vendor sends ("PT0S",
// "PT1M0.1S", "PT1H2M3.4S", "PT0H0M5S", "PT3725.1S") into milliseconds.
func parseISO(s string) (int64, error) {
	rest, ok := strings.CutPrefix(s, "PT")
	if !ok || rest == "" {
		return 0, fmt.Errorf("not a time duration: %q", s)
	}
	var ms int64
	units := "HMS"
	for rest != "" {
		i := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i <= 0 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		num, unit := rest[:i], rest[i]
		rest = rest[i+1:]
		k := strings.IndexByte(units, unit)
		if k < 0 {
			return 0, fmt.Errorf("bad unit in %q", s)
		}
		units = units[k+1:]
		whole, frac, dot := strings.Cut(num, ".")
		n, err := strconv.ParseInt(whole, 10, 64)
		if err != nil || (dot && (unit != 'S' || len(frac) == 0 || len(frac) > 3)) {
			return 0, fmt.Errorf("bad number in %q", s)
		}
		switch unit {
		case 'H':
			ms += n * 3600000
		case 'M':
			ms += n * 60000
		case 'S':
			ms += n * 1000
			if dot {
				f, _ := strconv.ParseInt((frac + "00")[:3], 10, 64)
				ms += f
			}
		}
	}
	return ms, nil
}

// Wire types, decoded independently of the encoder.

type zonedT struct{ time.Time }

func (z *zonedT) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if !strings.HasSuffix(s, "Z") {
		return fmt.Errorf("zoned time %q without Z", s)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	z.Time = t
	return err
}

type wallT struct{ time.Time }

func (w *wallT) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	t, err := time.Parse("2006-01-02T15:04:05.999999999", s) // fails on a zone
	w.Time = t
	return err
}

type isoDur struct{ ms int64 }

func (d *isoDur) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	var err error
	d.ms, err = parseISO(s)
	return err
}

// The wire's records are the model's with their times and durations
// shadowed by the wire types above: the JSON names are the model's, the
// spellings are decoded here.

type wTeam struct {
	Team
	Created  zonedT `json:"created"`
	Modified zonedT `json:"modified"`
}

func (w wTeam) truth() Team {
	t := w.Team
	t.Created, t.Modified = w.Created.Time, w.Modified.Time
	return t
}

type wMarker struct {
	Marker
	StartTime zonedT `json:"start_time"`
	EndTime   zonedT `json:"end_time"`
}

type wTeamSession struct {
	TeamSession
	Created         zonedT    `json:"created"`
	Modified        zonedT    `json:"modified"`
	RecordStartTime wallT     `json:"record_start_time"`
	RecordEndTime   wallT     `json:"record_end_time"`
	StartTime       wallT     `json:"start_time"`
	EndTime         wallT     `json:"end_time"`
	Markers         []wMarker `json:"markers"`
}

func (w wTeamSession) truth() TeamSession {
	ts := w.TeamSession
	ts.Created, ts.Modified = w.Created.Time, w.Modified.Time
	ts.RecordStartTime, ts.RecordEndTime, ts.StartTime, ts.EndTime = w.RecordStartTime.Time, w.RecordEndTime.Time, w.StartTime.Time, w.EndTime.Time
	for _, m := range w.Markers {
		x := m.Marker
		x.StartTime, x.EndTime = m.StartTime.Time, m.EndTime.Time
		ts.Markers = append(ts.Markers, x)
	}
	return ts
}

// wPlayerSession is a player session's list item or details; the list
// item has no samples, the details no timezone_offset.
type wPlayerSession struct {
	PlayerSession
	Created   zonedT `json:"created"`
	Modified  zonedT `json:"modified"`
	StartTime wallT  `json:"start_time"`
	StopTime  wallT  `json:"stop_time"`
	Samples   *struct {
		Fields []string            `json:"fields"`
		Values [][]json.RawMessage `json:"values"`
	} `json:"samples"`
}

// wZone is a heart-rate or power zone.
type wZone struct {
	PowerZone
	InZone isoDur `json:"in_zone"`
}

type wSummary struct {
	Summary
	Created          zonedT  `json:"created"`
	Modified         zonedT  `json:"modified"`
	TrimmedStartTime wallT   `json:"trimmed_start_time"`
	HeartRateZones   []wZone `json:"heart_rate_zones"`
	PowerZones       []wZone `json:"power_zones"`
}

func (w wSummary) truth() *Summary {
	s := w.Summary
	s.Created, s.Modified, s.TrimmedStartTime = w.Created.Time, w.Modified.Time, w.TrimmedStartTime.Time
	for _, z := range w.HeartRateZones {
		s.HeartRateZones = append(s.HeartRateZones, HRZone{Index: z.Index, LowerLimit: z.LowerLimit, HigherLimit: z.HigherLimit, InZoneMs: z.InZone.ms})
	}
	for _, z := range w.PowerZones {
		x := z.PowerZone
		x.InZoneMs = z.InZone.ms
		s.PowerZones = append(s.PowerZones, x)
	}
	return &s
}

// rowStats counts what the wire's sample rows looked like.
type rowStats struct {
	rows, midNulls int
	spellings      map[string]int // "H", "M", "S>60", "S"
}

// decodeSamples turns wire rows into samples, honouring short and long
// rows: extra and short are what the rows' lengths say.
func decodeSamples(t *testing.T, id string, fields []string, rows [][]json.RawMessage, st *rowStats) (samples []Sample, extra, short map[int]int) {
	t.Helper()
	// cols are the Sample fields the columns fill, by their JSON names.
	cols := make([]int, len(fields))
	for j, name := range fields {
		cols[j] = -1
		for k := range reflect.TypeFor[Sample]().NumField() {
			if reflect.TypeFor[Sample]().Field(k).Tag.Get("json") == name {
				cols[j] = k
			}
		}
		if cols[j] < 0 {
			t.Fatalf("%s: unknown field %q", id, name)
		}
	}
	samples = make([]Sample, len(rows))
	for i, row := range rows {
		st.rows++
		switch {
		case len(row) > len(fields):
			if extra == nil {
				extra = map[int]int{}
			}
			extra[i] = len(row) - len(fields)
		case len(row) < len(fields):
			if short == nil {
				short = map[int]int{}
			}
			short[i] = len(fields) - len(row)
		}
		x := &samples[i]
		sawNull := false
		for j := range min(len(row), len(fields)) {
			raw := string(row[j])
			if fields[j] == "time" {
				var s string
				if err := json.Unmarshal(row[j], &s); err != nil {
					t.Fatalf("%s row %d: time %s", id, i, raw)
				}
				ms, err := parseISO(s)
				if err != nil {
					t.Fatalf("%s row %d: %v", id, i, err)
				}
				x.OffsetMs = ms
				switch {
				case strings.Contains(s, "H"):
					st.spellings["H"]++
				case strings.Contains(s, "M"):
					st.spellings["M"]++
				case ms >= 60000:
					st.spellings["S>60"]++
				default:
					st.spellings["S"]++
				}
				continue
			}
			if raw == "null" {
				sawNull = true
				continue
			}
			if sawNull {
				st.midNulls++
				sawNull = false
			}
			switch f := reflect.ValueOf(x).Elem().Field(cols[j]).Addr().Interface().(type) {
			case **float64:
				v, err := strconv.ParseFloat(raw, 64)
				if err != nil {
					t.Fatalf("%s row %d: %s = %s", id, i, fields[j], raw)
				}
				*f = &v
			case **int64:
				n, err := strconv.ParseInt(raw, 10, 64)
				if err != nil {
					t.Fatalf("%s row %d: %s %s is not an integer", id, i, fields[j], raw)
				}
				*f = &n
			}
		}
		for _, raw := range row[min(len(row), len(fields)):] {
			if _, err := strconv.ParseFloat(string(raw), 64); err != nil {
				t.Fatalf("%s row %d: extra value %s is not a number", id, i, raw)
			}
		}
	}
	return samples, extra, short
}

// crawl reads everything through the API, the way a backfill does, and
// rebuilds the dataset from the wire.
func crawl(f *fixture) (*Dataset, rowStats) {
	f.t.Helper()
	st := rowStats{spellings: map[string]int{}}
	var d Dataset
	teamOf := map[string]string{} // player session -> team session
	for _, tl := range all[wTeam](f, RouteTeams, 1) {
		var w struct{ Data wTeam }
		f.ok("/v1/teams/"+url.PathEscape(tl.ID), &w)
		t := w.Data
		if t.ID != tl.ID || !t.Modified.Equal(tl.Modified.Time) {
			f.t.Errorf("team %s: list %+v, details %+v", tl.ID, tl, t)
		}
		d.Teams = append(d.Teams, t.truth())
		for _, item := range all[wTeamSession](f, "/v1/teams/"+url.PathEscape(t.ID)+"/training_sessions", 2) {
			var w struct{ Data wTeamSession }
			f.ok("/v1/teams/training_sessions/"+url.PathEscape(item.ID), &w)
			ts := w.Data.truth()
			if !item.Modified.Equal(ts.Modified) || !item.StartTime.Equal(ts.StartTime) {
				f.t.Errorf("team session %s: list and details differ", ts.ID)
			}
			for _, p := range ts.Participants {
				teamOf[p.PlayerSessionID] = ts.ID
			}
			d.TeamSessions = append(d.TeamSessions, ts)
		}
	}
	for _, t := range d.Teams {
		for _, pl := range t.Players {
			for _, item := range all[wPlayerSession](f, "/v1/players/"+url.PathEscape(pl.PlayerID)+"/training_sessions", 3) {
				var w struct{ Data wPlayerSession }
				f.ok("/v1/training_sessions/"+url.PathEscape(item.ID)+"?samples=all", &w)
				x := w.Data
				ps := x.PlayerSession
				ps.PlayerID, ps.Created, ps.Modified = pl.PlayerID, x.Created.Time, x.Modified.Time
				ps.StartTime, ps.StopTime, ps.TimezoneOffset = x.StartTime.Time, x.StopTime.Time, item.TimezoneOffset
				if x.TimezoneOffset != nil {
					f.t.Errorf("%s: details carry timezone_offset", x.ID)
				}
				if !item.Modified.Equal(ps.Modified) || item.Feeling != nil && (ps.Feeling == nil || *item.Feeling != *ps.Feeling) {
					f.t.Errorf("player session %s: list and details differ", ps.ID)
				}
				if id, ok := teamOf[ps.ID]; ok {
					ps.TeamSessionID = &id
				}
				if x.Samples == nil {
					f.t.Fatalf("%s: no samples with samples=all", x.ID)
				}
				ps.Fields = x.Samples.Fields
				ps.Samples, ps.Extra, ps.Short = decodeSamples(f.t, ps.ID, x.Samples.Fields, x.Samples.Values, &st)
				r := f.get("/v1/training_sessions/" + url.PathEscape(ps.ID) + "/session_summary")
				switch {
				case ps.Type == TypeTeam && r.Status == http.StatusOK:
					var w struct{ Data wSummary }
					if err := json.Unmarshal(r.Body, &w); err != nil {
						f.t.Fatalf("summary of %s: %v", ps.ID, err)
					}
					ps.Summary = w.Data.truth()
				case ps.Type == TypeIndividual && r.Status == http.StatusNotFound:
				default:
					f.t.Errorf("summary of %s session %s: %d %s", ps.Type, ps.ID, r.Status, r.Body)
				}
				d.PlayerSessions = append(d.PlayerSessions, ps)
			}
		}
	}
	d.sort()
	return &d, st
}

// sameSample compares two samples value by value (fast: cmp on hundreds
// of thousands of samples takes seconds).
func sameSample(a, b *Sample) bool {
	eq := func(x, y *float64) bool { return x == nil && y == nil || x != nil && y != nil && *x == *y }
	return a.OffsetMs == b.OffsetMs && eq(a.Distance, b.Distance) && eq(a.HR, b.HR) && eq(a.Speed, b.Speed) &&
		eq(a.Cadence, b.Cadence) && eq(a.Lat, b.Lat) && eq(a.Lon, b.Lon) && eq(a.Altitude, b.Altitude) &&
		eq(a.ForwardAcceleration, b.ForwardAcceleration) && (a.Power == nil && b.Power == nil || a.Power != nil && b.Power != nil && *a.Power == *b.Power)
}

// diffSamples describes the first difference of two sample lists ("" when
// equal).
func diffSamples(want, got []Sample) string {
	if len(want) != len(got) {
		return fmt.Sprintf("%d samples, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameSample(&want[i], &got[i]) {
			return fmt.Sprintf("row %d (-want +got):\n%s", i, cmp.Diff(want[i], got[i]))
		}
	}
	return ""
}

// diffData is cmp.Diff of two datasets, their samples compared by
// diffSamples.
func diffData(want, got *Dataset) string {
	var out []string
	strip := func(d *Dataset) *Dataset {
		c := *d
		c.PlayerSessions = slices.Clone(d.PlayerSessions)
		for i := range c.PlayerSessions {
			c.PlayerSessions[i].Samples = nil
		}
		return &c
	}
	if d := cmp.Diff(strip(want), strip(got), cmpopts.EquateEmpty()); d != "" {
		out = append(out, d)
	}
	if len(want.PlayerSessions) == len(got.PlayerSessions) {
		for i := range want.PlayerSessions {
			if d := diffSamples(want.PlayerSessions[i].Samples, got.PlayerSessions[i].Samples); d != "" {
				out = append(out, "samples of "+want.PlayerSessions[i].ID+": "+d)
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestWireIsTruth crawls the whole API like a backfill and compares what it
// decoded with the truth, value by value: samples (short and long rows
// counted), RR intervals, summaries, wall-clock and zoned times.
func TestWireIsTruth(t *testing.T) {
	f := newFixture(t, Options{Seed: 3})
	truth := f.s.Truth()
	f.s.ResetStats()
	got, st := crawl(f)
	if d := diffData(truth, got); d != "" {
		t.Errorf("wire differs from truth (-truth +wire):\n%s", d)
	}
	// The small scale: 1 team, 6 players, 3 team sessions with everyone,
	// 2 INDIVIDUAL sessions; the backfill stays inside the burst.
	var team, individual, extra, short int
	for _, ps := range truth.PlayerSessions {
		if ps.Type == TypeTeam {
			team++
		} else {
			individual++
		}
		extra += len(ps.Extra)
		short += len(ps.Short)
	}
	if len(truth.Teams) != 1 || len(truth.Teams[0].Players) != 6 || len(truth.TeamSessions) != 3 || team != 18 || individual != 2 {
		t.Errorf("small: %d teams, %d team sessions, %d TEAM and %d INDIVIDUAL player sessions", len(truth.Teams), len(truth.TeamSessions), team, individual)
	}
	stats := f.s.Stats()
	// The crawl pages with tiny pages; a real backfill (per_page 100) makes
	// 1 + 1 + 1 + 3 + 6 + 20 + 20 requests.
	if extra == 0 || short == 0 || st.midNulls == 0 {
		t.Errorf("%d long rows, %d short rows, %d nulls inside rows: the awkward parts are missing", extra, short, st.midNulls)
	}
	for _, k := range []string{"H", "M", "S>60", "S"} {
		if st.spellings[k] == 0 {
			t.Errorf("no time offset spelled %s: %v", k, st.spellings)
		}
	}
	t.Logf("%d requests, %d sample rows, spellings %v", stats.Total, st.rows, st.spellings)
}

func TestBackfillRequests(t *testing.T) {
	f := newFixture(t, Options{Seed: 4})
	truth := f.s.TruthWithoutSamples()
	f.s.ResetStats()
	requests := 0
	get := func(path string) {
		requests++
		if r := f.get(path); r.Status != http.StatusOK && !strings.HasSuffix(path, "session_summary") {
			t.Fatalf("GET %s: %d", path, r.Status)
		}
	}
	get("/v1/teams?per_page=100")
	for _, tm := range truth.Teams {
		get("/v1/teams/" + tm.ID)
		get("/v1/teams/" + tm.ID + "/training_sessions?per_page=100")
		for _, p := range tm.Players {
			get("/v1/players/" + p.PlayerID + "/training_sessions?per_page=100")
		}
	}
	for _, ts := range truth.TeamSessions {
		get("/v1/teams/training_sessions/" + ts.ID)
	}
	for _, ps := range truth.PlayerSessions {
		get("/v1/training_sessions/" + ps.ID + "?samples=all")
		if ps.Type == TypeTeam {
			get("/v1/training_sessions/" + ps.ID + "/session_summary")
		}
	}
	st := f.s.Stats()
	if requests != 50 || st.Total != requests || st.RateLimited != 0 {
		t.Errorf("full backfill: %d requests (stats %d, %d rate limited), want 50 within the burst of 100", requests, st.Total, st.RateLimited)
	}
	want := map[string]int{RouteTeams: 1, RouteTeam: 1, RouteTeamSessions: 1, RouteTeamSession: 3, RoutePlayerSessions: 6, RoutePlayerSession: 20, RouteSessionSummary: 18}
	if d := cmp.Diff(want, st.ByRoute); d != "" {
		t.Errorf("by route:\n%s", d)
	}
}

func TestOAuthFlow(t *testing.T) {
	f := newFixture(t, Options{Seed: 5})
	loop := "http://127.0.0.1:53682/callback"
	authorize := func(q url.Values) simtest.Reply {
		return f.call(http.MethodGet, PathAuthorize+"?"+q.Encode(), "")
	}
	base := url.Values{"client_id": {testClient}, "response_type": {"code"}, "scope": {Scope}, "state": {"st8"}}
	with := func(kv ...string) url.Values {
		q := url.Values{}
		for k, v := range base {
			q[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				q.Del(kv[i])
			} else {
				q.Set(kv[i], kv[i+1])
			}
		}
		return q
	}

	// authorize -> 302 to the loopback redirect with state and code.
	r := authorize(with("redirect_uri", loop))
	loc, err := url.Parse(r.Header.Get("Location"))
	if r.Status != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), loop+"?") || loc.Query().Get("state") != "st8" || len(loc.Query().Get("code")) != 32 {
		t.Fatalf("authorize: %d Location %q", r.Status, r.Header.Get("Location"))
	}
	code := loc.Query().Get("code")

	// The redirect_uri given at authorize must come back.
	if tr, r := f.exchange(code, "http://127.0.0.1:1/other"); r.Status != http.StatusBadRequest || tr.Error != "invalid_grant" {
		t.Errorf("redirect mismatch: %d %+v", r.Status, tr)
	}
	r = authorize(with("redirect_uri", loop))
	code = mustCode(t, r)
	tr, r := f.exchange(code, loop)
	if r.Status != http.StatusOK || tr.TokenType != "bearer" || tr.ExpiresIn != 43199 || tr.Scope != Scope || tr.JTI == "" ||
		tr.AccessToken == "" || tr.RefreshToken == "" || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("exchange: %d %s %v", r.Status, r.Body, r.Header)
	}
	// Codes are single-use.
	if tr2, r := f.exchange(code, loop); r.Status != http.StatusBadRequest || tr2.Error != "invalid_grant" || tr2.ErrorDescription == "" {
		t.Errorf("code reuse: %d %s", r.Status, r.Body)
	}
	if r := f.call(http.MethodGet, RouteTeams, tr.AccessToken); r.Status != http.StatusOK {
		t.Fatalf("API with the access token: %d %s", r.Status, r.Body)
	}

	// Refresh rotates: the new pair works, the old refresh token is dead.
	tr2, r := f.refresh(tr.RefreshToken)
	if r.Status != http.StatusOK || tr2.RefreshToken == tr.RefreshToken || tr2.AccessToken == tr.AccessToken {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	if tr3, r := f.refresh(tr.RefreshToken); r.Status != http.StatusBadRequest || tr3.Error != "invalid_grant" {
		t.Errorf("old refresh token: %d %s", r.Status, r.Body)
	}
	if r := f.call(http.MethodGet, RouteTeams, tr2.AccessToken); r.Status != http.StatusOK {
		t.Errorf("refreshed access token: %d", r.Status)
	}
	tr3, r := f.refresh(tr2.RefreshToken)
	if r.Status != http.StatusOK {
		t.Fatalf("second refresh: %d %s", r.Status, r.Body)
	}

	// Revoked refresh tokens; expired access tokens.
	f.s.RevokeRefreshTokens()
	if tr4, r := f.refresh(tr3.RefreshToken); r.Status != http.StatusBadRequest || tr4.Error != "invalid_grant" {
		t.Errorf("revoked refresh token: %d %s", r.Status, r.Body)
	}
	if r := f.call(http.MethodGet, RouteTeams, tr3.AccessToken); r.Status != http.StatusOK {
		t.Errorf("access token after revoking refresh tokens: %d", r.Status)
	}
	f.s.ExpireAccessTokens()
	r = f.call(http.MethodGet, RouteTeams, tr3.AccessToken)
	if r.Status != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), "invalid_token") || !json.Valid(r.Body) {
		t.Errorf("expired access token: %d %s %v", r.Status, r.Body, r.Header)
	}

	// Access tokens expire by the clock.
	tr5, _ := f.exchange(f.s.AuthorizeCode(""), "")
	f.clock.Add(12*time.Hour - time.Second)
	if r := f.call(http.MethodGet, RouteTeams, tr5.AccessToken); r.Status != http.StatusOK {
		t.Errorf("access token just before 12 h: %d", r.Status)
	}
	f.clock.Add(time.Second)
	if r := f.call(http.MethodGet, RouteTeams, tr5.AccessToken); r.Status != http.StatusUnauthorized {
		t.Errorf("access token after 12 h: %d", r.Status)
	}
	// Codes expire after 10 minutes.
	old := f.s.AuthorizeCode("")
	f.clock.Add(CodeTTL)
	if tr, r := f.exchange(old, ""); r.Status != http.StatusBadRequest || tr.Error != "invalid_grant" {
		t.Errorf("expired code: %d %s", r.Status, r.Body)
	}

	// Client authentication.
	for _, c := range []struct{ user, pass string }{{"", ""}, {testClient, "wrong"}, {"other", testSecret}} {
		tr, r := f.postToken(url.Values{"grant_type": {"authorization_code"}, "code": {f.s.AuthorizeCode("")}}, c.user, c.pass)
		if r.Status != http.StatusUnauthorized || tr.Error != "invalid_client" || strings.Contains(string(r.Body), testSecret) {
			t.Errorf("client %q/%q: %d %s", c.user, c.pass, r.Status, r.Body)
		}
	}
	// Protocol errors.
	for _, c := range []struct {
		form url.Values
		code string
	}{
		{url.Values{}, "invalid_request"},
		{url.Values{"grant_type": {"password"}}, "unsupported_grant_type"},
		{url.Values{"grant_type": {"authorization_code"}}, "invalid_request"},
		{url.Values{"grant_type": {"refresh_token"}}, "invalid_request"},
		{url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, "invalid_grant"},
		{url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}}, "invalid_grant"},
	} {
		if tr, r := f.postToken(c.form, testClient, testSecret); r.Status != http.StatusBadRequest || tr.Error != c.code {
			t.Errorf("token %v: %d %s; want 400 %s", c.form, r.Status, r.Body, c.code)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+mount+PathToken, strings.NewReader(`{"grant_type":"refresh_token"}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(testClient, url.QueryEscape(testSecret))
	if r := f.do(req); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "invalid_request") {
		t.Errorf("JSON body: %d %s", r.Status, r.Body)
	}
	if r := f.call(http.MethodGet, PathToken, ""); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET token endpoint: %d", r.Status)
	}

	// Authorization errors: the server's own page when it cannot
	// redirect; a redirect with error and state otherwise.
	for _, q := range []url.Values{with("client_id", "unknown"), with("client_id", ""), with("redirect_uri", "https://evil.example/cb"), with("redirect_uri", "http://192.168.1.5:8080/cb")} {
		r := authorize(q)
		if r.Status != http.StatusBadRequest || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || r.Header.Get("Location") != "" {
			t.Errorf("authorize %v: %d %v", q, r.Status, r.Header)
		}
	}
	for _, c := range []struct {
		q    url.Values
		code string
	}{
		{with("scope", "team_write"), "invalid_scope"},
		{with("scope", "team_read,accesslink.read_all"), "invalid_scope"},
		{with("response_type", "token"), "unsupported_response_type"},
		{with("response_type", ""), "invalid_request"},
	} {
		r := authorize(c.q)
		loc, _ := url.Parse(r.Header.Get("Location"))
		if r.Status != http.StatusFound || !strings.HasPrefix(loc.String(), testRedirect+"?") || loc.Query().Get("error") != c.code || loc.Query().Get("state") != "st8" || loc.Query().Has("code") {
			t.Errorf("authorize %v: %d %q; want a redirect with error=%s", c.q, r.Status, r.Header.Get("Location"), c.code)
		}
	}
	// Without redirect_uri: the registered one; localhost on any port too.
	for _, q := range []url.Values{with(), with("redirect_uri", "http://localhost:9/x?keep=1"), with("redirect_uri", "http://[::1]:7777/cb"), with("scope", "team_read team_read")} {
		if r := authorize(q); r.Status != http.StatusFound || mustCode(t, r) == "" {
			t.Errorf("authorize %v: %d", q, r.Status)
		}
	}
	if loc := authorize(with("redirect_uri", "http://localhost:9/x?keep=1")).Header.Get("Location"); !strings.HasPrefix(loc, "http://localhost:9/x?keep=1&state=st8&code=") {
		t.Errorf("existing query not kept: %q", loc)
	}

	st := f.s.Stats()
	if st.TokenRequests < 20 || st.AuthorizeRequests < 15 {
		t.Errorf("stats: %+v", st)
	}
}

func mustCode(t *testing.T, r simtest.Reply) string {
	t.Helper()
	loc, err := url.Parse(r.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("no code in %d %q", r.Status, r.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

// TestOAuth2Library drives the flow with golang.org/x/oauth2, the library
// the client uses: exchange, then refresh through its token source.
func TestOAuth2Library(t *testing.T) {
	f := newFixture(t, Options{Seed: 6, AccessTTL: time.Hour})
	cfg := &oauth2.Config{
		ClientID: testClient, ClientSecret: testSecret, Scopes: []string{Scope},
		RedirectURL: "http://127.0.0.1:8089/callback",
		Endpoint:    oauth2.Endpoint{AuthURL: f.srv.URL + mount + PathAuthorize, TokenURL: f.srv.URL + mount + PathToken, AuthStyle: oauth2.AuthStyleInHeader},
	}
	r := f.call(http.MethodGet, strings.TrimPrefix(cfg.AuthCodeURL("xyz"), f.srv.URL+mount), "")
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, f.srv.Client())
	tok, err := cfg.Exchange(ctx, mustCode(t, r))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" || tok.Expiry.IsZero() || time.Until(tok.Expiry) > time.Hour {
		t.Errorf("token: %+v", tok)
	}
	tok.Expiry = time.Now().Add(-time.Minute)
	fresh, err := cfg.TokenSource(ctx, tok).Token()
	if err != nil || fresh.RefreshToken == tok.RefreshToken || fresh.AccessToken == tok.AccessToken {
		t.Fatalf("refresh through x/oauth2: %v", err)
	}
	if r := f.call(http.MethodGet, RouteTeams, fresh.AccessToken); r.Status != http.StatusOK {
		t.Errorf("API: %d", r.Status)
	}
	_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("reusing a rotated refresh token: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, Options{Seed: 7})
	tok := func() string {
		tr, _ := f.exchange(f.s.AuthorizeCode(""), "")
		return tr.AccessToken
	}
	a, b := tok(), tok()
	for i := range 100 {
		tk := a
		if i%2 == 1 {
			tk = b // the bucket is the client's, shared by its tokens
		}
		if r := f.call(http.MethodGet, RouteTeams, tk); r.Status != http.StatusOK {
			t.Fatalf("request %d of the burst: %d", i, r.Status)
		}
	}
	r := f.call(http.MethodGet, RouteTeams, b)
	if s, msg := errorOf(r.Body); r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" || s != 429 || msg == "" {
		t.Fatalf("101st request: %d Retry-After %q %s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	// The token endpoint is not limited.
	if _, r := f.exchange(f.s.AuthorizeCode(""), ""); r.Status != http.StatusOK {
		t.Errorf("token endpoint with an empty bucket: %d", r.Status)
	}
	// Refills at 1/s.
	f.clock.Add(time.Second)
	if r := f.call(http.MethodGet, RouteTeams, a); r.Status != http.StatusOK {
		t.Errorf("after 1 s: %d", r.Status)
	}
	f.clock.Add(500 * time.Millisecond)
	if r := f.call(http.MethodGet, RouteTeams, a); r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" {
		t.Errorf("after 0.5 s: %d Retry-After %q", r.Status, r.Header.Get("Retry-After"))
	}
	f.clock.Add(500 * time.Millisecond)
	if r := f.call(http.MethodGet, RouteTeams, a); r.Status != http.StatusOK {
		t.Errorf("after another 0.5 s: %d", r.Status)
	}
	f.clock.Add(10 * time.Second)
	for i := range 10 {
		if r := f.call(http.MethodGet, RouteTeams, a); r.Status != http.StatusOK {
			t.Errorf("request %d after 10 s: %d", i, r.Status)
		}
	}
	if r := f.call(http.MethodGet, RouteTeams, a); r.Status != http.StatusTooManyRequests {
		t.Errorf("11th request after 10 s: %d", r.Status)
	}
	// A bucket refills only up to its size.
	f.clock.Add(time.Hour)
	n := 0
	for f.call(http.MethodGet, RouteTeams, a).Status == http.StatusOK {
		n++
	}
	if n != 100 {
		t.Errorf("after an hour: %d requests before a 429, want 100", n)
	}
	if st := f.s.Stats(); st.RateLimited != 4 || st.Faults() != 0 {
		t.Errorf("stats: %+v", st)
	}
	// Unauthorised requests do not spend the bucket.
	if r := f.call(http.MethodGet, RouteTeams, "nope"); r.Status != http.StatusUnauthorized {
		t.Errorf("bad token with an empty bucket: %d", r.Status)
	}

	slow := newFixture(t, Options{Seed: 7, Rate: 0.25, Burst: 2})
	slow.get(RouteTeams)
	slow.get(RouteTeams)
	if r := slow.get(RouteTeams); r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "4" {
		t.Errorf("rate 0.25: %d Retry-After %q", r.Status, r.Header.Get("Retry-After"))
	}
	unlimited := newFixture(t, Options{Seed: 7, Burst: -1})
	for i := range 300 {
		if r := unlimited.get(RouteTeams); r.Status != http.StatusOK {
			t.Fatalf("no limit: request %d: %d", i, r.Status)
		}
	}
}

func TestPagingAndErrors(t *testing.T) {
	f := newFixture(t, Options{Seed: 8})
	truth := f.s.TruthWithoutSamples()
	team := truth.Teams[0].ID
	path := "/v1/teams/" + team + "/training_sessions"
	var p page
	f.ok(path, &p)
	if p.Page.PerPage != DefaultPerPage || p.Page.PageNumber != 0 || p.Page.TotalElements != 3 || p.Page.TotalPages != 1 || len(p.Data) != 3 {
		t.Errorf("default page: %+v, %d items", p.Page, len(p.Data))
	}
	var ids []string
	for n := range 3 {
		var p page
		f.ok(fmt.Sprintf("%s?per_page=1&page=%d", path, n), &p)
		var ts TeamSession
		json.Unmarshal(p.Data[0], &struct{ ID *string }{&ts.ID})
		ids = append(ids, ts.ID)
		if p.Page.TotalPages != 3 || p.Page.PageNumber != n || len(p.Data) != 1 {
			t.Errorf("page %d: %+v", n, p.Page)
		}
	}
	var want []string
	for _, ts := range truth.TeamSessions {
		want = append(want, ts.ID)
	}
	if d := cmp.Diff(want, ids); d != "" {
		t.Errorf("order (start time, id):\n%s", d)
	}
	f.ok(path+"?per_page=2&page=7", &p)
	if len(p.Data) != 0 || p.Page.PageNumber != 7 || p.Page.TotalElements != 3 {
		t.Errorf("page past the end: %+v, %d items", p.Page, len(p.Data))
	}
	f.ok(path+"?per_page=100", &p)
	if len(p.Data) != 3 {
		t.Errorf("per_page=100: %d", len(p.Data))
	}
	for _, q := range []string{"per_page=0", "per_page=101", "per_page=abc", "per_page=", "page=-1", "page=x", "page=1.5", "since=yesterday", "since=2026-05-01", "until=2026-05-01T25:00:00"} {
		r := f.get(path + "?" + q)
		if s, msg := errorOf(r.Body); r.Status != http.StatusBadRequest || s != 400 || msg == "" {
			t.Errorf("?%s: %d %s", q, r.Status, r.Body)
		}
	}
	ps := truth.PlayerSessions[0]
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/teams/nope", 404},
		{"GET", "/v1/teams/nope/training_sessions", 404},
		{"GET", "/v1/teams/training_sessions/nope", 404},
		{"GET", "/v1/players/nope/training_sessions", 404},
		{"GET", "/v1/training_sessions/nope", 404},
		{"GET", "/v1/training_sessions/nope/session_summary", 404},
		{"GET", "/v1/nothing", 404},
		{"GET", "/v1/teams/", 404},
		{"GET", "/v2/teams", 404},
		{"GET", "/", 404},
		{"GET", "/v1/training_sessions/" + ps.ID + "?samples=power", 400},
		{"GET", "/v1/training_sessions/" + ps.ID + "?samples=all,hr", 400},
		{"GET", "/v1/players/" + ps.PlayerID + "/training_sessions?type=team", 400},
		{"POST", "/v1/teams", 405},
		{"DELETE", "/v1/training_sessions/" + ps.ID, 405},
	} {
		r := f.call(c.method, c.path, f.tokenOrFetch())
		if s, msg := errorOf(r.Body); r.Status != c.status || s != c.status || msg == "" {
			t.Errorf("%s %s: %d %s; want %d with a JSON error", c.method, c.path, r.Status, r.Body, c.status)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", c.method, c.path, ct)
		}
	}
	// Unauthenticated and badly authenticated.
	for _, auth := range []string{"", "Basic abc", "Bearer", "Bearer nope"} {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+mount+RouteTeams, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		r := f.do(req)
		var e struct{ Error string }
		if r.Status != http.StatusUnauthorized || json.Unmarshal(r.Body, &e) != nil || e.Error == "" || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("auth %q: %d %s", auth, r.Status, r.Body)
		}
	}
	// The Date header is the real clock's (here the fake one).
	if got, want := f.get(RouteTeams).Header.Get("Date"), f.clock.Now().Format(http.TimeFormat); got != want {
		t.Errorf("Date = %q, want %q", got, want)
	}
}

func (f *fixture) tokenOrFetch() string {
	f.get(RouteTeams)
	return f.tok
}

func TestFilters(t *testing.T) {
	f := newFixture(t, Options{Seed: 9})
	truth := f.s.TruthWithoutSamples()
	team := truth.Teams[0].ID
	ts := truth.TeamSessions[1]
	rst := ts.RecordStartTime
	ids := func(path string) []string {
		var out []string
		for _, x := range all[struct{ ID string }](f, path, 100) {
			out = append(out, x.ID)
		}
		return out
	}
	list := "/v1/teams/" + team + "/training_sessions"
	// since and until are exclusive, on record_start_time, compared as
	// wall clock whatever the spelling.
	for _, c := range []struct {
		q    string
		want []string
	}{
		{"since=" + rst.Format("2006-01-02T15:04:05"), []string{truth.TeamSessions[2].ID}},
		{"since=" + rst.Add(-time.Millisecond).Format("2006-01-02T15:04:05.000"), []string{ts.ID, truth.TeamSessions[2].ID}},
		{"since=" + url.QueryEscape(rst.Add(-time.Second).Format("2006-01-02T15:04:05")+"+02:00"), []string{ts.ID, truth.TeamSessions[2].ID}},
		{"since=" + rst.Add(-time.Second).Format("2006-01-02T15:04:05") + "Z", []string{ts.ID, truth.TeamSessions[2].ID}},
		{"until=" + rst.Format("2006-01-02T15:04:05"), []string{truth.TeamSessions[0].ID}},
		{"until=" + rst.Add(time.Millisecond).Format("2006-01-02T15:04:05.000"), []string{truth.TeamSessions[0].ID, ts.ID}},
		{"since=" + rst.Add(-time.Second).Format("2006-01-02T15:04:05") + "&until=" + rst.Add(time.Second).Format("2006-01-02T15:04:05"), []string{ts.ID}},
		{"since=" + rst.Format("2006-01-02T15:04:05") + "&until=" + rst.Format("2006-01-02T15:04:05"), nil},
	} {
		if d := cmp.Diff(c.want, ids(list+"?"+c.q), cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s:\n%s", c.q, d)
		}
	}
	// Player sessions: start_time, type.
	var player string
	for _, ps := range truth.PlayerSessions {
		if ps.Type == TypeIndividual {
			player = ps.PlayerID
		}
	}
	var mine, teamOnly, ind []PlayerSession
	for _, ps := range truth.PlayerSessions {
		if ps.PlayerID == player {
			mine = append(mine, ps)
			if ps.Type == TypeTeam {
				teamOnly = append(teamOnly, ps)
			} else {
				ind = append(ind, ps)
			}
		}
	}
	idsOf := func(xs []PlayerSession) []string {
		var out []string
		for _, x := range xs {
			out = append(out, x.ID)
		}
		return out
	}
	plist := "/v1/players/" + player + "/training_sessions"
	for q, want := range map[string][]string{
		"":                 idsOf(mine),
		"?type=ALL":        idsOf(mine),
		"?type=TEAM":       idsOf(teamOnly),
		"?type=INDIVIDUAL": idsOf(ind),
		"?since=" + mine[1].StartTime.Format("2006-01-02T15:04:05"):                        idsOf(mine[2:]),
		"?until=" + mine[1].StartTime.Format("2006-01-02T15:04:05") + "&type=ALL":          idsOf(mine[:1]),
		"?since=" + mine[0].StartTime.Add(-time.Second).Format("2006-01-02T15:04:05.999Z"): idsOf(mine),
	} {
		if d := cmp.Diff(want, ids(plist+q), cmpopts.EquateEmpty()); d != "" || len(ind) == 0 {
			t.Errorf("%s (%d individual):\n%s", q, len(ind), d)
		}
	}
}

// TestSamplesParameter: no parameter, all, subsets in the session's order
// with time first, rr alone.
func TestSamplesParameter(t *testing.T) {
	f := newFixture(t, Options{Seed: 10})
	truth := f.s.Truth()
	var ps PlayerSession
	for _, x := range truth.PlayerSessions {
		if x.RR != nil && slices.Contains(x.Fields, "lat") && slices.Contains(x.Fields, "hr") && len(x.Short) > 0 {
			ps = x
			break
		}
	}
	if ps.ID == "" {
		t.Fatal("no session with rr, location, hr and short rows")
	}
	get := func(q string) (map[string]json.RawMessage, wPlayerSession) {
		t.Helper()
		var raw struct{ Data map[string]json.RawMessage }
		var w struct{ Data wPlayerSession }
		r := f.get("/v1/training_sessions/" + ps.ID + q)
		if json.Unmarshal(r.Body, &raw) != nil || json.Unmarshal(r.Body, &w) != nil {
			t.Fatalf("%s: %d %s", q, r.Status, r.Body)
		}
		return raw.Data, w.Data
	}
	raw, _ := get("")
	if _, ok := raw["samples"]; ok {
		t.Error("no samples parameter: samples sent")
	}
	if _, ok := raw["rr_intervals"]; ok {
		t.Error("no samples parameter: rr_intervals sent")
	}
	for _, k := range []string{"id", "type", "created", "modified", "start_time", "stop_time", "duration_ms", "heart_rate_max", "sport"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("details lack %s", k)
		}
	}
	_, w := get("?samples=all")
	if d := cmp.Diff(ps.Fields, w.Samples.Fields); d != "" || len(w.Samples.Values) != len(ps.Samples) || len(w.RR) != len(ps.RR) {
		t.Errorf("all: fields %v (want %v), %d rows, %d rr", w.Samples.Fields, ps.Fields, len(w.Samples.Values), len(w.RR))
	}
	// A subset: only what is asked and the session has, in its order.
	_, w = get("?samples=location,hr,power_is_not_listed_so_400")
	if w.Samples != nil {
		t.Error("unknown sample type accepted")
	}
	_, w = get("?samples=location,hr,rr")
	var want []string
	for _, fl := range ps.Fields {
		if fl == "lat" || fl == "lon" || fl == "hr" {
			want = append(want, fl)
		}
	}
	want = append([]string{"time"}, want...)
	if d := cmp.Diff(want, w.Samples.Fields); d != "" {
		t.Errorf("location,hr fields:\n%s", d)
	}
	st := rowStats{spellings: map[string]int{}}
	got, extra, short := decodeSamples(t, ps.ID, w.Samples.Fields, w.Samples.Values, &st)
	if len(extra)+len(short) != 0 {
		t.Errorf("a subset has short or long rows: %v %v", extra, short)
	}
	for i := range got {
		x, y := got[i], ps.Samples[i]
		if x.OffsetMs != y.OffsetMs || !cmp.Equal(x.HR, y.HR) || !cmp.Equal(x.Lat, y.Lat) || !cmp.Equal(x.Lon, y.Lon) || x.Speed != nil || x.Distance != nil {
			t.Fatalf("row %d: %+v, truth %+v", i, x, y)
		}
	}
	if d := cmp.Diff(ps.RR, w.RR); d != "" {
		t.Errorf("rr:\n%s", d)
	}
	raw, w = get("?samples=rr")
	if _, ok := raw["samples"]; ok || len(w.RR) != len(ps.RR) {
		t.Errorf("samples=rr: samples %v, %d rr", hasKey(raw, "samples"), len(w.RR))
	}
	raw, w = get("?samples=" + url.QueryEscape("speed, cadence"))
	if _, ok := raw["rr_intervals"]; ok || w.Samples == nil || w.Samples.Fields[0] != "time" {
		t.Errorf("samples=speed,cadence: %v", w.Samples)
	}
}

func hasKey(m map[string]json.RawMessage, k string) bool {
	_, found := m[k]
	return found
}

func TestISODurations(t *testing.T) {
	for _, c := range []struct {
		ms    int64
		style int
		want  string
	}{
		{0, durJava, "PT0S"}, {100, durJava, "PT0.1S"}, {59900, durJava, "PT59.9S"}, {60100, durJava, "PT1M0.1S"},
		{60000, durJava, "PT1M"}, {3723400, durJava, "PT1H2M3.4S"}, {3605100, durJava, "PT1H5.1S"}, {3600000, durJava, "PT1H"},
		{4000, durJava, "PT4S"}, {62300, durJava, "PT1M2.3S"}, {5, durJava, "PT0.005S"}, {1250, durJava, "PT1.25S"},
		{0, durFull, "PT0H0M0S"}, {100, durFull, "PT0H0M0.1S"}, {3605100, durFull, "PT1H0M5.1S"}, {60000, durFull, "PT0H1M0S"},
		{0, durSeconds, "PT0S"}, {3725100, durSeconds, "PT3725.1S"}, {59900, durSeconds, "PT59.9S"},
	} {
		got := string(appendDuration(nil, c.ms, c.style))
		if got != c.want {
			t.Errorf("%d ms style %d = %q, want %q", c.ms, c.style, got, c.want)
		}
		if back, err := parseISO(got); err != nil || back != c.ms {
			t.Errorf("%q parses to %d, %v", got, back, err)
		}
	}
	for ms := int64(0); ms < 3*3600000; ms += 7777 {
		for style := range 3 {
			s := string(appendDuration(nil, ms, style))
			if back, err := parseISO(s); err != nil || back != ms {
				t.Fatalf("%d ms (style %d) -> %q -> %d, %v", ms, style, s, back, err)
			}
		}
	}
	for _, bad := range []string{"", "PT", "P1D", "PT1.5M", "PT1S2M", "PT.5S", "PT1.2345S", "T1S"} {
		if _, err := parseISO(bad); err == nil {
			t.Errorf("parseISO(%q) succeeded", bad)
		}
	}
}

func hasField(ps PlayerSession, f string) bool { return slices.Contains(ps.Fields, f) }

// TestSummariesAndTotals: the summary and the session's totals agree with
// the samples (for the fields the session sends).
func TestSummariesAndTotals(t *testing.T) {
	f := newFixture(t, Options{Seed: 11})
	f.s.Advance(30 * time.Hour) // re-processed sessions must stay consistent
	truth := f.s.Truth()
	checked := 0
	for _, ps := range truth.PlayerSessions {
		sm := ps.Summary
		if (sm == nil) != (ps.Type == TypeIndividual) {
			t.Fatalf("%s %s: summary %v", ps.Type, ps.ID, sm)
		}
		if len(ps.Samples) != int(ps.DurationMs/100) || ps.DurationMs != ps.StopTime.Sub(ps.StartTime).Milliseconds() {
			t.Errorf("%s: %d samples for %d ms (%v – %v)", ps.ID, len(ps.Samples), ps.DurationMs, ps.StartTime, ps.StopTime)
		}
		if hasField(ps, "hr") {
			mx, mn, sum, n := 0.0, 1e9, 0.0, 0
			var inZone [5]int64
			for _, s := range ps.Samples {
				if s.HR == nil {
					continue
				}
				h := *s.HR
				mx, mn, sum, n = max(mx, h), min(mn, h), sum+h, n+1
				if sm != nil {
					for z, hz := range sm.HeartRateZones {
						if h >= float64(hz.LowerLimit) && (h < float64(hz.HigherLimit) || z == 4) {
							inZone[z] += 100
						}
					}
				}
			}
			if *ps.HeartRateMax != int(mx) || *ps.HeartRateAvg != int(math.Round(sum/float64(n))) {
				t.Errorf("%s: hr max/avg %d/%d, samples %v/%v", ps.ID, *ps.HeartRateMax, *ps.HeartRateAvg, mx, sum/float64(n))
			}
			if sm != nil {
				checked++
				if *sm.HeartRateMax != int(mx) || *sm.HeartRateMin != int(mn) || *sm.HeartRateAvg != *ps.HeartRateAvg {
					t.Errorf("%s: summary hr %d/%d/%d, samples %v/%v", ps.ID, *sm.HeartRateMax, *sm.HeartRateMin, *sm.HeartRateAvg, mx, mn)
				}
				var got [5]int64
				for z, hz := range sm.HeartRateZones {
					got[z] = hz.InZoneMs
					if hz.Index != z+1 || (z > 0 && hz.LowerLimit != sm.HeartRateZones[z-1].HigherLimit) {
						t.Errorf("%s: hr zones %+v", ps.ID, sm.HeartRateZones)
					}
				}
				if got != inZone {
					t.Errorf("%s: in zone %v, samples say %v", ps.ID, got, inZone)
				}
				if want := int(math.Round(100 * mx / float64(sm.HeartRateZones[4].HigherLimit))); *sm.HeartRateMaxPercent != want {
					t.Errorf("%s: max percent %d, want %d", ps.ID, *sm.HeartRateMaxPercent, want)
				}
			}
		}
		if sm == nil {
			continue
		}
		if !sm.TrimmedStartTime.Equal(ps.StartTime) || sm.DurationMs != ps.DurationMs || sm.PlayerSessionID != ps.ID ||
			!cmp.Equal(sm.DistanceMeters, ps.DistanceMeters) || !cmp.Equal(sm.KiloCalories, ps.Calories) || !cmp.Equal(sm.SprintCounter, ps.SprintCounter) {
			t.Errorf("%s: summary and session disagree", ps.ID)
		}
		if sm.Modified.Before(ps.Modified) || sm.Created != ps.Created {
			t.Errorf("%s: summary created/modified %v/%v, session %v/%v", ps.ID, sm.Created, sm.Modified, ps.Created, ps.Modified)
		}
		if hasField(ps, "speed") {
			mx, run, sprints := 0.0, 0, 0
			var meters [5]float64
			for i, s := range ps.Samples {
				if s.Speed == nil {
					run = 0
					continue
				}
				mx = max(mx, *s.Speed)
				if *s.Speed >= 6.5 {
					if run++; run == 10 {
						sprints++
					}
				} else {
					run = 0
				}
				if hasField(ps, "distance") && i > 0 && s.Distance != nil && ps.Samples[i-1].Distance != nil {
					kmh := *s.Speed * 3.6
					for z, sz := range sm.SpeedZones {
						if kmh >= float64(sz.LowerLimit) && kmh < float64(sz.HigherLimit) {
							meters[z] += *s.Distance - *ps.Samples[i-1].Distance
						}
					}
				}
			}
			if *sm.SpeedMaxKmh != round1(mx*3.6) || *sm.SprintCounter != sprints {
				t.Errorf("%s: speed max %v km/h, %d sprints; samples %v m/s, %d", ps.ID, *sm.SpeedMaxKmh, *sm.SprintCounter, mx, sprints)
			}
			if hasField(ps, "distance") {
				for z, sz := range sm.SpeedZones {
					if math.Abs(sz.InZoneMeters-meters[z]) > 0.051 {
						t.Errorf("%s: speed zone %d: %v m, samples %v", ps.ID, z+1, sz.InZoneMeters, meters[z])
					}
				}
			}
		}
		if hasField(ps, "distance") {
			var last *float64
			for _, s := range ps.Samples {
				if s.Distance != nil {
					last = s.Distance
				}
			}
			if !cmp.Equal(last, sm.DistanceMeters) {
				t.Errorf("%s: distance %v, last sample %v", ps.ID, *sm.DistanceMeters, *last)
			}
		}
		if hasField(ps, "forward_acceleration") {
			var want [6]float64
			sign, peak := 0, 0.0
			flush := func() {
				if sign != 0 {
					m := min(3, math.Floor(math.Abs(peak)))
					if sign > 0 {
						want[2+int(m)]++
					} else {
						want[3-int(m)]++
					}
				}
				sign = 0
			}
			for _, s := range ps.Samples {
				switch a := s.ForwardAcceleration; {
				case a == nil || (*a > -1 && *a < 1):
					flush()
				case *a >= 1:
					if sign < 0 {
						flush()
					}
					if sign == 0 {
						sign, peak = 1, *a
					}
					peak = max(peak, *a)
				default:
					if sign > 0 {
						flush()
					}
					if sign == 0 {
						sign, peak = -1, *a
					}
					peak = min(peak, *a)
				}
			}
			flush()
			var got [6]float64
			for k, z := range sm.AccelerationZones {
				got[k] = z.Counter
			}
			if got != want || sm.AccelerationZones[0].Limit != -3 || sm.AccelerationZones[5].Limit != 3 {
				t.Errorf("%s: acceleration zones %v, samples say %v", ps.ID, sm.AccelerationZones, want)
			}
		}
		if len(sm.PowerZones) != 5 {
			t.Errorf("%s: %d power zones", ps.ID, len(sm.PowerZones))
		}
		if hasField(ps, "power") {
			var ms int64
			for _, z := range sm.PowerZones {
				ms += z.InZoneMs
			}
			if ms == 0 {
				t.Errorf("%s: power sent but no time in power zones", ps.ID)
			}
		} else {
			for _, z := range sm.PowerZones {
				if z.InZoneMs != 0 || z.InZoneMuscleLoad != 0 {
					t.Errorf("%s: no power but power zones %+v", ps.ID, sm.PowerZones)
				}
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d summaries checked against heart rate samples", checked)
	}
}

// haversine is the distance in metres between two points.
func haversine(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371000
	p1, p2 := lat1*math.Pi/180, lat2*math.Pi/180
	dp, dl := p2-p1, (lon2-lon1)*math.Pi/180
	a := math.Sin(dp/2)*math.Sin(dp/2) + math.Cos(p1)*math.Cos(p2)*math.Sin(dl/2)*math.Sin(dl/2)
	return 2 * r * math.Asin(math.Sqrt(a))
}

func TestPhysics(t *testing.T) {
	f := newFixture(t, Options{Seed: 12})
	truth := f.s.Truth()
	var feelings, commas, noOffset, gpsGaps int
	for _, ts := range truth.TeamSessions {
		if ts.RecordStartTime.After(ts.StartTime) || !ts.StartTime.Before(ts.EndTime) || ts.EndTime.After(ts.RecordEndTime) {
			t.Errorf("team session %s: record %v–%v, session %v–%v", ts.ID, ts.RecordStartTime, ts.RecordEndTime, ts.StartTime, ts.EndTime)
		}
		if ts.StartTime.Location() != time.UTC || ts.Created.Location() != time.UTC {
			t.Errorf("team session %s: times not in UTC", ts.ID)
		}
		if len(ts.Participants) != 6 || len(ts.Markers) == 0 {
			t.Errorf("team session %s: %d participants, %d markers", ts.ID, len(ts.Participants), len(ts.Markers))
		}
		for _, m := range ts.Markers {
			if m.EndTime.Before(m.StartTime) || !slices.Contains([]string{"PHASE", "NOTE", "RECOVERY"}, m.MarkerType) {
				t.Errorf("team session %s: marker %+v", ts.ID, m)
			}
		}
	}
	for _, ps := range truth.PlayerSessions {
		if ps.Feeling != nil {
			feelings++
			if strings.HasSuffix(*ps.Feeling, ",") {
				commas++
			}
		}
		if ps.TimezoneOffset == nil {
			noOffset++
		} else if want := cetOffset(ps.StartTime.Add(-time.Duration(*ps.TimezoneOffset) * time.Minute)); *ps.TimezoneOffset != want {
			t.Errorf("%s: timezone_offset %d on %v, want %d", ps.ID, *ps.TimezoneOffset, ps.StartTime, want)
		}
		if !ps.Created.After(ps.StartTime.Add(-2*time.Hour)) || ps.Modified.Before(ps.Created) || !ps.Created.Before(f.s.Now()) {
			t.Errorf("%s: created %v modified %v start %v", ps.ID, ps.Created, ps.Modified, ps.StartTime)
		}
		if ps.RR != nil {
			var sum, n, nulls float64
			for _, r := range ps.RR {
				if r == nil {
					nulls++
					continue
				}
				sum += float64(*r)
				n++
			}
			// The beats fill the session.
			if math.Abs(sum*(1+nulls/n)-float64(ps.DurationMs)) > 0.05*float64(ps.DurationMs) || nulls == 0 {
				t.Errorf("%s: %v ms of RR intervals (%v nulls) in a %d ms session", ps.ID, sum, nulls, ps.DurationMs)
			}
		}
		var prev *Sample
		gpsNull := false
		for i := range ps.Samples {
			s := &ps.Samples[i]
			if s.OffsetMs != int64(i)*100 {
				t.Fatalf("%s row %d: offset %d", ps.ID, i, s.OffsetMs)
			}
			if s.HR != nil && (*s.HR < 60 || *s.HR > 195 || *s.HR != math.Trunc(*s.HR)) {
				t.Errorf("%s row %d: hr %v", ps.ID, i, *s.HR)
			}
			if s.Speed != nil && (*s.Speed < 0 || *s.Speed > 9) {
				t.Errorf("%s row %d: speed %v", ps.ID, i, *s.Speed)
			}
			if s.Cadence != nil && s.Speed != nil && (*s.Speed < 0.3) != (*s.Cadence == 0) {
				t.Errorf("%s row %d: cadence %v at %v m/s", ps.ID, i, *s.Cadence, *s.Speed)
			}
			if prev != nil && s.Speed != nil && prev.Speed != nil {
				dv := (*s.Speed - *prev.Speed) * 10
				if s.ForwardAcceleration != nil && math.Abs(*s.ForwardAcceleration-dv) > 0.011 {
					t.Fatalf("%s row %d: acceleration %v, speed says %v", ps.ID, i, *s.ForwardAcceleration, dv)
				}
				if s.Distance != nil && prev.Distance != nil {
					if d := *s.Distance - *prev.Distance; math.Abs(d-(*s.Speed+*prev.Speed)/2*0.1) > 0.011 {
						t.Fatalf("%s row %d: distance +%v at %v–%v m/s", ps.ID, i, d, *prev.Speed, *s.Speed)
					}
				}
			}
			// GPS moves with the distance run (over a second).
			if a := &ps.Samples[max(i-10, 0)]; i >= 10 && s.Lat != nil && s.Lon != nil && a.Lat != nil && a.Lon != nil && s.Distance != nil && a.Distance != nil {
				moved := haversine(*a.Lat, *a.Lon, *s.Lat, *s.Lon)
				if run := *s.Distance - *a.Distance; moved > run+0.5 {
					t.Fatalf("%s row %d: moved %.2f m in a second, ran %.2f m", ps.ID, i, moved, run)
				}
			}
			if hasField(ps, "lat") && s.Lat == nil && !gpsNull && i > 0 {
				gpsGaps++
			}
			gpsNull = s.Lat == nil
			prev = s
		}
	}
	if commas == 0 || commas == feelings || noOffset == 0 || gpsGaps == 0 {
		t.Errorf("%d feelings, %d with a trailing comma; %d sessions without offset; %d GPS gaps", feelings, commas, noOffset, gpsGaps)
	}
}

func TestDeterministic(t *testing.T) {
	paths := func(d *Dataset) []string {
		out := []string{RouteTeams, "/v1/teams/" + d.Teams[0].ID, "/v1/teams/" + d.Teams[0].ID + "/training_sessions"}
		for _, ps := range d.PlayerSessions[:4] {
			out = append(out, "/v1/training_sessions/"+ps.ID+"?samples=all", "/v1/players/"+ps.PlayerID+"/training_sessions")
		}
		return out
	}
	fetch := func(f *fixture) []string {
		var out []string
		for _, p := range paths(f.s.TruthWithoutSamples()) {
			r := f.get(p)
			out = append(out, string(r.Body))
		}
		return out
	}
	// Samples are compared by diffSamples: cmp on every sample is slow.
	sameSamples := cmp.Comparer(func(x, y []Sample) bool { return diffSamples(x, y) == "" })
	simtest.Deterministic(t, newFixture(t, Options{Seed: 21}), newFixture(t, Options{Seed: 21}), newFixture(t, Options{Seed: 22}), fetch,
		func(f *fixture) any { return f.s.Advance(50 * time.Hour) },
		func(f *fixture) any { return f.s.Truth() }, sameSamples)
}

func TestAdvance(t *testing.T) {
	f := newFixture(t, Options{Seed: 13})
	before := f.s.Truth()
	start := f.s.Now()
	rep := f.s.Advance(48 * time.Hour)
	end := f.s.Now()
	simtest.Window(t, 48*time.Hour, start, rep.From, rep.To, end)
	if len(rep.NewTeamSessions) != 1 || len(rep.NewPlayerSessions) != 6 || len(rep.NewIndividualSessions) != 1 ||
		len(rep.ModifiedTeamSessions) == 0 || len(rep.ModifiedPlayerSessions) < 2 {
		t.Fatalf("report: %+v", rep)
	}
	after := f.s.Truth()
	old := map[string]PlayerSession{}
	for _, ps := range before.PlayerSessions {
		old[ps.ID] = ps
	}
	oldTS := map[string]TeamSession{}
	for _, ts := range before.TeamSessions {
		oldTS[ts.ID] = ts
	}
	inWindow := func(t time.Time) bool { return t.After(start) && !t.After(end) }
	changed := 0
	for _, ps := range after.PlayerSessions {
		o, existed := old[ps.ID]
		switch {
		case slices.Contains(rep.ModifiedPlayerSessions, ps.ID):
			if !inWindow(ps.Modified) || ps.Note == nil || cmp.Equal(o.Note, ps.Note) {
				t.Errorf("modified %s: modified %v, note %v", ps.ID, ps.Modified, ps.Note)
			}
			if diffSamples(o.Samples, ps.Samples) == "" || (o.RR != nil && cmp.Equal(o.RR, ps.RR)) {
				t.Errorf("modified %s: samples or rr unchanged", ps.ID)
			}
			if ps.Summary != nil && !inWindow(ps.Summary.Modified) {
				t.Errorf("modified %s: summary modified %v", ps.ID, ps.Summary.Modified)
			}
			changed++
		case !existed:
			if !inWindow(ps.Created) || ps.Modified != ps.Created {
				t.Errorf("new %s: created %v modified %v", ps.ID, ps.Created, ps.Modified)
			}
			utcStart := ps.StartTime.Add(-time.Duration(cetOffset(start)) * time.Minute)
			if !utcStart.After(start) || !ps.Created.After(utcStart.Add(time.Duration(ps.DurationMs)*time.Millisecond)) {
				t.Errorf("new %s: starts %v (UTC %v), created %v, window %v–%v", ps.ID, ps.StartTime, utcStart, ps.Created, start, end)
			}
		default:
			if d := diffSamples(o.Samples, ps.Samples); d != "" {
				t.Errorf("untouched %s: samples changed: %s", ps.ID, d)
			}
			o.Summary, ps.Summary = nil, nil // a marked team session bumps its summaries
			o.Samples, ps.Samples = nil, nil
			if d := cmp.Diff(o, ps); d != "" {
				t.Errorf("untouched %s changed:\n%s", ps.ID, d)
			}
		}
	}
	if changed != len(rep.ModifiedPlayerSessions) {
		t.Errorf("%d modified sessions found, report says %d", changed, len(rep.ModifiedPlayerSessions))
	}
	for _, id := range rep.ModifiedTeamSessions {
		var ts TeamSession
		for _, x := range after.TeamSessions {
			if x.ID == id {
				ts = x
			}
		}
		if !inWindow(ts.Modified) || len(ts.Markers) != len(oldTS[id].Markers)+1 {
			t.Errorf("team session %s: modified %v, %d markers (was %d)", id, ts.Modified, len(ts.Markers), len(oldTS[id].Markers))
		}
	}
	// The lists show the new sessions past the old now's wall clock.
	since := start.Add(time.Duration(cetOffset(start)) * time.Minute).Format("2006-01-02T15:04:05")
	var items []struct{ ID string }
	items = all[struct{ ID string }](f, "/v1/teams/"+after.Teams[0].ID+"/training_sessions?since="+since, 100)
	if len(items) != 1 || items[0].ID != rep.NewTeamSessions[0] {
		t.Errorf("team sessions since %s: %v", since, items)
	}
	// A non-positive Advance changes nothing; a short one makes no
	// sessions but edits.
	if r := f.s.Advance(0); len(r.NewTeamSessions)+len(r.ModifiedPlayerSessions) != 0 || !f.s.Now().Equal(end) {
		t.Errorf("Advance(0) = %+v", r)
	}
	short := f.s.Advance(10 * time.Minute)
	if len(short.NewTeamSessions)+len(short.NewIndividualSessions) != 0 || len(short.ModifiedPlayerSessions) == 0 {
		t.Errorf("Advance(10m) = %+v", short)
	}
}

func TestTruthIsACopyAndMutate(t *testing.T) {
	f := newFixture(t, Options{Seed: 14})
	tr := f.s.Truth()
	*tr.PlayerSessions[0].Samples[0].Speed = -1
	*tr.PlayerSessions[0].HeartRateMax = -1
	tr.Teams[0].Players[0].FirstName = "changed"
	again := f.s.Truth()
	if *again.PlayerSessions[0].Samples[0].Speed == -1 || *again.PlayerSessions[0].HeartRateMax == -1 || again.Teams[0].Players[0].FirstName == "changed" {
		t.Fatal("editing the truth changed the server")
	}
	lite := f.s.TruthWithoutSamples()
	for _, ps := range lite.PlayerSessions {
		if ps.Samples != nil || ps.RR != nil {
			t.Fatal("TruthWithoutSamples has samples")
		}
	}
	ps := again.PlayerSessions[5]
	samples, rr, found := f.s.SessionSamples(ps.ID)
	if !found || diffSamples(ps.Samples, samples) != "" || !cmp.Equal(rr, ps.RR) {
		t.Error("SessionSamples differs from Truth")
	}
	if _, _, found := f.s.SessionSamples("nope"); found {
		t.Error("SessionSamples of an unknown id")
	}

	// Mutate: wall clocks keep their reading, zoned times become UTC,
	// Fields mask the samples.
	cest := time.FixedZone("CEST", 7200)
	f.s.Mutate(func(d *Dataset) {
		x := &d.PlayerSessions[5]
		x.StartTime = time.Date(2026, 5, 20, 9, 0, 0, 123456789, cest)
		x.Created = time.Date(2026, 5, 20, 12, 0, 0, 0, cest)
		x.Fields = []string{"time", "hr"}
		x.Short, x.Extra = nil, map[int]int{3: 4}
	})
	var w struct{ Data wPlayerSession }
	f.ok("/v1/training_sessions/"+ps.ID+"?samples=all", &w)
	if got := w.Data.StartTime.Time; !got.Equal(time.Date(2026, 5, 20, 9, 0, 0, 123000000, time.UTC)) {
		t.Errorf("wall clock after Mutate: %v", got)
	}
	if got := w.Data.Created.Time; !got.Equal(time.Date(2026, 5, 20, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("created after Mutate: %v", got)
	}
	if len(w.Data.Samples.Values[3]) != 6 || len(w.Data.Samples.Fields) != 2 {
		t.Errorf("row 3: %s; fields %v", w.Data.Samples.Values[3], w.Data.Samples.Fields)
	}
	samples, _, _ = f.s.SessionSamples(ps.ID)
	for _, s := range samples {
		if s.Speed != nil || s.Distance != nil {
			t.Fatal("a field left out of Fields is not null in the truth")
		}
	}

	// MutateSession: samples loaded, edited, served.
	if !f.s.MutateSession(ps.ID, func(x *PlayerSession) {
		if len(x.Samples) == 0 {
			t.Fatal("samples not loaded")
		}
		v := 123.0
		x.Samples[7].HR = &v
		x.Samples[8].Speed = &v // not in Fields: masked
		x.RR = []*int{nil, &[]int{800}[0]}
	}) {
		t.Fatal("MutateSession: session not found")
	}
	f.ok("/v1/training_sessions/"+ps.ID+"?samples=all", &w)
	if string(w.Data.Samples.Values[7][1]) != "123" || len(w.Data.RR) != 2 || w.Data.RR[0] != nil || *w.Data.RR[1] != 800 {
		t.Errorf("after MutateSession: row 7 %s, rr %v", w.Data.Samples.Values[7], w.Data.RR)
	}
	st := rowStats{spellings: map[string]int{}}
	got, _, _ := decodeSamples(t, ps.ID, w.Data.Samples.Fields, w.Data.Samples.Values, &st)
	truth := f.s.Truth()
	for _, x := range truth.PlayerSessions {
		if x.ID == ps.ID && diffSamples(x.Samples, got) != "" {
			t.Error("after MutateSession, wire and truth differ")
		}
	}
	if f.s.MutateSession("nope", func(*PlayerSession) {}) {
		t.Error("MutateSession of an unknown id")
	}

	// Removing a session through Mutate: gone from lists and details.
	f.s.Mutate(func(d *Dataset) {
		d.PlayerSessions = slices.DeleteFunc(d.PlayerSessions, func(x PlayerSession) bool { return x.ID == ps.ID })
	})
	if r := f.get("/v1/training_sessions/" + ps.ID); r.Status != http.StatusNotFound {
		t.Errorf("removed session: %d", r.Status)
	}
}

func TestFaults(t *testing.T) {
	f := newFixture(t, Options{Seed: 15})
	ps := f.s.TruthWithoutSamples().PlayerSessions[0]
	f.get(RouteTeams)
	f.s.SetFaults(Faults{HTTP: fault.HTTP{Storm429: 2, RetryAfter: 3}})
	for range 2 {
		if r := f.get(RouteTeams); r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "3" {
			t.Errorf("storm: %d %q", r.Status, r.Header.Get("Retry-After"))
		}
	}
	if r := f.get(RouteTeams); r.Status != http.StatusOK {
		t.Errorf("after the storm: %d", r.Status)
	}
	if r := f.call(http.MethodGet, RouteTeams, "bad"); r.Status != http.StatusUnauthorized {
		t.Errorf("bad token during faults: %d", r.Status)
	}
	f.s.SetFaults(Faults{HTTP: fault.HTTP{MalformedOnce: "/v1/training_sessions/"}})
	if r := f.get(RouteTeams); !json.Valid(r.Body) {
		t.Error("MalformedOnce broke another path")
	}
	if r := f.get("/v1/training_sessions/" + ps.ID + "?samples=all"); r.Status != http.StatusOK || json.Valid(r.Body) {
		t.Errorf("malformed: %d, valid %v", r.Status, json.Valid(r.Body))
	}
	if r := f.get("/v1/training_sessions/" + ps.ID + "?samples=all"); !json.Valid(r.Body) {
		t.Error("MalformedOnce struck twice")
	}
	f.s.SetFaults(Faults{HTTP: fault.HTTP{ErrorRate: 1}})
	for range 10 {
		if r := f.get(RouteTeams); r.Status < 500 || !json.Valid(r.Body) {
			t.Errorf("ErrorRate 1: %d %s", r.Status, r.Body)
		}
	}
	// Cut connections (a real client sees an unexpected EOF).
	f.s.SetFaults(Faults{HTTP: fault.HTTP{ResetRate: 1}})
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+mount+"/v1/training_sessions/"+ps.ID+"?samples=all", nil)
	req.Header.Set("Authorization", "Bearer "+f.tok)
	resp, err := f.hc.Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("reset: %v", err)
	}
	f.s.SetFaults(Faults{HTTP: fault.HTTP{HangRate: 1, HangFor: 20 * time.Millisecond}})
	req, _ = http.NewRequest(http.MethodGet, f.srv.URL+mount+RouteTeams, nil)
	req.Header.Set("Authorization", "Bearer "+f.tok)
	if resp, err := f.hc.Do(req); err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Error("hang: the body came whole")
		}
	}
	f.s.SetFaults(Faults{})
	if r := f.get(RouteTeams); r.Status != http.StatusOK {
		t.Errorf("faults cleared: %d", r.Status)
	}
	st := f.s.Stats()
	if st.Storm429 != 2 || st.Malformed != 1 || st.ServerErrors != 10 || st.Resets != 1 || st.Hangs != 1 || st.Faults() != 15 || st.RateLimited != 0 || st.Unauthorized != 1 {
		t.Errorf("stats: %+v", st)
	}
	f.s.ResetStats()
	if st := f.s.Stats(); st.Total != 0 || len(st.ByRoute) != 0 {
		t.Errorf("after ResetStats: %+v", st)
	}
}

// TestConcurrent runs requests while Advance and Mutate change the data
// (meaningful under -race).
func TestConcurrent(t *testing.T) {
	f := newFixture(t, Options{Seed: 16, Burst: -1})
	d := f.s.TruthWithoutSamples()
	f.get(RouteTeams)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 8 {
				ps := d.PlayerSessions[(w*8+i)%len(d.PlayerSessions)]
				for _, p := range []string{"/v1/training_sessions/" + ps.ID + "?samples=hr,rr", "/v1/players/" + ps.PlayerID + "/training_sessions", RouteTeams} {
					r := f.call(http.MethodGet, p, f.tok)
					if (r.Status != http.StatusOK && r.Status != http.StatusNotFound) || !json.Valid(r.Body) {
						t.Errorf("%s: %d", p, r.Status)
					}
				}
			}
		})
	}
	for range 3 {
		f.s.Advance(5 * time.Hour)
		f.s.Mutate(func(d *Dataset) { d.Teams[0].Name += "!" })
		f.s.Truth()
	}
	wg.Wait()
	if got := f.s.Stats().Total; got != 1+4*8*3 {
		t.Errorf("Total = %d", got)
	}
}

// BenchmarkSessionDetails serves one 90-minute session with samples=all
// (54,000 rows of every field, RR intervals).
func BenchmarkSessionDetails(b *testing.B) {
	s := New(Options{Seed: 1, ClientID: testClient, ClientSecret: testSecret, Burst: -1})
	var id string
	s.Mutate(func(d *Dataset) {
		ps := &d.PlayerSessions[0]
		id = ps.ID
		src := *s.srcs[id]
		src.rows, src.gps, src.hasPower, src.hasRR = 54000, true, true, true
		s.srcs[id] = &src
		ps.DurationMs = 5400000
		ps.StopTime = ps.StartTime.Add(90 * time.Minute)
		ps.Fields = []string{"time", "distance", "hr", "speed", "cadence", "lat", "lon", "altitude", "forward_acceleration", "power"}
	})
	s.authMu.Lock()
	tok := s.issue(time.Now())
	s.authMu.Unlock()
	var tr tokenReply
	json.Unmarshal(tok.body, &tr)
	req := httptest.NewRequest(http.MethodGet, "/v1/training_sessions/"+id+"?samples=all", nil)
	req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
	for b.Loop() {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
		b.SetBytes(int64(rec.Body.Len()))
	}
}

func BenchmarkNew(b *testing.B) {
	for _, sc := range []scale.Scale{scale.Small, scale.Medium} {
		b.Run(sc.String(), func(b *testing.B) {
			for b.Loop() {
				New(Options{Seed: 1, Scale: sc})
			}
		})
	}
}

// TestAppendFloat: whatever path prints a float, it parses back to the
// same float64.
func TestAppendFloat(t *testing.T) {
	vals := []float64{0, 1, -1, 94, 3.21, -0.4, 55.6700005, 12.5500268, 55.67336654663086, 12.49395084381104,
		0.1, 0.7, 1.0 / 3, 2.0 / 3 * 1e-9, 1e21, -1e-7, 123456789.5, 99999999.9999999, 0.30000000000000004, 6361.5, 1e-7, 5e-8}
	for i := range 100000 {
		vals = append(vals, float64(i)/100, -float64(i)/1e7-55, float64(i)*0.1, float64(float32(float64(i)*1.37e-3)))
	}
	for _, v := range vals {
		s := string(appendFloat(nil, v))
		back, err := strconv.ParseFloat(s, 64)
		if err != nil || back != v {
			t.Fatalf("%v printed as %q parses to %v, %v", v, s, back, err)
		}
		if strings.ContainsAny(s, "e") && math.Abs(v) >= 1e-6 && math.Abs(v) < 1e21 {
			t.Errorf("%v printed as %q", v, s)
		}
	}
	if got := string(appendFloat(nil, 94)); got != "94" {
		t.Errorf("94 printed as %q", got)
	}
	if got := string(appendFloat(nil, math.NaN())); got != "null" {
		t.Errorf("NaN printed as %q", got)
	}
}

// TestHostileMutations: odd data set up through Mutate is served without
// panics, and the wire still equals the truth.
func TestHostileMutations(t *testing.T) {
	f := newFixture(t, Options{Seed: 17})
	ids := f.s.TruthWithoutSamples()
	a, b, c := ids.PlayerSessions[0].ID, ids.PlayerSessions[1].ID, ids.PlayerSessions[2].ID
	f.s.Mutate(func(d *Dataset) {
		for i := range d.PlayerSessions {
			x := &d.PlayerSessions[i]
			switch x.ID {
			case a:
				x.Fields, x.Short, x.Extra = nil, map[int]int{0: 5, -3: 1, 1 << 30: 2}, map[int]int{0: 2, 5: -1}
			case b:
				x.Fields = []string{"hr", "time", "bogus", "hr"}
				x.Short = map[int]int{1: 3}
			case c:
				x.ID = "a/b c%2F"
				x.Samples = []Sample{{OffsetMs: -100}, {OffsetMs: 250}}
				x.RR = []*int{}
			}
		}
	})
	for _, id := range []string{a, b, "a/b c%2F"} {
		for _, q := range []string{"?samples=all", "?samples=hr,rr", ""} {
			r := f.get("/v1/training_sessions/" + url.PathEscape(id) + q)
			var w struct{ Data wPlayerSession }
			if r.Status != http.StatusOK || json.Unmarshal(r.Body, &w) != nil {
				t.Errorf("%s%s: %d %.200s", id, q, r.Status, r.Body)
			}
		}
		if _, _, found := f.s.SessionSamples(id); !found {
			t.Errorf("SessionSamples(%q) not found", id)
		}
	}
	var w struct{ Data wPlayerSession }
	f.ok("/v1/training_sessions/"+url.PathEscape("a/b c%2F")+"?samples=all", &w)
	if len(w.Data.Samples.Values) != 2 || string(w.Data.Samples.Values[0][0]) != `"-PT0.1S"` || w.Data.RR == nil || len(w.Data.RR) != 0 {
		t.Errorf("explicit samples: %+v", w.Data.Samples)
	}
	f.s.Truth()
	f.s.Advance(72 * time.Hour)
	f.s.Advance(-time.Hour)
	f.s.Mutate(func(d *Dataset) { d.Teams = append(d.Teams, Team{ID: "empty"}) })
	f.s.Advance(30 * 24 * time.Hour)
}
