package optimo

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/athlake/athlake/sandbox/internal/scale"
	"github.com/athlake/athlake/sandbox/internal/simtest"
)

const (
	adminToken = "adm_test_0123456789"
	coachToken = "coach_test_abcdef"
	prefix     = "/optimo"
)

// fixture is a server mounted the way the sandbox mounts it.
type fixture struct {
	t   *testing.T
	s   *Server
	srv *httptest.Server
}

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	if o.AdminToken == "" {
		o.AdminToken = adminToken
	}
	if o.CoachToken == "" {
		o.CoachToken = coachToken
	}
	s := New(o)
	return &fixture{t: t, s: s, srv: simtest.Mount(t, prefix, s)}
}

// do sends a request to path (relative to the mount) with basic auth user
// token (none when empty).
func (f *fixture) do(method, path, token, password, body string) simtest.Reply {
	f.t.Helper()
	req := simtest.Request(f.t, method, f.srv.URL+prefix+path, strings.NewReader(body))
	if token != "" {
		req.SetBasicAuth(token, password)
	}
	req.Header.Set("User-Agent", "athlake-test/1")
	return simtest.Do(f.t, f.srv.Client(), req)
}

// requestXML is a method call with its arguments (name, value pairs).
func requestXML(method string, args ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	fmt.Fprintf(&b, `<request method="%s">`, method)
	for i := 0; i+1 < len(args); i += 2 {
		fmt.Fprintf(&b, "<%s>", args[i])
		xml.EscapeText(&b, []byte(args[i+1]))
		fmt.Fprintf(&b, "</%s>", args[i])
	}
	b.WriteString("</request>")
	return b.String()
}

// post calls a method with the token.
func (f *fixture) post(token, method string, args ...string) simtest.Reply {
	f.t.Helper()
	return f.do(http.MethodPost, Endpoint, token, "X", requestXML(method, args...))
}

// node is any XML element with everything inside it.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []node     `xml:",any"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// doc is a decoded response.
type doc struct {
	root   string
	status string
	errors []string
	list   node // the list element of an ok response
}

func decode(body []byte) (doc, error) {
	var n node
	if err := xml.Unmarshal(body, &n); err != nil {
		return doc{}, err
	}
	d := doc{root: n.XMLName.Local, status: n.attr("status")}
	for _, c := range n.Nodes {
		if c.XMLName.Local == "error" {
			d.errors = append(d.errors, c.Text)
		} else {
			d.list = c
		}
	}
	return d, nil
}

// ok decodes an ok list response.
func (f *fixture) ok(r simtest.Reply) doc {
	f.t.Helper()
	d, err := decode(r.Body)
	if err != nil || r.Status != http.StatusOK || d.status != "ok" || d.root != "response" {
		f.t.Fatalf("want an ok response, got %d (%v):\n%s", r.Status, err, r.Body)
	}
	return d
}

// failed decodes a fail response with HTTP status want.
func (f *fixture) failed(r simtest.Reply, want int) doc {
	f.t.Helper()
	d, err := decode(r.Body)
	if err != nil || r.Status != want || d.status != "fail" || d.root != "response" || len(d.errors) == 0 {
		f.t.Fatalf("want a fail response with %d, got %d (%v):\n%s", want, r.Status, err, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/xml") {
		f.t.Errorf("fail response Content-Type %q", ct)
	}
	return d
}

type listAttrs struct{ page, pages, perPage, total int }

func attrsOf(t *testing.T, n node) listAttrs {
	t.Helper()
	var a listAttrs
	for _, p := range []struct {
		name string
		dst  *int
	}{{"page", &a.page}, {"pages", &a.pages}, {"per_page", &a.perPage}, {"total", &a.total}} {
		v, err := strconv.Atoi(n.attr(p.name))
		if err != nil {
			t.Fatalf("<%s> attribute %s = %q", n.XMLName.Local, p.name, n.attr(p.name))
		}
		*p.dst = v
	}
	return a
}

// all pages through a list method with the admin token and returns its
// records, checking the paging attributes on the way.
func (f *fixture) all(method string, perPage int, args ...string) []node {
	f.t.Helper()
	var out []node
	for page := 1; ; page++ {
		d := f.ok(f.post(adminToken, method, append(slices.Clone(args), "page", strconv.Itoa(page), "per_page", strconv.Itoa(perPage))...))
		a := attrsOf(f.t, d.list)
		if want := (a.total + a.perPage - 1) / a.perPage; a.page != page || a.perPage != min(perPage, MaxPerPage) || a.pages != want {
			f.t.Fatalf("%s page %d: attributes %+v", method, page, a)
		}
		out = append(out, d.list.Nodes...)
		if page >= a.pages {
			if len(out) != a.total {
				f.t.Fatalf("%s: %d records, total says %d", method, len(out), a.total)
			}
			return out
		}
		if len(d.list.Nodes) != a.perPage {
			f.t.Fatalf("%s page %d of %d: %d rows", method, page, a.pages, len(d.list.Nodes))
		}
	}
}

// fields reads a record's elements.
type fields struct {
	t    *testing.T
	rec  string
	m    map[string]node
	used map[string]bool
}

func fieldsOf(t *testing.T, n node) *fields {
	t.Helper()
	f := &fields{t: t, rec: n.XMLName.Local, m: map[string]node{}, used: map[string]bool{}}
	for _, c := range n.Nodes {
		if _, dup := f.m[c.XMLName.Local]; dup {
			t.Fatalf("<%s> has two <%s>", f.rec, c.XMLName.Local)
		}
		f.m[c.XMLName.Local] = c
	}
	return f
}

// text is the element's text; ok is false when it is absent or empty
// (nil).
func (f *fields) text(name string) (string, bool) {
	f.used[name] = true
	n, ok := f.m[name]
	if !ok || n.Text == "" {
		return "", false
	}
	return n.Text, true
}

func (f *fields) str(name string) string {
	v, ok := f.text(name)
	if !ok {
		f.t.Errorf("<%s>: <%s> missing or empty", f.rec, name)
	}
	return v
}

func (f *fields) strp(name string) *string {
	if v, ok := f.text(name); ok {
		return &v
	}
	return nil
}

func (f *fields) int64(name string) int64 {
	v, err := strconv.ParseInt(f.str(name), 10, 64)
	if err != nil {
		f.t.Errorf("<%s>: <%s>: %v", f.rec, name, err)
	}
	return v
}

func (f *fields) intp(name string) *int {
	v, ok := f.text(name)
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		f.t.Errorf("<%s>: <%s>: %v", f.rec, name, err)
	}
	return &n
}

func (f *fields) float(name string) float64 {
	v, err := strconv.ParseFloat(f.str(name), 64)
	if err != nil {
		f.t.Errorf("<%s>: <%s>: %v", f.rec, name, err)
	}
	return v
}

func (f *fields) floatp(name string) *float64 {
	if _, ok := f.text(name); !ok {
		return nil
	}
	v := f.float(name)
	return &v
}

func (f *fields) bool(name string) bool {
	switch v := f.str(name); v {
	case "1":
		return true
	case "0":
		return false
	default:
		f.t.Errorf("<%s>: <%s> = %q, want 1 or 0", f.rec, name, v)
		return false
	}
}

func (f *fields) wall(name string) time.Time {
	t, err := time.Parse(WallLayout, f.str(name))
	if err != nil {
		f.t.Errorf("<%s>: <%s>: %v", f.rec, name, err)
	}
	return t
}

func (f *fields) date(name string) *time.Time {
	v, ok := f.text(name)
	if !ok {
		return nil
	}
	t, err := time.Parse(DateLayout, v)
	if err != nil {
		f.t.Errorf("<%s>: <%s>: %v", f.rec, name, err)
	}
	return &t
}

// extra is every element not read yet.
func (f *fields) extra() Extra {
	var x Extra
	for name, n := range f.m {
		if f.used[name] {
			continue
		}
		if len(n.Nodes) > 0 {
			f.t.Errorf("<%s>: unknown element <%s> has children", f.rec, name)
		}
		if x == nil {
			x = Extra{}
		}
		x[name] = n.Text
	}
	return x
}

