package plyomat

import (
	"crypto/subtle"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/athlake/athlake/sandbox/internal/httpw"
	"github.com/athlake/athlake/sandbox/internal/jsonw"
	"github.com/athlake/athlake/sandbox/internal/pathseg"
	"github.com/athlake/athlake/sandbox/internal/recs"
	"github.com/athlake/athlake/sandbox/internal/simstate"
	"github.com/athlake/athlake/sandbox/internal/stats"
)

// Paging limits of the API.
const (
	DefaultLimit = 100
	MaxLimit     = 500
)

// Server simulates the Plyomat Open API. Its handler serves paths relative
// to the API base ("/athletes", "/sets/{id}", ...): mount it with
// http.StripPrefix. It is safe for concurrent use.
//
// Now is the virtual clock; Truth returns a deep copy of the data, exactly
// what the API serves (Overrides aside); Mutate changes it under the lock,
// to set up any situation (exact stamps, late records, removed reps,
// Overrides...), after which every time is brought to UTC milliseconds
// (the wire's precision) and the indexes are rebuilt. Stats counts the
// requests.
type Server struct {
	stateAccess // Now, Truth, Mutate
	counts      // Stats, ResetStats

	key string

	st *simstate.State[Dataset, *index]

	faultMu sync.Mutex // guards faults, frng
	faults  Faults
	frng    *rand.Rand

	stats *stats.Counter[Stats]

	hooks *hooks // webhook subscription and deliveries
}

// What the server shares with the other simulators, embedded under
// unexported names.
type (
	stateAccess = simstate.Access[Dataset, *index]
	counts      = stats.Counts[Stats]
)

// Stats counts the requests the server received.
type Stats struct {
	Total  int            // every request
	ByPath map[string]int // by path relative to the base, without the query
	// Injected faults by kind.
	RateLimited  int // 429s of a Storm429
	ServerErrors int // 500/502/503s of ErrorRate
	Resets       int // connections cut mid-body
	Hangs        int // responses stalled mid-body
	Malformed    int // 200s with a body that is not JSON
}

// Faults returns the number of injected faults of all kinds.
func (s Stats) Faults() int {
	return s.RateLimited + s.ServerErrors + s.Resets + s.Hangs + s.Malformed
}

// New generates the organisation's data for opts.Seed and opts.Scale and
// returns its server. The same options give the same data.
func New(opts Options) *Server {
	start := opts.Start
	if start.IsZero() {
		start, _ = time.Parse(time.RFC3339, DefaultStart)
	}
	start = ms(start)
	seed := uint64(opts.Seed)
	s := &Server{
		key: opts.APIKey,
		st: simstate.New(start, rand.New(rand.NewPCG(seed, 0x706c796f6d617401)),
			func(r *rand.Rand) Dataset { return generate(newGen(r), paramsFor(opts.Scale), start) },
			simstate.Hooks[Dataset, *index]{Clone: (*Dataset).Clone, Normalize: (*Dataset).normalize, Index: buildIndex}),
		frng:  rand.New(rand.NewPCG(seed, 0x706c796f6d617402)),
		stats: stats.New(func(st *Stats) *map[string]int { return &st.ByPath }),
		hooks: newHooks(seed),
	}
	s.stateAccess, s.counts = s.st.Access(), s.stats.Counts()
	return s
}

// encodeAt returns the encoder of the record of recs at a position.
func encodeAt[T any](recs []T, enc func([]byte, *T) []byte) func(b []byte, p int) []byte {
	return func(b []byte, p int) []byte { return enc(b, &recs[p]) }
}

// encodeByID encodes the record of recs whose position byID gives for id.
func encodeByID[T any](id string, byID map[string]int, recs []T, enc func([]byte, *T) []byte) ([]byte, bool) {
	p, ok := byID[id]
	if !ok {
		return nil, false
	}
	return enc(nil, &recs[p]), true
}

// response is a computed answer, written after the data lock is released.
type response struct {
	status int
	body   []byte
	list   bool // a list endpoint's 200: subject to list faults
	header map[string]string
}

