package optimo

import (
	"bytes"
	"cmp"
	"crypto/subtle"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/athlake/athlake/sandbox/internal/httpw"
	"github.com/athlake/athlake/sandbox/internal/simstate"
	"github.com/athlake/athlake/sandbox/internal/stats"
)

// maxBody bounds a request body; a longer one is a fail response.
const maxBody = 1 << 20

// Server simulates the Optimo Sport API. Its handler serves Endpoint
// relative to the mount point: mount it with http.StripPrefix. It is safe
// for concurrent use.
//
// Now is the virtual clock (an instant, in UTC; the quota's day is taken
// on Options.Clock instead); Truth returns a deep copy of the data,
// exactly what the API serves; Mutate changes it under the lock, to set
// up any situation (exact stamps, odd names, removed results, Extra
// elements...), after which every time is brought to the wire's form (its
// own wall-clock reading, in the UTC location, whole seconds), the records
// are sorted by id and the indexes are rebuilt. Stats counts the requests
// (ResetStats leaves the quota alone).
type Server struct {
	stateAccess // Now, Truth, Mutate
	counts      // Stats, ResetStats

	admin, coach string
	loc          *time.Location
	quota        int
	quotaAs429   bool
	clock        func() time.Time
	params       params // the scale's volumes, the rates Advance keeps up
	days         int    // the generated history's span
	wire         wire
	recordCalls  bool

	st *simstate.State[Dataset, *index]

	quotaMu   sync.Mutex // guards quotaDay, quotaUsed
	quotaDay  string     // YYYY-MM-DD in loc
	quotaUsed int

	faultMu sync.Mutex // guards faults, frng
	faults  Faults
	frng    *rand.Rand

	stats *stats.Counter[Stats]

	callsMu sync.Mutex
	calls   []Call
}

// Call is an answered list call (Options.RecordCalls): its method and
// arguments as received (empty ones left out).
type Call struct {
	Method string
	Args   map[string]string
}

// Calls returns the list calls answered so far (Options.RecordCalls), quota
// refusals and faults not included.
func (s *Server) Calls() []Call {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	return slices.Clone(s.calls)
}

// SetDailyQuota changes the requests allowed per day (as when the vendor
// raises an account's limit); 0 restores DefaultDailyQuota.
func (s *Server) SetDailyQuota(n int) {
	s.quotaMu.Lock()
	defer s.quotaMu.Unlock()
	if n <= 0 {
		n = DefaultDailyQuota
	}
	s.quota = n
}

// What the server shares with the other simulators, embedded under
// unexported names.
type (
	stateAccess = simstate.Access[Dataset, *index]
	counts      = stats.Counts[Stats]
)

// Stats counts the requests the server received.
type Stats struct {
	Total int // every request, whatever its answer
	// ByMethod counts the authenticated requests to the endpoint by their
	// method attribute ("" when the request XML names none or is
	// malformed), quota refusals included.
	ByMethod     map[string]int
	Unauthorized int // answered 401
	QuotaRefused int // refused for the daily quota (fail response or 429)
	Fails        int // other fail responses (unknown method, bad argument, coach.list for a coach, bad XML, 404, 405)
	// Injected faults by kind.
	ServerErrors int // 500/502/503s of Faults.ErrorRate
	Malformed    int // truncated XML of MalformedOnce/MalformedAlways
	HTMLPages    int // HTML error pages of HTMLOnce
	// RequestRoots counts the ok responses whose root element was request
	// (Faults.RequestRootRate): valid answers, not faults.
	RequestRoots int
}

// Faults returns the number of injected faults (the request roots are
// not faults: the vendor's own sample has them).
func (s Stats) Faults() int { return s.ServerErrors + s.Malformed + s.HTMLPages }

// New generates the account's data for o.Seed and o.Scale and returns its
// server. The same options give the same data.
func New(o Options) *Server {
	start := o.Start
	if start.IsZero() {
		start, _ = time.Parse(time.RFC3339, DefaultStart)
	}
	start = start.UTC().Truncate(time.Second)
	loc := o.Timezone
	if loc == nil {
		loc = defaultZone()
	}
	quota := o.DailyQuota
	if quota <= 0 {
		quota = DefaultDailyQuota
	}
	clock := o.Clock
	if clock == nil {
		clock = time.Now
	}
	seed := uint64(o.Seed)
	s := &Server{
		admin:       o.AdminToken,
		coach:       o.CoachToken,
		loc:         loc,
		quota:       quota,
		quotaAs429:  o.QuotaAs429,
		clock:       clock,
		frng:        rand.New(rand.NewPCG(seed, 0x6f7074696d6f0002)),
		stats:       stats.New(func(st *Stats) *map[string]int { return &st.ByMethod }),
		wire:        wire{hostile: o.HostileIDs, stamp: cmp.Or(o.StampName, "updated_at")},
		recordCalls: o.RecordCalls,
	}
	days := historyDays(loc, start)
	s.params, s.days = paramsFor(o.Scale), days
	s.st = simstate.New(start, rand.New(rand.NewPCG(seed, 0x6f7074696d6f0001)),
		func(r *rand.Rand) Dataset {
			return generate(newGen(r, loc, start.Add(-time.Duration(days+4*365)*24*time.Hour), start), s.params, start, days)
		},
		simstate.Hooks[Dataset, *index]{Clone: (*Dataset).Clone, Normalize: (*Dataset).normalize, Index: buildIndex})
	s.stateAccess, s.counts = s.st.Access(), s.stats.Counts()
	return s
}