func wireAthlete(t *testing.T, n node) Athlete {
	f := fieldsOf(t, n)
	return Athlete{
		AthleteID: f.int64("athlete_id"), FirstName: f.str("first_name"), LastName: f.str("last_name"), Email: f.str("email"),
		BirthDate: f.date("birth_date"), Gender: f.str("gender"), HeightCm: f.floatp("height_cm"), WeightKg: f.floatp("weight_kg"),
		BodyFatPercentage: f.intp("body_fat_percentage"), Active: f.bool("active"),
		CreatedAt: f.wall("created_at"), UpdatedAt: f.wall("updated_at"), Extra: f.extra(),
	}
}

func wireCoach(t *testing.T, n node) Coach {
	f := fieldsOf(t, n)
	return Coach{
		CoachID: f.int64("coach_id"), FirstName: f.str("first_name"), LastName: f.str("last_name"), Email: f.str("email"),
		IsAdmin: f.bool("is_admin"), CreatedAt: f.wall("created_at"), UpdatedAt: f.wall("updated_at"), Extra: f.extra(),
	}
}

func wireWorkout(t *testing.T, n node) Workout {
	f := fieldsOf(t, n)
	return Workout{
		WorkoutID: f.int64("workout_id"), AthleteID: f.int64("athlete_id"), Source: f.str("source"), Sport: f.str("sport"),
		StartedAt: f.wall("started_at"), DurationSeconds: f.int64("duration_seconds"), DistanceKm: f.floatp("distance_km"),
		AvgHR: f.intp("avg_hr"), MaxHR: f.intp("max_hr"), Calories: f.intp("calories"), RPE: f.intp("rpe"),
		IntensityPercentage: f.intp("intensity_percentage"), Notes: f.strp("notes"),
		CreatedAt: f.wall("created_at"), UpdatedAt: f.wall("updated_at"), Extra: f.extra(),
	}
}

func wireAssessment(t *testing.T, n node) Assessment {
	f := fieldsOf(t, n)
	a := Assessment{
		AssessmentID: f.int64("assessment_id"), AthleteID: f.int64("athlete_id"), Name: f.str("name"),
		AssessedAt: f.wall("assessed_at"), Notes: f.strp("notes"), CreatedAt: f.wall("created_at"), UpdatedAt: f.wall("updated_at"),
	}
	f.used["results"] = true
	results, ok := f.m["results"]
	if !ok {
		t.Errorf("assessment %d: no <results>", a.AssessmentID)
	}
	for _, rn := range results.Nodes {
		if rn.XMLName.Local != "result" {
			t.Errorf("assessment %d: <%s> in <results>", a.AssessmentID, rn.XMLName.Local)
		}
		rf := fieldsOf(t, rn)
		a.Results = append(a.Results, Result{Metric: rf.str("metric"), Value: rf.float("value"), Unit: rf.str("unit"), Extra: rf.extra()})
	}
	a.Extra = f.extra()
	return a
}

func decodeAll[T any](t *testing.T, nodes []node, dec func(*testing.T, node) T) []T {
	out := make([]T, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, dec(t, n))
	}
	return out
}

// wire reads the whole account through the API.
func (f *fixture) wire(perPage int) *Dataset {
	f.t.Helper()
	return &Dataset{
		Athletes:    decodeAll(f.t, f.all("athlete.list", perPage), wireAthlete),
		Coaches:     decodeAll(f.t, f.all("coach.list", perPage), wireCoach),
		Workouts:    decodeAll(f.t, f.all("workout.list", perPage), wireWorkout),
		Assessments: decodeAll(f.t, f.all("assessment.list", perPage), wireAssessment),
	}
}

func workoutIDs(nodes []node) []int64 {
	var out []int64
	for _, n := range nodes {
		for _, c := range n.Nodes {
			if c.XMLName.Local == "workout_id" || c.XMLName.Local == "assessment_id" || c.XMLName.Local == "athlete_id" && n.XMLName.Local == "athlete" {
				id, _ := strconv.ParseInt(c.Text, 10, 64)
				out = append(out, id)
			}
		}
	}
	return out
}

// TestWireIsTruth reads every record through the API and compares it
// with the truth, value by value.
func TestWireIsTruth(t *testing.T) {
	f := newFixture(t, Options{Seed: 3})
	truth := f.s.Truth()
	if d := cmp.Diff(truth, f.wire(100)); d != "" {
		t.Errorf("wire differs from truth (-truth +wire):\n%s", d)
	}
	// Also after Advance, with small pages.
	f.s.Advance(50 * time.Hour)
	if d := cmp.Diff(f.s.Truth(), f.wire(17)); d != "" {
		t.Errorf("after Advance: wire differs from truth (-truth +wire):\n%s", d)
	}
}

func TestDeterministic(t *testing.T) {
	bodies := func(f *fixture) []string {
		var out []string
		for _, m := range []string{"athlete.list", "coach.list", "workout.list", "assessment.list"} {
			for page := 1; page <= 3; page++ {
				r := f.post(adminToken, m, "page", strconv.Itoa(page), "per_page", "100")
				out = append(out, r.Header.Get("Date")+"\n"+string(r.Body))
			}
		}
		return out
	}
	simtest.Deterministic(t, newFixture(t, Options{Seed: 7}), newFixture(t, Options{Seed: 7}), newFixture(t, Options{Seed: 8}), bodies,
		func(f *fixture) any { return f.s.Advance(36 * time.Hour) },
		func(f *fixture) any { return f.s.Truth() })
}