func errorResponse(status int, code, msg string) response {
	b := []byte(`{"error":{"code":`)
	b = jsonw.AppendString(b, code)
	b = append(b, `,"message":`...)
	b = jsonw.AppendString(b, msg)
	b = append(b, "}}"...)
	return response{status: status, body: b}
}

// ServeHTTP answers one API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.stats.Count(func(st *Stats) {
		st.Total++
		st.ByPath[r.URL.Path]++
	})
	now := s.Now()
	if r.URL.Path == SubscriptionsPath && s.authorized(r) {
		s.serveSubscriptions(w, r)
		return
	}
	if !s.authorized(r) {
		resp := errorResponse(http.StatusUnauthorized, "unauthorized", "missing or invalid API key")
		resp.header = map[string]string{"WWW-Authenticate": `Bearer realm="plyomat"`}
		write(w, now, resp)
		return
	}
	if resp, ok := s.requestFault(); ok {
		write(w, now, resp)
		return
	}
	resp := s.handle(r)
	if resp.list {
		path := r.URL.Path
		if s.listFault(w, r, path, resp) {
			return
		}
	}
	write(w, s.Now(), resp)
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || s.key == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(s.key)) == 1
}

// write sends a complete response.
func write(w http.ResponseWriter, now time.Time, resp response) {
	httpw.Write(w, now, resp.status, resp.header, resp.body)
}

// route is a resolved path.
type route struct {
	resource string // athletes, groups, devices, sessions, sets, assessments, org/members
	id       string // detail endpoints
	detail   bool
}

func resolve(r *http.Request) (route, bool) {
	parts, ok := pathseg.Split(r)
	if !ok {
		return route{}, false
	}
	switch len(parts) {
	case 1:
		switch parts[0] {
		case "athletes", "groups", "devices", "sessions", "sets", "assessments":
			return route{resource: parts[0]}, true
		}
	case 2:
		if parts[0] == "org" && parts[1] == "members" {
			return route{resource: "org/members"}, true
		}
		switch parts[0] {
		case "athletes", "groups", "devices", "sessions", "sets":
			if parts[1] != "" {
				return route{resource: parts[0], id: parts[1], detail: true}, true
			}
		}
	}
	return route{}, false
}

func (s *Server) handle(r *http.Request) response {
	rt, ok := resolve(r)
	if !ok {
		return errorResponse(http.StatusNotFound, "not_found", "no such endpoint")
	}
	if r.Method != http.MethodGet {
		resp := errorResponse(http.StatusMethodNotAllowed, "method_not_allowed", "the API is read-only: only GET is allowed")
		resp.header = map[string]string{"Allow": "GET"}
		return resp
	}
	s.st.RLock()
	defer s.st.RUnlock()
	if rt.detail {
		return s.detail(rt)
	}
	return s.list(rt, r.URL.Query())
}

func (s *Server) detail(rt route) response {
	d, x := &s.st.Data, s.st.Index
	var (
		b  []byte
		ok bool
	)
	switch rt.resource {
	case "athletes":
		b, ok = encodeByID(rt.id, x.athleteByID, d.Athletes, appendAthlete)
	case "groups":
		b, ok = encodeByID(rt.id, x.groupByID, d.Groups, appendGroup)
	case "devices":
		b, ok = encodeByID(rt.id, x.deviceByID, d.Devices, appendDevice)
	case "sessions":
		b, ok = encodeByID(rt.id, x.sessionByID, d.Sessions, appendSession)
	case "sets":
		b, ok = encodeByID(rt.id, x.setByID, d.Sets, appendSet)
	}
	if !ok {
		return errorResponse(http.StatusNotFound, "not_found", "no "+strings.TrimSuffix(rt.resource, "s")+" with this id")
	}
	return response{status: http.StatusOK, body: b}
}

// badRequest is a 400 with msg.
func badRequest(msg string) response {
	return errorResponse(http.StatusBadRequest, "bad_request", msg)
}