// Zone is the account's wall-clock zone.
func (s *Server) Zone() *time.Location { return s.loc }

// WallToUTC is the instant a wall-clock reading of the account means: a
// reading in an autumn change's repeated hour is its first occurrence
// (the offset before the change); a skipped reading (none is ever served)
// is read with the offset before the spring change.
func (s *Server) WallToUTC(wall time.Time) time.Time { return wallToUTC(wall, s.loc) }

// response is a computed answer.
type response struct {
	httpStatus int
	status     string // ok or fail
	inner      []byte // the root element's content
	header     map[string]string
}

func fail(httpStatus int, msgs ...string) response {
	var inner []byte
	for _, m := range msgs {
		inner = append(inner, "<error>"...)
		inner = appendText(inner, m)
		inner = append(inner, "</error>\n"...)
	}
	return response{httpStatus: httpStatus, status: "fail", inner: inner}
}

// write sends resp with root as the root element.
func (s *Server) write(w http.ResponseWriter, resp response, root string) {
	s.writeBody(w, resp.httpStatus, "application/xml; charset=utf-8", resp.header, document(root, resp.status, resp.inner))
}

// writeBody sends a complete response of contentType, dated by the virtual
// clock.
func (s *Server) writeBody(w http.ResponseWriter, status int, contentType string, header map[string]string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	httpw.Write(w, s.Now(), status, header, body)
}

// role is who a token belongs to.
type role int

const (
	nobody role = iota
	admin
	coach
)

func (s *Server) authenticate(r *http.Request) role {
	user, _, ok := r.BasicAuth() // the password is not checked: "an arbitrary string"
	if !ok || user == "" {
		return nobody
	}
	if s.admin != "" && subtle.ConstantTimeCompare([]byte(user), []byte(s.admin)) == 1 {
		return admin
	}
	if s.coach != "" && subtle.ConstantTimeCompare([]byte(user), []byte(s.coach)) == 1 {
		return coach
	}
	return nobody
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.stats.Count(func(st *Stats) { st.Total++ })
	if r.URL.Path != Endpoint {
		s.stats.Count(func(st *Stats) { st.Fails++ })
		s.write(w, fail(http.StatusNotFound, "Not found: the API's single entry point is POST "+Endpoint), "response")
		return
	}
	if r.Method != http.MethodPost {
		s.stats.Count(func(st *Stats) { st.Fails++ })
		resp := fail(http.StatusMethodNotAllowed, "Method not allowed: send the request XML with POST")
		resp.header = map[string]string{"Allow": http.MethodPost}
		s.write(w, resp, "response")
		return
	}
	who := s.authenticate(r)
	if who == nobody {
		s.stats.Count(func(st *Stats) { st.Unauthorized++ })
		resp := fail(http.StatusUnauthorized, "Authentication failed: send your API token as the HTTP basic auth user name")
		resp.header = map[string]string{"WWW-Authenticate": `Basic realm="Optimo Sport API"`}
		s.write(w, resp, "response")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	var c call
	var errs []string
	switch {
	case err != nil:
		errs = []string{"Could not read the request body"}
	case len(body) > maxBody:
		errs = []string{fmt.Sprintf("Request too large: at most %d bytes", maxBody)}
	default:
		c, errs = parseRequest(body)
	}
	s.stats.Count(func(st *Stats) { st.ByMethod[c.method]++ })

	if ok, quota := s.spend(); !ok {
		s.stats.Count(func(st *Stats) { st.QuotaRefused++ })
		resp := fail(http.StatusOK, fmt.Sprintf("Request limit exceeded: %d requests per day", quota))
		if s.quotaAs429 {
			resp.httpStatus = http.StatusTooManyRequests
			resp.header = map[string]string{"Retry-After": strconv.Itoa(s.untilMidnight())}
		}
		s.write(w, resp, "response")
		return
	}
	if s.serverError(w) {
		return
	}
	var resp response
	if errs != nil {
		resp = fail(http.StatusOK, errs...)
	} else {
		resp = s.handle(c, who)
	}
	if resp.status != "ok" {
		s.stats.Count(func(st *Stats) { st.Fails++ })
		s.write(w, resp, "response")
		return
	}
	if s.recordCalls {
		s.callsMu.Lock()
		s.calls = append(s.calls, Call{Method: c.method, Args: maps.Clone(c.args)})
		s.callsMu.Unlock()
	}
	s.respondOK(w, resp)
}

// call is a parsed request.
type call struct {
	method string
	args   map[string]string // trimmed text; empty elements are absent
}

// parseRequest reads <request method="..."><arg>text</arg>...</request>.
func parseRequest(body []byte) (call, []string) {
	c := call{args: map[string]string{}}
	d := xml.NewDecoder(bytes.NewReader(body))
	malformed := func(err error) []string {
		return []string{"Malformed request XML: " + err.Error()}
	}
	var root *xml.StartElement
	for root == nil {
		tok, err := d.Token()
		if err == io.EOF {
			return c, []string{"Malformed request XML: no request element"}
		}
		if err != nil {
			return c, malformed(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			root = &t
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return c, []string{"Malformed request XML: text outside the request element"}
			}
		}
	}
	if root.Name.Local != "request" {
		return c, []string{fmt.Sprintf("Malformed request XML: the root element is %q, want request", root.Name.Local)}
	}
	for _, a := range root.Attr {
		if a.Name.Local == "method" {
			c.method = strings.TrimSpace(a.Value)
		}
	}
	var errs []string
	seen := map[string]bool{}
	for done := false; !done; {
		tok, err := d.Token()
		if err != nil {
			return c, malformed(err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			done = true // the decoder checks that it closes request
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				errs = append(errs, "Malformed request XML: text directly inside the request element")
			}
		case xml.StartElement:
			name := t.Name.Local
			text, nested, err := argText(d)
			if err != nil {
				return c, malformed(err)
			}
			switch {
			case nested:
				errs = append(errs, fmt.Sprintf("Invalid argument %q: expected text, not elements", name))
			case seen[name]:
				errs = append(errs, fmt.Sprintf("Invalid argument %q: given more than once", name))
			default:
				seen[name] = true
				if text != "" {
					c.args[name] = text
				}
			}
		}
	}
	// Only comments, processing instructions and space may follow.
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return c, malformed(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return c, []string{"Malformed request XML: more than one root element"}
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return c, []string{"Malformed request XML: text after the request element"}
			}
		}
	}
	if c.method == "" {
		errs = append([]string{"Missing method: the request element needs a method attribute"}, errs...)
	}
	return c, errs
}