func TestVolumesAndShapes(t *testing.T) {
	s := New(Options{Seed: 1})
	d := s.Truth()
	if len(d.Athletes) != 25 || len(d.Coaches) != 3 || len(d.Workouts) < 110 || len(d.Workouts) > 200 ||
		len(d.Assessments) < 40 || len(d.Assessments) > 90 {
		t.Errorf("small: %d athletes, %d coaches, %d workouts, %d assessments",
			len(d.Athletes), len(d.Coaches), len(d.Workouts), len(d.Assessments))
	}
	if !d.Coaches[0].IsAdmin {
		t.Error("the first coach is not the admin")
	}
	start, _ := time.Parse(time.RFC3339, DefaultStart)
	if !s.Now().Equal(start) || s.Zone().String() != DefaultZone {
		t.Errorf("now %v, zone %v", s.Now(), s.Zone())
	}
	endWall := wallOf(start, s.Zone())
	sources, sports, metricsSeen := map[string]int{}, map[string]int{}, map[string]int{}
	athletes := map[int64]Athlete{}
	for _, a := range d.Athletes {
		athletes[a.AthleteID] = a
	}
	var first, last time.Time
	for i, w := range d.Workouts {
		sources[w.Source]++
		sports[w.Sport]++
		a, ok := athletes[w.AthleteID]
		if !ok {
			t.Errorf("workout %d of unknown athlete %d", w.WorkoutID, w.AthleteID)
		}
		if i > 0 && w.WorkoutID <= d.Workouts[i-1].WorkoutID {
			t.Errorf("workouts not in id order at %d", w.WorkoutID)
		}
		if i > 0 && w.CreatedAt.Before(d.Workouts[i-1].CreatedAt) {
			t.Errorf("workout %d created before the one with the previous id", w.WorkoutID)
		}
		if !w.CreatedAt.After(w.StartedAt) || w.UpdatedAt.Before(w.CreatedAt) || !w.UpdatedAt.Before(endWall) || w.StartedAt.Before(a.CreatedAt) {
			t.Errorf("workout %d: started %v created %v updated %v (athlete since %v)", w.WorkoutID, w.StartedAt, w.CreatedAt, w.UpdatedAt, a.CreatedAt)
		}
		if w.DurationSeconds < 60 || w.DurationSeconds > 4*3600 {
			t.Errorf("workout %d: %d s", w.WorkoutID, w.DurationSeconds)
		}
		if (w.AvgHR == nil) != (w.MaxHR == nil) || w.AvgHR != nil && (*w.AvgHR >= *w.MaxHR || *w.AvgHR < 80 || *w.MaxHR > 215) {
			t.Errorf("workout %d: avg %v max %v", w.WorkoutID, w.AvgHR, w.MaxHR)
		}
		if w.IntensityPercentage != nil && (w.AvgHR == nil || *w.IntensityPercentage < 40 || *w.IntensityPercentage > 100) {
			t.Errorf("workout %d: intensity %v", w.WorkoutID, *w.IntensityPercentage)
		}
		if w.RPE != nil && (*w.RPE < 1 || *w.RPE > 10) {
			t.Errorf("workout %d: rpe %d", w.WorkoutID, *w.RPE)
		}
		if w.DistanceKm != nil {
			if kmh := *w.DistanceKm / (float64(w.DurationSeconds) / 3600); kmh < 1.5 || kmh > 40 {
				t.Errorf("workout %d (%s): %.1f km/h", w.WorkoutID, w.Sport, kmh)
			}
		}
		if first.IsZero() || w.StartedAt.Before(first) {
			first = w.StartedAt
		}
		if w.StartedAt.After(last) {
			last = w.StartedAt
		}
	}
	if len(sources) != 3 || len(sports) < 6 {
		t.Errorf("sources %v, sports %v", sources, sports)
	}
	// The history spans ~180+ days and crosses both DST changes.
	autumn := time.Date(2025, 10, 26, 0, 0, 0, 0, time.UTC)
	spring := time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)
	if !first.Before(autumn) || !last.After(spring) || endWall.Sub(first) < 180*24*time.Hour {
		t.Errorf("workouts from %v to %v", first, last)
	}
	for _, a := range d.Assessments {
		if n := len(a.Results); n < 2 || n > 6 {
			t.Errorf("assessment %d: %d results", a.AssessmentID, n)
		}
		if a.CreatedAt.Before(a.AssessedAt) || a.UpdatedAt.Before(a.CreatedAt) {
			t.Errorf("assessment %d: assessed %v created %v updated %v", a.AssessmentID, a.AssessedAt, a.CreatedAt, a.UpdatedAt)
		}
		for _, r := range a.Results {
			metricsSeen[r.Metric]++
			if r.Metric == "body_fat" && (r.Value != math.Trunc(r.Value) || r.Unit != "%") {
				t.Errorf("assessment %d: body_fat %v %s", a.AssessmentID, r.Value, r.Unit)
			}
		}
	}
	if len(metricsSeen) < 10 {
		t.Errorf("metrics %v", metricsSeen)
	}
	var inactive, noWeight, fat int
	for _, a := range d.Athletes {
		if !a.Active {
			inactive++
		}
		if a.WeightKg == nil {
			noWeight++
		}
		if a.BodyFatPercentage != nil {
			fat++
		}
	}
	if inactive == 0 || fat == 0 || fat == len(d.Athletes) {
		t.Errorf("%d inactive, %d without weight, %d with body fat", inactive, noWeight, fat)
	}
}

func TestPaging(t *testing.T) {
	f := newFixture(t, Options{Seed: 4})
	truth := f.s.Truth()
	n := len(truth.Workouts)
	var want []int64
	for _, w := range truth.Workouts {
		want = append(want, w.WorkoutID)
	}
	if !slices.IsSorted(want) {
		t.Fatal("truth not in id order")
	}
	for _, per := range []int{7, 100} {
		if d := cmp.Diff(want, workoutIDs(f.all("workout.list", per))); d != "" {
			t.Errorf("per_page %d: ids differ:\n%s", per, d)
		}
	}
	check := func(name string, d doc, want listAttrs, rows int) {
		t.Helper()
		if got := attrsOf(t, d.list); got != want || len(d.list.Nodes) != rows {
			t.Errorf("%s: attributes %+v with %d rows; want %+v with %d", name, got, len(d.list.Nodes), want, rows)
		}
	}
	// Default 25; capped at 100; past the end an empty list.
	check("default", f.ok(f.post(adminToken, "workout.list")), listAttrs{1, (n + 24) / 25, 25, n}, 25)
	check("per_page=1000", f.ok(f.post(adminToken, "workout.list", "per_page", "1000")), listAttrs{1, (n + 99) / 100, 100, n}, 100)
	pages := (n + 99) / 100
	check("last page", f.ok(f.post(adminToken, "workout.list", "per_page", "100", "page", strconv.Itoa(pages))), listAttrs{pages, pages, 100, n}, n-(pages-1)*100)
	check("past the end", f.ok(f.post(adminToken, "workout.list", "per_page", "100", "page", strconv.Itoa(pages+3))), listAttrs{pages + 3, pages, 100, n}, 0)
	check("huge page", f.ok(f.post(adminToken, "workout.list", "page", "9223372036854775807")), listAttrs{math.MaxInt64, (n + 24) / 25, 25, n}, 0)
	check("coaches", f.ok(f.post(adminToken, "coach.list", "per_page", "2", "page", "2")), listAttrs{2, 2, 2, 3}, 1)
	check("nothing", f.ok(f.post(adminToken, "workout.list", "athlete_id", "999999")), listAttrs{1, 0, 25, 0}, 0)
	// Whitespace around values and empty arguments (absent).
	check("spaces", f.ok(f.do(http.MethodPost, Endpoint, adminToken, "X",
		"<request method=\"workout.list\">\n  <page> 2 </page>\n  <per_page>\n10\n</per_page>\n  <athlete_id/>\n</request>")), listAttrs{2, (n + 9) / 10, 10, n}, 10)
}