func (s *Server) list(rt route, q url.Values) response {
	limit, offset := DefaultLimit, 0
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 {
			return badRequest("limit must be an integer of at least 1")
		}
		limit = min(n, MaxLimit)
	}
	if q.Has("offset") {
		n, err := strconv.Atoi(q.Get("offset"))
		if err != nil || n < 0 {
			return badRequest("offset must be a non-negative integer")
		}
		offset = n
	}
	var since time.Time
	if q.Has("since") && (rt.resource == "sessions" || rt.resource == "sets") {
		t, err := time.Parse(time.RFC3339Nano, q.Get("since"))
		if err != nil {
			return badRequest("since must be an RFC 3339 instant, like 2026-06-01T00:00:00Z")
		}
		since = t
	}
	changedSince := func(created, updated time.Time) bool {
		return since.IsZero() || !created.Before(since) || !updated.Before(since)
	}

	d, x := &s.st.Data, s.st.Index
	if s.unknownFilter404() {
		for param, ids := range map[string]map[string]int{"group_id": x.groupByID, "athlete_id": x.athleteByID, "session_id": x.sessionByID} {
			if _, ok := ids[q.Get(param)]; q.Has(param) && !ok {
				return errorResponse(http.StatusNotFound, "not_found", "no "+strings.TrimSuffix(param, "_id")+" with this id")
			}
		}
	}
	var (
		rows []int
		enc  func(b []byte, p int) []byte
	)
	switch rt.resource {
	case "athletes":
		rows = x.athletes
		if q.Has("group_id") {
			rows = x.athletesByGroup[q.Get("group_id")]
		}
		enc = encodeAt(d.Athletes, appendAthlete)
	case "groups":
		rows = x.groups
		enc = encodeAt(d.Groups, appendGroup)
	case "devices":
		rows = x.devices
		enc = encodeAt(d.Devices, appendDevice)
	case "assessments":
		rows = x.assessments
		enc = encodeAt(d.Assessments, appendAssessment)
	case "org/members":
		rows = x.members
		include := false
		if q.Has("include_archived") {
			v, err := strconv.ParseBool(q.Get("include_archived"))
			if err != nil {
				return badRequest("include_archived must be true or false")
			}
			include = v
		}
		if !include {
			rows = recs.Filter(rows, func(p int) bool { return !d.OrgMembers[p].Archived })
		}
		enc = encodeAt(d.OrgMembers, appendOrgMember)
	case "sessions":
		rows = x.sessions
		if q.Has("athlete_id") {
			rows = x.sessionsByAthlete[q.Get("athlete_id")]
		}
		if !since.IsZero() {
			rows = recs.Filter(rows, func(p int) bool { return changedSince(d.Sessions[p].CreatedAt, d.Sessions[p].UpdatedAt) })
		}
		enc = encodeAt(d.Sessions, appendSession)
	case "sets":
		rows = x.sets
		athlete, byAthlete := q.Get("athlete_id"), q.Has("athlete_id")
		mode, byMode := q.Get("mode"), q.Has("mode")
		switch {
		case q.Has("session_id"):
			rows = x.setsBySession[q.Get("session_id")]
		case byAthlete:
			rows = x.setsByAthlete[athlete]
			byAthlete = false
		}
		if byAthlete || byMode || !since.IsZero() {
			rows = recs.Filter(rows, func(p int) bool {
				st := &d.Sets[p]
				return (!byAthlete || st.AthleteID == athlete) && (!byMode || st.Mode == mode) && changedSince(st.CreatedAt, st.UpdatedAt)
			})
		}
		enc = encodeAt(d.Sets, appendSet)
	}

	total := len(rows)
	lo := min(offset, total)
	page := rows[lo : lo+min(limit, total-lo)]
	b := make([]byte, 0, 64+len(page)*256)
	b = append(b, `{"data":`...)
	b = jsonw.AppendArray(b, len(page), func(b []byte, i int) []byte { return enc(b, page[i]) })
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, `,"limit":`...)
	b = strconv.AppendInt(b, int64(limit), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, int64(offset), 10)
	b = append(b, `,"has_more":`...)
	b = strconv.AppendBool(b, offset+len(page) < total)
	b = append(b, '}')
	return response{status: http.StatusOK, body: b, list: true}
}