// argText reads an argument element's text up to its end; nested reports
// child elements.
func argText(d *xml.Decoder) (text string, nested bool, err error) {
	var b strings.Builder
	for depth := 1; depth > 0; {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", false, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			nested = true
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 1 {
				b.Write(t)
			}
		}
	}
	return strings.TrimSpace(b.String()), nested, nil
}

// The list methods: the list element, its items, and the filters each
// takes.
type method struct {
	list, item string
	filters    []string
}

func methodByName(name string) (method, bool) {
	switch name {
	case "athlete.list":
		return method{"athletes", "athlete", []string{"updated_from"}}, true
	case "coach.list":
		return method{"coaches", "coach", nil}, true
	case "workout.list":
		return method{"workouts", "workout", []string{"athlete_id", "date_from", "date_to", "updated_from"}}, true
	case "assessment.list":
		return method{"assessments", "assessment", []string{"athlete_id", "date_from", "date_to", "updated_from"}}, true
	}
	return method{}, false
}

// query is a list call's validated arguments.
type query struct {
	page, perPage int
	athleteArg    string // the athlete_id argument, resolved by handle
	athleteID     int64
	byAthlete     bool
	from, to      time.Time // inclusive bounds on started_at / assessed_at (zero: none)
	updatedFrom   time.Time // inclusive (zero: none)
}

func (s *Server) handle(c call, who role) response {
	m, ok := methodByName(c.method)
	if !ok {
		return fail(http.StatusOK, fmt.Sprintf("Unknown method %q", c.method))
	}
	if c.method == "coach.list" && who != admin {
		return fail(http.StatusOK, "Access denied: coach.list needs the account's admin token")
	}
	q, errs := parseQuery(c.args, m.filters)
	if errs != nil {
		return fail(http.StatusOK, errs...)
	}
	s.st.RLock()
	defer s.st.RUnlock()
	if q.byAthlete {
		id, ok := s.athleteByWire(q.athleteArg)
		if !ok && !s.wire.hostile {
			return fail(http.StatusOK, fmt.Sprintf("Invalid value for athlete_id: %q is not a whole number", q.athleteArg))
		}
		if !ok {
			id = -1 // no athlete has it: an empty list
		}
		q.athleteID = id
	}
	return s.list(m, q)
}