func TestFilters(t *testing.T) {
	f := newFixture(t, Options{Seed: 5})
	exact := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	var target, targetAthlete int64
	f.s.Mutate(func(d *Dataset) {
		w := &d.Workouts[10]
		w.UpdatedAt = exact
		target = w.WorkoutID
		a := &d.Athletes[4]
		a.UpdatedAt = exact
		targetAthlete = a.AthleteID
	})
	truth := f.s.Truth()
	wantWorkouts := func(keep func(w Workout) bool) []int64 {
		var out []int64
		for _, w := range truth.Workouts {
			if keep(w) {
				out = append(out, w.WorkoutID)
			}
		}
		return out
	}
	ids := func(method string, args ...string) []int64 { return workoutIDs(f.all(method, 100, args...)) }

	// updated_from is inclusive, at an exact value, and takes a date.
	for _, from := range []string{"2026-05-20 12:00:00", "2026-05-20"} {
		at, _ := time.Parse(WallLayout[:len(from)], from)
		want := wantWorkouts(func(w Workout) bool { return !w.UpdatedAt.Before(at) })
		got := ids("workout.list", "updated_from", from)
		if d := cmp.Diff(want, got); d != "" || !slices.Contains(got, target) {
			t.Errorf("updated_from=%s (target %d):\n%s", from, target, d)
		}
	}
	if got := ids("workout.list", "updated_from", "2026-05-20 12:00:01"); slices.Contains(got, target) {
		t.Error("updated_from one second after updated_at still selects the workout")
	}
	var athletesSince []int64
	for _, a := range truth.Athletes {
		if !a.UpdatedAt.Before(exact) {
			athletesSince = append(athletesSince, a.AthleteID)
		}
	}
	if got := ids("athlete.list", "updated_from", "2026-05-20 12:00:00"); !cmp.Equal(athletesSince, got) || !slices.Contains(got, targetAthlete) {
		t.Errorf("athlete.list updated_from: got %v, want %v", got, athletesSince)
	}

	// date_from/date_to on started_at, inclusive; a date-only date_to
	// covers its whole day.
	w := truth.Workouts[20]
	day := w.StartedAt.Truncate(24 * time.Hour)
	exactOnly := ids("workout.list", "date_from", w.StartedAt.Format(WallLayout), "date_to", w.StartedAt.Format(WallLayout))
	if want := wantWorkouts(func(x Workout) bool { return x.StartedAt.Equal(w.StartedAt) }); !cmp.Equal(exactOnly, want) || len(want) == 0 {
		t.Errorf("date_from = date_to = started_at: got %v, want %v", exactOnly, want)
	}
	wholeDay := ids("workout.list", "date_from", day.Format(DateLayout), "date_to", day.Format(DateLayout))
	if want := wantWorkouts(func(x Workout) bool { return x.StartedAt.Truncate(24 * time.Hour).Equal(day) }); !cmp.Equal(wholeDay, want) || !slices.Contains(wholeDay, w.WorkoutID) {
		t.Errorf("one day: got %v, want %v", wholeDay, want)
	}
	lo, hi := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 20, 15, 30, 0, 0, time.UTC)
	got := ids("workout.list", "date_from", "2026-01-10", "date_to", "2026-02-20 15:30:00")
	if want := wantWorkouts(func(x Workout) bool { return !x.StartedAt.Before(lo) && !x.StartedAt.After(hi) }); !cmp.Equal(got, want) || len(want) < 5 {
		t.Errorf("range: got %v, want %v", got, want)
	}
	if d := f.ok(f.post(adminToken, "workout.list", "date_from", "2026-03-01", "date_to", "2026-02-01")); attrsOf(t, d.list).total != 0 {
		t.Error("date_from after date_to is not empty")
	}

	// athlete_id, alone and with the others.
	a := w.AthleteID
	if want := wantWorkouts(func(x Workout) bool { return x.AthleteID == a }); !cmp.Equal(ids("workout.list", "athlete_id", strconv.FormatInt(a, 10)), want) || len(want) == 0 {
		t.Errorf("athlete_id=%d", a)
	}
	combo := ids("workout.list", "athlete_id", strconv.FormatInt(a, 10), "date_from", "2026-01-01", "updated_from", "2026-01-15")
	if want := wantWorkouts(func(x Workout) bool {
		return x.AthleteID == a && !x.StartedAt.Before(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) && !x.UpdatedAt.Before(time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC))
	}); !cmp.Equal(combo, want, cmpopts.EquateEmpty()) {
		t.Errorf("combined filters: got %v, want %v", combo, want)
	}

	// The same filters on assessments (assessed_at).
	as := truth.Assessments[7]
	var wantA []int64
	for _, x := range truth.Assessments {
		if x.AthleteID == as.AthleteID && !x.AssessedAt.Before(as.AssessedAt) {
			wantA = append(wantA, x.AssessmentID)
		}
	}
	gotA := ids("assessment.list", "athlete_id", strconv.FormatInt(as.AthleteID, 10), "date_from", as.AssessedAt.Format(WallLayout))
	if !cmp.Equal(gotA, wantA) || !slices.Contains(gotA, as.AssessmentID) {
		t.Errorf("assessments: got %v, want %v", gotA, wantA)
	}
	wantA = nil
	for _, x := range truth.Assessments {
		if !x.AssessedAt.After(as.AssessedAt) && !x.UpdatedAt.Before(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
			wantA = append(wantA, x.AssessmentID)
		}
	}
	if gotA := ids("assessment.list", "date_to", as.AssessedAt.Format(WallLayout), "updated_from", "2026-01-01"); !cmp.Equal(gotA, wantA, cmpopts.EquateEmpty()) {
		t.Errorf("assessments date_to: got %v, want %v", gotA, wantA)
	}

	// Arguments a method does not take are ignored.
	if got := attrsOf(t, f.ok(f.post(adminToken, "coach.list", "updated_from", "2030-01-01", "athlete_id", "x")).list).total; got != len(truth.Coaches) {
		t.Errorf("coach.list with foreign arguments: %d", got)
	}
	if got := attrsOf(t, f.ok(f.post(adminToken, "athlete.list", "date_from", "nonsense")).list).total; got != len(truth.Athletes) {
		t.Errorf("athlete.list with date_from: %d", got)
	}
}

func TestAuth(t *testing.T) {
	f := newFixture(t, Options{Seed: 6})
	body := requestXML("athlete.list")
	for _, c := range []struct{ name, token string }{{"none", ""}, {"wrong", "nope"}, {"admin+x", adminToken + "x"}, {"prefix", adminToken[:5]}} {
		r := f.do(http.MethodPost, Endpoint, c.token, "X", body)
		d := f.failed(r, http.StatusUnauthorized)
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s: WWW-Authenticate %q", c.name, r.Header.Get("WWW-Authenticate"))
		}
		if strings.Contains(string(r.Body), adminToken) || c.token != "" && strings.Contains(string(r.Body), c.token) {
			t.Errorf("%s: the 401 echoes a token: %s", c.name, d.errors)
		}
	}
	// A bearer header is not basic auth.
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+prefix+Endpoint, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bearer: %d", resp.StatusCode)
	}
	// The password is not checked ("an arbitrary string, like X").
	for _, pw := range []string{"X", "", "anything"} {
		f.ok(f.do(http.MethodPost, Endpoint, adminToken, pw, body))
	}
	// Unauthenticated requests do not spend the quota.
	if got := f.s.QuotaUsed(); got != 3 {
		t.Errorf("quota used %d, want 3 (the 401s are not counted)", got)
	}

	// Coach vs admin on coach.list; the coach reads everything else.
	f.ok(f.post(adminToken, "coach.list"))
	d := f.failed(f.post(coachToken, "coach.list"), http.StatusOK)
	if !strings.Contains(d.errors[0], "admin") {
		t.Errorf("coach on coach.list: %q", d.errors)
	}
	for _, m := range []string{"athlete.list", "workout.list", "assessment.list"} {
		if a, c := f.post(adminToken, m), f.post(coachToken, m); !bytes.Equal(a.Body, c.Body) {
			t.Errorf("%s: the coach sees other data than the admin", m)
		}
	}
	// A server without tokens accepts nobody, not even an empty user.
	none := New(Options{Seed: 1})
	rec := httptest.NewRecorder()
	req = httptest.NewRequest(http.MethodPost, Endpoint, strings.NewReader(body))
	req.SetBasicAuth("", "X")
	none.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("server without tokens: %d", rec.Code)
	}
}

func TestFailResponses(t *testing.T) {
	f := newFixture(t, Options{Seed: 7})
	for _, c := range []struct {
		name, body string
		want       []string // substrings of the errors, in order
	}{
		{"unknown method", requestXML("client.list"), []string{`Unknown method "client.list"`}},
		{"case matters", requestXML("Athlete.List"), []string{"Unknown method"}},
		{"non-numeric page", requestXML("athlete.list", "page", "two"), []string{"page"}},
		{"zero page", requestXML("athlete.list", "page", "0"), []string{"page"}},
		{"negative per_page", requestXML("athlete.list", "per_page", "-5"), []string{"per_page"}},
		{"fractional per_page", requestXML("athlete.list", "per_page", "2.5"), []string{"per_page"}},
		{"two bad arguments", requestXML("workout.list", "page", "x", "date_from", "yesterday"), []string{"page", "date_from"}},
		{"bad date", requestXML("workout.list", "date_to", "2026-02-30"), []string{"date_to"}},
		{"ISO date", requestXML("assessment.list", "updated_from", "2026-05-01T10:00:00Z"), []string{"updated_from"}},
		{"bad athlete", requestXML("workout.list", "athlete_id", "12a"), []string{"athlete_id"}},
		{"not XML", "page=1&per_page=100", []string{"Malformed"}},
		{"empty body", "", []string{"Malformed"}},
		{"truncated", `<request method="athlete.list"><page>1</pa`, []string{"Malformed"}},
		{"wrong root", `<response method="athlete.list"/>`, []string{"Malformed"}},
		{"no method", `<request><page>1</page></request>`, []string{"Missing method"}},
		{"nested argument", `<request method="athlete.list"><page><n>1</n></page></request>`, []string{"page"}},
		{"duplicate argument", `<request method="athlete.list"><page>1</page><page>2</page></request>`, []string{"more than once"}},
		{"two roots", `<request method="athlete.list"/><request method="coach.list"/>`, []string{"Malformed"}},
		{"latin-1", `<?xml version="1.0" encoding="ISO-8859-1"?><request method="athlete.list"/>`, []string{"Malformed"}},
	} {
		r := f.do(http.MethodPost, Endpoint, adminToken, "X", c.body)
		d := f.failed(r, http.StatusOK)
		if len(d.errors) != len(c.want) {
			t.Errorf("%s: errors %q, want %d", c.name, d.errors, len(c.want))
			continue
		}
		for i, w := range c.want {
			if !strings.Contains(d.errors[i], w) {
				t.Errorf("%s: error %q lacks %q", c.name, d.errors[i], w)
			}
		}
	}
	// The vendor's own sample request (declaration in a comment) works.
	f.ok(f.do(http.MethodPost, Endpoint, adminToken, "X", `<!--?xml version="1.0" encoding="utf-8"?--> <request method="coach.list"> <!-- method arguments --> </request>`))

	// Other HTTP methods and paths: XML fail bodies.
	r := f.do(http.MethodGet, Endpoint, adminToken, "X", "")
	f.failed(r, http.StatusMethodNotAllowed)
	if r.Header.Get("Allow") != "POST" {
		t.Errorf("405 Allow = %q", r.Header.Get("Allow"))
	}
	f.failed(f.do(http.MethodPut, Endpoint, adminToken, "X", requestXML("athlete.list")), http.StatusMethodNotAllowed)
	f.failed(f.do(http.MethodPost, "/api/2.1/xml-in/", adminToken, "X", requestXML("athlete.list")), http.StatusNotFound)
	f.failed(f.do(http.MethodPost, "/api/2.0/xml-in", adminToken, "X", requestXML("athlete.list")), http.StatusNotFound)

	// A body over the limit.
	big := `<request method="athlete.list"><notes>` + strings.Repeat("x", maxBody) + `</notes></request>`
	if d := f.failed(f.do(http.MethodPost, Endpoint, adminToken, "X", big), http.StatusOK); !strings.Contains(d.errors[0], "too large") {
		t.Errorf("big body: %q", d.errors)
	}
}

func TestQuota(t *testing.T) {
	cph := New(Options{}).Zone()
	for _, as429 := range []bool{false, true} {
		t.Run(fmt.Sprintf("429=%v", as429), func(t *testing.T) {
			clock := simtest.NewClock(time.Date(2026, 6, 10, 23, 59, 0, 0, cph))
			f := newFixture(t, Options{Seed: 8, DailyQuota: 5, QuotaAs429: as429, Clock: clock.Now})
			// Every authenticated request counts, fail responses included;
			// admin and coach share the account's quota.
			f.ok(f.post(adminToken, "athlete.list"))
			f.failed(f.post(coachToken, "coach.list"), http.StatusOK)
			f.failed(f.post(adminToken, "no.such"), http.StatusOK)
			f.ok(f.post(coachToken, "workout.list"))
			f.ok(f.post(adminToken, "coach.list"))
			if got := f.s.QuotaUsed(); got != 5 {
				t.Fatalf("used %d, want 5", got)
			}
			wantStatus := http.StatusOK
			if as429 {
				wantStatus = http.StatusTooManyRequests
			}
			for range 2 {
				r := f.post(adminToken, "athlete.list")
				d := f.failed(r, wantStatus)
				if !cmp.Equal(d.errors, []string{"Request limit exceeded: 5 requests per day"}) {
					t.Errorf("quota errors %q", d.errors)
				}
				if as429 && r.Header.Get("Retry-After") != "60" {
					t.Errorf("Retry-After %q, want 60 (to local midnight)", r.Header.Get("Retry-After"))
				}
			}
			f.failed(f.post(coachToken, "athlete.list"), wantStatus)
			if got, st := f.s.QuotaUsed(), f.s.Stats(); got != 8 || st.QuotaRefused != 3 {
				t.Errorf("used %d (want 8, refused ones count), refused %d", got, st.QuotaRefused)
			}
			// Midnight in the account's zone (22:00 UTC in summer) resets.
			clock.Set(time.Date(2026, 6, 10, 21, 59, 59, 0, time.UTC))
			f.failed(f.post(adminToken, "athlete.list"), wantStatus)
			clock.Set(time.Date(2026, 6, 10, 22, 0, 0, 0, time.UTC))
			f.ok(f.post(adminToken, "athlete.list"))
			if got := f.s.QuotaUsed(); got != 1 {
				t.Errorf("after midnight used %d, want 1", got)
			}
			f.s.SetQuotaUsed(4)
			f.ok(f.post(adminToken, "athlete.list"))
			f.failed(f.post(adminToken, "athlete.list"), wantStatus)
		})
	}
	// The default quota is 5000.
	f := newFixture(t, Options{Seed: 8})
	f.s.SetQuotaUsed(4999)
	f.ok(f.post(adminToken, "coach.list"))
	if d := f.failed(f.post(adminToken, "coach.list"), http.StatusOK); d.errors[0] != "Request limit exceeded: 5000 requests per day" {
		t.Errorf("default quota: %q", d.errors)
	}
	// The day is the configured zone's.
	clock := simtest.NewClock(time.Date(2026, 6, 10, 23, 30, 0, 0, time.UTC))
	tokyo := time.FixedZone("JST", 9*3600)
	f = newFixture(t, Options{Seed: 8, DailyQuota: 1, Timezone: tokyo, Clock: clock.Now})
	f.ok(f.post(adminToken, "coach.list")) // 08:30 on the 11th in Tokyo
	clock.Set(time.Date(2026, 6, 11, 14, 59, 0, 0, time.UTC))
	f.failed(f.post(adminToken, "coach.list"), http.StatusOK) // 23:59 on the 11th
	clock.Set(time.Date(2026, 6, 11, 15, 0, 0, 0, time.UTC))
	f.ok(f.post(adminToken, "coach.list")) // the 12th
}