// parseQuery validates the arguments a method takes (others are ignored).
func parseQuery(args map[string]string, filters []string) (query, []string) {
	q := query{page: 1, perPage: DefaultPerPage}
	var errs []string
	positive := func(name string) int {
		v, ok := args[name]
		if !ok {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Sprintf("Invalid value for %s: %q is not a positive whole number", name, v))
			return 0
		}
		return n
	}
	if n := positive("page"); n > 0 {
		q.page = n
	}
	if n := positive("per_page"); n > 0 {
		q.perPage = min(n, MaxPerPage)
	}
	wallArg := func(name string, endOfDay bool) time.Time {
		v, ok := args[name]
		if !ok {
			return time.Time{}
		}
		if t, err := time.Parse(WallLayout, v); err == nil {
			return t
		}
		if t, err := time.Parse(DateLayout, v); err == nil {
			if endOfDay {
				return t.Add(24*time.Hour - time.Second)
			}
			return t
		}
		errs = append(errs, fmt.Sprintf("Invalid value for %s: %q is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM:SS)", name, v))
		return time.Time{}
	}
	for _, f := range filters {
		switch f {
		case "athlete_id":
			if v, ok := args[f]; ok {
				q.athleteArg, q.byAthlete = v, true
			}
		case "date_from":
			q.from = wallArg(f, false)
		case "date_to":
			q.to = wallArg(f, true)
		case "updated_from":
			q.updatedFrom = wallArg(f, false)
		}
	}
	return q, errs
}

// inRange applies a query's date and updated filters.
func (q *query) inRange(at, updated time.Time) bool {
	return (q.from.IsZero() || !at.Before(q.from)) &&
		(q.to.IsZero() || !at.After(q.to)) &&
		(q.updatedFrom.IsZero() || !updated.Before(q.updatedFrom))
}

// matching returns the positions of the records q's filters keep, among
// ofAthlete's when q names an athlete; dates gives a record's filtered
// instant (zero: none) and change stamp.
func matching[T any](q *query, recs []T, ofAthlete []int, dates func(*T) (at, updated time.Time)) []int {
	var rows []int
	keep := func(i int) {
		if q.inRange(dates(&recs[i])) {
			rows = append(rows, i)
		}
	}
	if q.byAthlete {
		for _, i := range ofAthlete {
			keep(i)
		}
		return rows
	}
	for i := range recs {
		keep(i)
	}
	return rows
}

func (s *Server) list(m method, q query) response {
	d, x := &s.st.Data, s.st.Index
	var (
		rows []int
		enc  func(b []byte, i int) []byte
	)
	switch m.list {
	case "athletes":
		rows = matching(&q, d.Athletes, nil, func(a *Athlete) (time.Time, time.Time) { return time.Time{}, a.UpdatedAt })
		enc = func(b []byte, i int) []byte { return appendAthlete(&s.wire, b, &d.Athletes[i]) }
	case "coaches": // coach.list takes no filters: every coach
		rows = matching(&q, d.Coaches, nil, func(*Coach) (time.Time, time.Time) { return time.Time{}, time.Time{} })
		enc = func(b []byte, i int) []byte { return appendCoach(&s.wire, b, &d.Coaches[i]) }
	case "workouts":
		rows = matching(&q, d.Workouts, x.workoutsByAthlete[q.athleteID], func(w *Workout) (time.Time, time.Time) { return w.StartedAt, w.UpdatedAt })
		enc = func(b []byte, i int) []byte { return appendWorkout(&s.wire, b, &d.Workouts[i]) }
	case "assessments":
		rows = matching(&q, d.Assessments, x.assessmentsByAthlete[q.athleteID], func(a *Assessment) (time.Time, time.Time) { return a.AssessedAt, a.UpdatedAt })
		enc = func(b []byte, i int) []byte { return appendAssessment(&s.wire, b, &d.Assessments[i]) }
	}
	total := len(rows)
	pages := (total + q.perPage - 1) / q.perPage
	var page []int
	if q.page <= pages {
		lo := (q.page - 1) * q.perPage
		page = rows[lo:min(lo+q.perPage, total)]
	}
	b := make([]byte, 0, 128+len(page)*600)
	b = append(b, '<')
	b = append(b, m.list...)
	b = fmt.Appendf(b, ` page="%d" pages="%d" per_page="%d" total="%d"`, q.page, pages, q.perPage, total)
	if len(page) == 0 {
		b = append(b, "/>\n"...)
		return response{httpStatus: http.StatusOK, status: "ok", inner: b}
	}
	b = append(b, ">\n"...)
	for _, i := range page {
		b = enc(b, i)
	}
	b = append(b, "</"...)
	b = append(b, m.list...)
	b = append(b, ">\n"...)
	return response{httpStatus: http.StatusOK, status: "ok", inner: b}
}