func TestRequestRoot(t *testing.T) {
	f := newFixture(t, Options{Seed: 9})
	f.s.SetFaults(Faults{RequestRootRate: 1})
	for _, m := range []string{"athlete.list", "coach.list", "workout.list", "assessment.list"} {
		r := f.post(adminToken, m)
		d, err := decode(r.Body)
		if err != nil || d.root != "request" || d.status != "ok" || len(d.list.Nodes) == 0 {
			t.Errorf("%s: root %q status %q (%v)", m, d.root, d.status, err)
		}
		if !bytes.HasSuffix(r.Body, []byte("</request>\n")) {
			t.Errorf("%s: body does not end with </request>", m)
		}
	}
	// Fail responses keep the response root.
	f.failed(f.post(adminToken, "nope"), http.StatusOK)
	f.s.SetFaults(Faults{RequestRootRate: 0.5})
	roots := map[string]int{}
	for range 60 {
		d, _ := decode(f.post(adminToken, "coach.list").Body)
		roots[d.root]++
	}
	if roots["request"] < 10 || roots["response"] < 10 {
		t.Errorf("RequestRootRate 0.5: roots %v", roots)
	}
	if st := f.s.Stats(); st.RequestRoots != 4+roots["request"] || st.Faults() != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestMalformedHTMLAndErrors(t *testing.T) {
	f := newFixture(t, Options{Seed: 10})
	valid := func(r simtest.Reply) bool { _, err := decode(r.Body); return err == nil }
	f.s.SetFaults(Faults{MalformedOnce: true})
	f.failed(f.post(adminToken, "nope"), http.StatusOK) // fail responses are not broken
	r := f.post(adminToken, "workout.list")
	if r.Status != http.StatusOK || valid(r) || !bytes.HasPrefix(r.Body, []byte("<?xml")) {
		t.Errorf("MalformedOnce: %d, valid %v", r.Status, valid(r))
	}
	for range 3 {
		f.ok(f.post(adminToken, "workout.list"))
	}
	f.s.SetFaults(Faults{MalformedAlways: true})
	for range 3 {
		if r := f.post(adminToken, "athlete.list"); r.Status != http.StatusOK || valid(r) {
			t.Errorf("MalformedAlways: %d, valid %v", r.Status, valid(r))
		}
	}
	f.s.SetFaults(Faults{HTMLOnce: true})
	r = f.post(adminToken, "athlete.list")
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || !bytes.HasPrefix(r.Body, []byte("<!DOCTYPE html>")) {
		t.Errorf("HTMLOnce: %d %q %.40s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	f.ok(f.post(adminToken, "athlete.list"))
	f.s.SetFaults(Faults{ErrorRate: 1})
	statuses := map[int]int{}
	for range 30 {
		statuses[f.post(adminToken, "athlete.list").Status]++
	}
	if statuses[500]+statuses[502]+statuses[503] != 30 || len(statuses) < 2 {
		t.Errorf("ErrorRate 1: %v", statuses)
	}
	f.s.SetFaults(Faults{ErrorRate: 0.3})
	errs := 0
	for range 200 {
		if f.post(adminToken, "coach.list").Status >= 500 {
			errs++
		}
	}
	if errs < 30 || errs > 90 {
		t.Errorf("ErrorRate 0.3: %d of 200", errs)
	}
	// Unauthenticated and over-quota requests are answered before faults.
	if r := f.do(http.MethodPost, Endpoint, "", "", requestXML("coach.list")); r.Status != http.StatusUnauthorized {
		t.Errorf("no token during faults: %d", r.Status)
	}
	f.s.SetFaults(Faults{})
	st := f.s.Stats()
	if st.Malformed != 4 || st.HTMLPages != 1 || st.ServerErrors != 30+errs || st.Faults() != 35+errs {
		t.Errorf("stats %+v", st)
	}
}

func TestEscaping(t *testing.T) {
	f := newFixture(t, Options{Seed: 11})
	hostile := `Ab & <Co> "quoted" 'single' ]]> Ærø ✓ 💪 tab	end`
	var athleteID, workoutID int64
	f.s.Mutate(func(d *Dataset) {
		a := &d.Athletes[0]
		athleteID = a.AthleteID
		a.FirstName, a.LastName = hostile, "O'Brien-Ó Súilleabháin"
		a.Extra = Extra{"custom_field": "<x>&amp;</x>", "bad name": "dropped", "xmlns": "dropped", "ok-2.x": ""}
		w := &d.Workouts[0]
		workoutID = w.WorkoutID
		w.Notes = ptr("line1\r\nline2\nline3 \x01 bell\x07 \xff invalid")
	})
	r := f.post(adminToken, "athlete.list", "per_page", "1")
	for _, raw := range []string{"Ab &amp; &lt;Co&gt; &quot;quoted&quot; &apos;single&apos; ]]&gt;", "O&apos;Brien-Ó Súilleabháin", "<custom_field>&lt;x&gt;&amp;amp;&lt;/x&gt;</custom_field>", "<ok-2.x/>"} {
		if !strings.Contains(string(r.Body), raw) {
			t.Errorf("body lacks %q:\n%s", raw, r.Body)
		}
	}
	if strings.Contains(string(r.Body), "dropped") {
		t.Error("an invalid element name was sent")
	}
	got := wireAthlete(t, f.ok(r).list.Nodes[0])
	if got.AthleteID != athleteID || got.FirstName != hostile || got.LastName != "O'Brien-Ó Súilleabháin" ||
		!cmp.Equal(got.Extra, Extra{"custom_field": "<x>&amp;</x>", "ok-2.x": ""}) {
		t.Errorf("round trip: %+v", got)
	}
	w := wireWorkout(t, f.ok(f.post(adminToken, "workout.list", "per_page", "1")).list.Nodes[0])
	if want := "line1\r\nline2\nline3 \uFFFD bell\uFFFD \uFFFD invalid"; w.WorkoutID != workoutID || w.Notes == nil || *w.Notes != want {
		t.Errorf("notes round trip: %q", *w.Notes)
	}
}

// TestNils: nil values are sent both as empty elements and not at all.
func TestNils(t *testing.T) {
	f := newFixture(t, Options{Seed: 12})
	truth := f.s.Truth()
	var omitted, empty, nils int
	for i, n := range f.all("workout.list", 100) {
		w := truth.Workouts[i]
		present := map[string]node{}
		for _, c := range n.Nodes {
			present[c.XMLName.Local] = c
		}
		for name, isNil := range map[string]bool{"notes": w.Notes == nil, "rpe": w.RPE == nil, "distance_km": w.DistanceKm == nil, "avg_hr": w.AvgHR == nil} {
			if !isNil {
				continue
			}
			nils++
			if c, ok := present[name]; !ok {
				omitted++
			} else if c.Text == "" && len(c.Nodes) == 0 {
				empty++
			} else {
				t.Errorf("workout %d: nil %s sent as %q", w.WorkoutID, name, c.Text)
			}
		}
	}
	if omitted == 0 || empty == 0 || omitted+empty != nils {
		t.Errorf("%d nils: %d omitted, %d empty", nils, omitted, empty)
	}
}

func TestDST(t *testing.T) {
	f := newFixture(t, Options{Seed: 13})
	truth := f.s.Truth()
	cph := f.s.Zone()
	inHour := func(t time.Time, y int, m time.Month, d int) bool {
		return t.Year() == y && t.Month() == m && t.Day() == d && t.Hour() == 2
	}
	var repeatedW, repeatedA, acrossGap []int64
	check := func(kind string, id int64, stamps ...time.Time) {
		for _, s := range stamps {
			if inHour(s, 2026, 3, 29) {
				t.Errorf("%s %d: %v is a skipped reading", kind, id, s)
			}
			if back := wallOf(f.s.WallToUTC(s), cph); !back.Equal(s) {
				t.Errorf("%s %d: %v does not round-trip through WallToUTC (%v)", kind, id, s, back)
			}
		}
	}
	for _, w := range truth.Workouts {
		check("workout", w.WorkoutID, w.StartedAt, w.CreatedAt, w.UpdatedAt)
		if inHour(w.StartedAt, 2025, 10, 26) {
			repeatedW = append(repeatedW, w.WorkoutID)
			// The vendor means the first occurrence (summer time, +02:00).
			if got, want := f.s.WallToUTC(w.StartedAt), w.StartedAt.Add(-2*time.Hour); !got.Equal(want) {
				t.Errorf("workout %d at %v: WallToUTC %v, want %v", w.WorkoutID, w.StartedAt, got, want)
			}
			if !w.CreatedAt.After(w.StartedAt.Add(time.Duration(w.DurationSeconds) * time.Second)) {
				t.Errorf("workout %d: created %v before its end", w.WorkoutID, w.CreatedAt)
			}
		}
		end := f.s.WallToUTC(w.StartedAt).Add(time.Duration(w.DurationSeconds) * time.Second)
		if wallEnd := wallOf(end, cph); wallEnd.Sub(w.StartedAt) != time.Duration(w.DurationSeconds)*time.Second {
			acrossGap = append(acrossGap, w.WorkoutID)
		}
	}
	for _, a := range truth.Assessments {
		check("assessment", a.AssessmentID, a.AssessedAt, a.CreatedAt, a.UpdatedAt)
		if inHour(a.AssessedAt, 2025, 10, 26) {
			repeatedA = append(repeatedA, a.AssessmentID)
		}
	}
	for _, a := range truth.Athletes {
		check("athlete", a.AthleteID, a.CreatedAt, a.UpdatedAt)
	}
	if len(repeatedW) == 0 || len(repeatedA) == 0 || len(acrossGap) == 0 {
		t.Errorf("repeated-hour workouts %v, assessments %v; workouts across the skipped hour %v", repeatedW, repeatedA, acrossGap)
	}
	// The wire sends the reading as it is.
	d := f.ok(f.post(adminToken, "workout.list", "date_from", "2025-10-26 02:00:00", "date_to", "2025-10-26 02:59:59"))
	for _, n := range d.list.Nodes {
		if w := wireWorkout(t, n); !slices.Contains(repeatedW, w.WorkoutID) || w.StartedAt.Hour() != 2 {
			t.Errorf("repeated hour: %+v", w)
		}
	}
	if len(d.list.Nodes) != len(repeatedW) {
		t.Errorf("date filter over the repeated hour: %d of %d", len(d.list.Nodes), len(repeatedW))
	}
	// A skipped reading is read with the offset before the change.
	if got := f.s.WallToUTC(time.Date(2026, 3, 29, 2, 30, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)) {
		t.Errorf("skipped reading: %v", got)
	}
}

func TestZoneFallback(t *testing.T) {
	sys, err := time.LoadLocation(DefaultZone)
	if err != nil {
		t.Skip("no zone database")
	}
	rules := copenhagenRules()
	for at := time.Date(2024, 1, 1, 0, 30, 0, 0, time.UTC); at.Year() < 2028; at = at.Add(time.Hour) {
		n1, o1 := at.In(sys).Zone()
		n2, o2 := at.In(rules).Zone()
		if o1 != o2 || n1 != n2 {
			t.Fatalf("%v: system %s %d, rules %s %d", at, n1, o1, n2, o2)
		}
	}
	if got := len(transitions(rules, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))); got != 2 {
		t.Errorf("%d transitions in 2025", got)
	}
	if d := historyDays(time.UTC, time.Now()); d != MinHistoryDays {
		t.Errorf("history in UTC: %d days", d)
	}
	// A zone without DST works end to end.
	f := newFixture(t, Options{Seed: 1, Timezone: time.UTC})
	if d := cmp.Diff(f.s.Truth(), f.wire(100)); d != "" {
		t.Errorf("UTC account: wire differs from truth:\n%s", d)
	}
}

func TestAdvance(t *testing.T) {
	f := newFixture(t, Options{Seed: 14})
	before := f.s.Truth()
	start := f.s.Now()
	rep := f.s.Advance(36 * time.Hour)
	simtest.Window(t, 36*time.Hour, start, rep.From, rep.To, f.s.Now())
	if len(rep.NewAthletes) != 1 || len(rep.UpdatedAthletes) != 1 || len(rep.NewWorkouts) < 3 || len(rep.UpdatedWorkouts) < 2 ||
		len(rep.NewAssessments) < 1 || len(rep.UpdatedAssessments) < 2 || rep.ChangedResults+rep.RemovedResults != len(rep.UpdatedAssessments) {
		t.Errorf("report %+v", rep)
	}
	after := f.s.Truth()
	loc := f.s.Zone()
	fromWall, toWall := wallOf(rep.From, loc), wallOf(rep.To, loc)
	since := fromWall.Add(time.Second).Format(WallLayout)

	// updated_from just after the old now finds exactly the new and the
	// updated records.
	for _, c := range []struct {
		method string
		want   []int64
	}{
		{"workout.list", append(slices.Clone(rep.NewWorkouts), rep.UpdatedWorkouts...)},
		{"assessment.list", append(slices.Clone(rep.NewAssessments), rep.UpdatedAssessments...)},
		{"athlete.list", append(slices.Clone(rep.NewAthletes), rep.UpdatedAthletes...)},
	} {
		got := workoutIDs(f.all(c.method, 100, "updated_from", since))
		slices.Sort(c.want)
		if d := cmp.Diff(c.want, got); d != "" {
			t.Errorf("%s updated_from %s:\n%s", c.method, since, d)
		}
	}
	old := map[int64]Workout{}
	for _, w := range before.Workouts {
		old[w.WorkoutID] = w
	}
	maxOld := before.Workouts[len(before.Workouts)-1].WorkoutID
	for _, w := range after.Workouts {
		switch {
		case slices.Contains(rep.NewWorkouts, w.WorkoutID):
			if w.WorkoutID <= maxOld || !w.CreatedAt.After(fromWall) || w.CreatedAt.After(toWall) || w.UpdatedAt != w.CreatedAt {
				t.Errorf("new workout %d: created %v", w.WorkoutID, w.CreatedAt)
			}
		case slices.Contains(rep.UpdatedWorkouts, w.WorkoutID):
			o := old[w.WorkoutID]
			if !w.UpdatedAt.After(fromWall) || w.UpdatedAt.After(toWall) || cmp.Equal(o.Notes, w.Notes) && cmp.Equal(o.RPE, w.RPE) {
				t.Errorf("updated workout %d: %+v -> %+v", w.WorkoutID, o, w)
			}
			o.Notes, o.RPE, o.UpdatedAt = w.Notes, w.RPE, w.UpdatedAt
			if d := cmp.Diff(o, w); d != "" {
				t.Errorf("updated workout %d changed more than notes/rpe:\n%s", w.WorkoutID, d)
			}
		default:
			if d := cmp.Diff(old[w.WorkoutID], w); d != "" {
				t.Errorf("workout %d changed:\n%s", w.WorkoutID, d)
			}
		}
	}
	oldA := map[int64]Assessment{}
	for _, a := range before.Assessments {
		oldA[a.AssessmentID] = a
	}
	removed := 0
	for _, a := range after.Assessments {
		if o, ok := oldA[a.AssessmentID]; ok && slices.Contains(rep.UpdatedAssessments, a.AssessmentID) {
			if cmp.Equal(o.Results, a.Results) || !a.UpdatedAt.After(fromWall) {
				t.Errorf("updated assessment %d: results unchanged or not stamped", a.AssessmentID)
			}
			removed += len(o.Results) - len(a.Results)
		}
	}
	if removed != rep.RemovedResults {
		t.Errorf("%d results removed, report says %d", removed, rep.RemovedResults)
	}

	// Nothing moves without Advance; a sub-second Advance is a no-op.
	if r := f.s.Advance(500 * time.Millisecond); len(r.NewWorkouts) != 0 || !f.s.Now().Equal(rep.To) {
		t.Errorf("Advance(0.5s) = %+v", r)
	}
	if d := cmp.Diff(after, f.s.Truth()); d != "" {
		t.Errorf("Advance(0.5s) changed the data:\n%s", d)
	}
	// A short window updates but imports no workouts.
	if short := f.s.Advance(10 * time.Minute); len(short.NewWorkouts) != 0 || len(short.UpdatedWorkouts) == 0 {
		t.Errorf("Advance(10m) = %+v", short)
	}
	// A long one imports some workouts that started before the window.
	long := f.s.Advance(20 * 24 * time.Hour)
	late := 0
	for _, w := range f.s.Truth().Workouts {
		if slices.Contains(long.NewWorkouts, w.WorkoutID) && !w.StartedAt.After(wallOf(long.From, loc)) {
			late++
		}
	}
	if late == 0 || len(long.NewWorkouts) < 10 {
		t.Errorf("20 days: %d new workouts, %d started before the window", len(long.NewWorkouts), late)
	}
}

// TestAdvanceAcrossAutumn: stamps made during the repeated hour are never
// its second occurrence.
func TestAdvanceAcrossAutumn(t *testing.T) {
	s := New(Options{Seed: 15, Start: time.Date(2026, 10, 24, 12, 0, 0, 0, time.UTC)})
	for range 12 {
		s.Advance(10 * time.Hour)
	}
	d := s.Truth()
	for _, w := range d.Workouts {
		for _, st := range []time.Time{w.StartedAt, w.CreatedAt, w.UpdatedAt} {
			if back := wallOf(s.WallToUTC(st), s.Zone()); !back.Equal(st) {
				t.Errorf("workout %d: %v", w.WorkoutID, st)
			}
		}
		if w.UpdatedAt.Before(w.CreatedAt) || !w.CreatedAt.After(w.StartedAt) {
			t.Errorf("workout %d: started %v created %v updated %v", w.WorkoutID, w.StartedAt, w.CreatedAt, w.UpdatedAt)
		}
	}
	// Inside the second occurrence of the repeated hour nothing is stamped.
	s = New(Options{Seed: 15, Start: time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC)})
	before := s.Truth()
	if r := s.Advance(59 * time.Minute); len(r.UpdatedWorkouts)+len(r.NewAthletes) != 0 {
		t.Errorf("Advance inside the repeated hour's second occurrence: %+v", r)
	}
	if d := cmp.Diff(before, s.Truth()); d != "" {
		t.Errorf("data changed:\n%s", d)
	}
}

func TestTruthIsACopyAndMutate(t *testing.T) {
	f := newFixture(t, Options{Seed: 16})
	tr := f.s.Truth()
	for i := range tr.Workouts {
		if tr.Workouts[i].RPE != nil {
			*tr.Workouts[i].RPE = -1
		}
		if tr.Workouts[i].Extra != nil {
			tr.Workouts[i].Extra["device"] = "changed"
		}
	}
	tr.Assessments[0].Results[0].Value = -99
	tr.Athletes[0].FirstName = "changed"
	again := f.s.Truth()
	for _, w := range again.Workouts {
		if w.RPE != nil && *w.RPE == -1 || w.Extra["device"] == "changed" {
			t.Fatal("editing the truth changed the server")
		}
	}
	if again.Assessments[0].Results[0].Value == -99 || again.Athletes[0].FirstName == "changed" {
		t.Error("editing the truth changed the server")
	}

	// Mutate: a zoned time becomes its wall reading, sub-seconds go, the
	// order is by id.
	zoned := time.Date(2026, 5, 31, 23, 50, 0, 123456789, time.FixedZone("X", 5*3600))
	f.s.Mutate(func(d *Dataset) {
		w := d.Workouts[1]
		w.WorkoutID = 100 // before every other
		w.CreatedAt, w.UpdatedAt = zoned, zoned
		d.Workouts = append(d.Workouts, w)
		d.Assessments[0].Results = d.Assessments[0].Results[:1]
	})
	truth := f.s.Truth()
	if w := truth.Workouts[0]; w.WorkoutID != 100 || !w.UpdatedAt.Equal(time.Date(2026, 5, 31, 23, 50, 0, 0, time.UTC)) || w.UpdatedAt.Location() != time.UTC {
		t.Errorf("mutated workout: %d %v", w.WorkoutID, w.UpdatedAt)
	}
	got := workoutIDs(f.all("workout.list", 100, "updated_from", "2026-05-31 23:50:00"))
	if !slices.Contains(got, 100) {
		t.Errorf("updated_from misses the mutated workout: %v", got)
	}
	if d := cmp.Diff(truth, f.wire(100)); d != "" {
		t.Errorf("after Mutate: wire differs from truth:\n%s", d)
	}
}

func TestStats(t *testing.T) {
	f := newFixture(t, Options{Seed: 17})
	f.post(adminToken, "athlete.list")
	f.post(adminToken, "athlete.list", "page", "2")
	f.post(coachToken, "coach.list")
	f.post(adminToken, "nope")
	f.do(http.MethodPost, Endpoint, adminToken, "X", "garbage")
	f.do(http.MethodPost, Endpoint, "", "", requestXML("athlete.list"))
	f.do(http.MethodGet, Endpoint, adminToken, "X", "")
	st := f.s.Stats()
	want := map[string]int{"athlete.list": 2, "coach.list": 1, "nope": 1, "": 1}
	if st.Total != 7 || !cmp.Equal(st.ByMethod, want) || st.Unauthorized != 1 || st.Fails != 4 {
		t.Errorf("stats = %+v, want total 7, by method %v, 1 unauthorized, 4 fails", st, want)
	}
	st.ByMethod["x"] = 9 // a copy
	if f.s.Stats().ByMethod["x"] != 0 {
		t.Error("Stats shares its map")
	}
	f.s.ResetStats()
	if st := f.s.Stats(); st.Total != 0 || len(st.ByMethod) != 0 || f.s.QuotaUsed() != 5 {
		t.Errorf("after reset: %+v, quota %d", st, f.s.QuotaUsed())
	}
}

// TestConcurrent runs requests while Advance and Mutate change the data
// (meaningful under -race).
func TestConcurrent(t *testing.T) {
	f := newFixture(t, Options{Seed: 18})
	f.s.SetFaults(Faults{RequestRootRate: 0.2})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 15 {
				r := f.post(adminToken, "workout.list", "page", strconv.Itoa(1+(w+i)%3), "per_page", "50")
				if d, err := decode(r.Body); err != nil || d.status != "ok" {
					t.Errorf("%d %s", r.Status, r.Body)
				}
			}
		})
	}
	for range 5 {
		f.s.Advance(2 * time.Hour)
		f.s.Mutate(func(d *Dataset) { d.Workouts[0].UpdatedAt = d.Workouts[0].UpdatedAt.Add(time.Second) })
		f.s.Truth()
		f.s.QuotaUsed()
	}
	wg.Wait()
	if got := f.s.Stats().Total; got != 120 {
		t.Errorf("Total = %d, want 120", got)
	}
}

// TestBackfillRequests counts the requests of a full backfill at 100 rows
// a page (the small scale: the demo).
func TestBackfillRequests(t *testing.T) {
	f := newFixture(t, Options{Seed: 1})
	d := f.s.Truth()
	want := 0
	for _, n := range []int{len(d.Athletes), len(d.Coaches), len(d.Workouts), len(d.Assessments)} {
		want += max((n+99)/100, 1)
	}
	f.wire(100)
	if got := f.s.Stats().Total; got != want || want > 10 {
		t.Errorf("backfill took %d requests, want %d", got, want)
	}
}

func BenchmarkNewLarge(b *testing.B) {
	for b.Loop() {
		New(Options{Seed: 1, Scale: scale.Large})
	}
}

func BenchmarkListWorkouts(b *testing.B) {
	s := New(Options{Seed: 1, Scale: scale.Medium, AdminToken: adminToken, DailyQuota: math.MaxInt})
	body := requestXML("workout.list", "page", "11", "per_page", "100", "updated_from", "2025-12-01")
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, Endpoint, strings.NewReader(body))
		req.SetBasicAuth(adminToken, "X")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		b.SetBytes(int64(rec.Body.Len()))
	}
}

// FuzzRequest: whatever the body, the server answers well-formed XML (an
// ok or a fail response) and does not panic.
func FuzzRequest(f *testing.F) {
	f.Add(requestXML("workout.list", "page", "2", "per_page", "100", "date_from", "2026-01-01", "updated_from", "2026-02-01 10:00:00"))
	f.Add(requestXML("athlete.list", "athlete_id", "1001"))
	f.Add(`<request method="coach.list"><page>9223372036854775807</page></request>`)
	f.Add(`<request method="x"><a><b>1</b></a></request>`)
	f.Add(`<?xml version="1.0"?><!DOCTYPE request [<!ENTITY e "x">]><request method="athlete.list">&e;</request>`)
	f.Add("\xff\xfe<")
	s := New(Options{Seed: 1, AdminToken: adminToken, DailyQuota: math.MaxInt})
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, Endpoint, strings.NewReader(body))
		req.SetBasicAuth(adminToken, "X")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		d, err := decode(rec.Body.Bytes())
		if rec.Code != http.StatusOK || err != nil || d.root != "response" || (d.status != "ok" && d.status != "fail") || d.status == "fail" && len(d.errors) == 0 {
			t.Fatalf("%q: %d %v\n%s", body, rec.Code, err, rec.Body.Bytes())
		}
	})
}

// FuzzText: any string is sent as XML text that reads back as itself,
// with what XML cannot carry replaced by U+FFFD.
func FuzzText(f *testing.F) {
	for _, s := range []string{"", "a&b<c>d\"e'f", "\r\n\t", "\x00\x1f\x7f", "\xff", "💪 ✓ Ærø", "]]>", "\ufffe\uffff\U0010FFFF"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := append([]byte("<a>"), appendText(nil, s)...)
		b = append(b, "</a>"...)
		var got struct {
			Text string `xml:",chardata"`
		}
		if err := xml.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q: %v in %s", s, err, b)
		}
		var want strings.Builder
		for i, r := range s {
			if r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") || r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r >= 0x80 && !xmlChar(r) {
				r = '\uFFFD'
			}
			want.WriteRune(r)
		}
		if got.Text != want.String() {
			t.Fatalf("%q: read back %q, want %q", s, got.Text, want.String())
		}
	})
}
