package teampro

import (
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

// Server simulates the Polar Team Pro API and its OAuth2 server. Its
// handler serves paths relative to the mount point ("/oauth/authorize",
// "/oauth/token", "/v1/teams", ...): mount it with http.StripPrefix. It is
// safe for concurrent use. Now is the data's virtual clock; Stats counts
// the requests.
type Server struct {
	stateAccess // Now (Truth and Mutate are the Server's own)
	counts      // Stats, ResetStats

	opts  Options // defaults applied
	clock func() time.Time

	st    *simstate.State[Dataset, *index] // its lock guards srcs and homes too
	srcs  map[string]*sampleSource         // by player session id: how to generate its samples
	homes map[string]home                  // by team id: where Advance's sessions take place

	authMu  sync.Mutex // guards codes, access, refresh, buckets
	codes   map[string]authCode
	access  map[string]accessToken
	refresh map[string]string // refresh token -> client id
	buckets map[string]*bucket

	faultMu sync.Mutex // guards faults, frng, onList
	faults  Faults
	frng    *rand.Rand
	onList  func(route, id string, listed []string)

	stats *stats.Counter[Stats]
}

// What the server shares with the other simulators, embedded under
// unexported names.
type (
	stateAccess = simstate.Access[Dataset, *index]
	counts      = stats.Counts[Stats]
)

// Stats counts the requests the server received.
type Stats struct {
	// Total counts the API requests: every request but the OAuth2
	// endpoints', whatever its answer.
	Total int
	// ByRoute counts them by route pattern (RouteTeams, ..., RouteUnknown).
	ByRoute           map[string]int
	TokenRequests     int // POST /oauth/token, whatever the answer
	AuthorizeRequests int // GET /oauth/authorize
	Unauthorized      int // API requests answered 401
	RateLimited       int // API requests answered 429 by the token bucket
	// Injected faults by kind.
	Storm429     int // 429s of Faults.Storm429
	ServerErrors int // 500/502/503s of Faults.ErrorRate
	NotFound     int // 404s of Faults.NotFound
	Malformed    int // 200s with a body that is not JSON
	Resets       int // connections cut mid-body
	Hangs        int // responses stalled mid-body
}

// Faults returns the number of injected faults of all kinds (the bucket's
// 429s are not faults: they are the vendor's behaviour).
func (s Stats) Faults() int {
	return s.Storm429 + s.ServerErrors + s.NotFound + s.Malformed + s.Resets + s.Hangs
}

// New generates the organisation's data for o.Seed and o.Scale and returns
// its server. The same options give the same data.
func New(o Options) *Server {
	start := o.Start
	if start.IsZero() {
		start, _ = time.Parse(time.RFC3339, DefaultStart)
	}
	start = zoned(start).Truncate(time.Second)
	if o.AccessTTL <= 0 {
		o.AccessTTL = DefaultAccessTTL
	}
	if !(o.Rate > 0) {
		o.Rate = DefaultRate
	}
	if o.Burst == 0 {
		o.Burst = DefaultBurst
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	o.Start = start
	seed := uint64(o.Seed)
	s := &Server{
		opts:    o,
		clock:   o.Clock,
		frng:    rand.New(rand.NewPCG(seed, 0x7465616d70726f02)),
		codes:   map[string]authCode{},
		access:  map[string]accessToken{},
		refresh: map[string]string{},
		buckets: map[string]*bucket{},
		stats:   stats.New(func(st *Stats) *map[string]int { return &st.ByRoute }),
	}
	s.st = simstate.New(start, rand.New(rand.NewPCG(seed, 0x7465616d70726f01)),
		func(r *rand.Rand) (d Dataset) {
			d, s.srcs, s.homes = generate(newGen(r, nil, o.MaxDuration), paramsFor(o.Scale), start)
			return d
		},
		simstate.Hooks[Dataset, *index]{
			Clone:     func(d *Dataset) *Dataset { return d.clone(false) },
			Normalize: (*Dataset).normalize,
			Index:     s.indexAndPrune,
		})
	s.stateAccess, s.counts = s.st.Access(), s.stats.Counts()
	return s
}

// Truth returns a deep copy of the current data, samples and RR intervals
// included: exactly what the API serves. Generating every session's
// samples costs time and about 150 bytes per sample; at medium and large
// scale prefer TruthWithoutSamples and SessionSamples.
func (s *Server) Truth() *Dataset {
	s.st.RLock()
	defer s.st.RUnlock()
	out := s.st.Data.clone(true)
	parallel(len(out.PlayerSessions), func(i int) { s.fillGenerated(&out.PlayerSessions[i]) })
	return out
}

// TruthWithoutSamples is Truth with every session's Samples and RR left
// nil: cheap at any scale.
func (s *Server) TruthWithoutSamples() *Dataset { return s.st.Truth() }

// SessionSamples returns a player session's samples and RR intervals as
// the API serves them; ok is false for an unknown id.
func (s *Server) SessionSamples(id string) (samples []Sample, rr []*int, ok bool) {
	s.st.RLock()
	defer s.st.RUnlock()
	i, ok := s.st.Index.playerSessionByID[id]
	if !ok {
		return nil, nil, false
	}
	ps := &s.st.Data.PlayerSessions[i]
	if ps.Samples == nil || ps.RR == nil {
		samples, rr = s.generated(ps)
	}
	if ps.Samples != nil {
		samples = cloneSamples(ps.Samples)
	}
	if ps.RR != nil {
		rr = cloneRR(ps.RR)
	}
	return samples, rr, true
}

// generated is a session's generated samples and RR intervals (nil
// without a source).
func (s *Server) generated(ps *PlayerSession) ([]Sample, []*int) {
	src := s.srcs[ps.ID]
	if src == nil {
		return nil, nil
	}
	ser := src.truthSeries(ps.Fields, ps.Short)
	return ser.toSamples(), rrList(ser.rr)
}

// fillGenerated sets ps's nil Samples and RR to the generated ones (they
// stay nil without a source).
func (s *Server) fillGenerated(ps *PlayerSession) {
	if ps.Samples != nil && ps.RR != nil {
		return
	}
	samples, rr := s.generated(ps)
	if ps.Samples == nil {
		ps.Samples = samples
	}
	if ps.RR == nil {
		ps.RR = rr
	}
}

// Mutate runs fn on the data under the write lock, to set up any situation
// (exact stamps, edited notes, removed sessions, odd Fields...). Samples
// and RR of generated sessions are nil inside fn (they are produced on
// demand): leave them nil to keep the generated ones, or set them (see
// MutateSession to edit them). Afterwards every time is brought to the
// wire's precision, explicit samples are masked by their session's Fields
// and Short rows, the data is sorted and the indexes are rebuilt. Totals
// and summaries are not recomputed. A session whose id changes loses its
// generated samples.
func (s *Server) Mutate(fn func(d *Dataset)) { s.st.Mutate(fn) }

// MutateSession runs fn on one player session, its samples and RR
// intervals loaded, under the write lock; they stay in memory from then
// on. It reports whether the session exists.
func (s *Server) MutateSession(id string, fn func(ps *PlayerSession)) bool {
	s.st.Lock()
	defer s.st.Unlock()
	i, ok := s.st.Index.playerSessionByID[id]
	if !ok {
		return false
	}
	defer s.st.Reindex()
	ps := &s.st.Data.PlayerSessions[i]
	s.fillGenerated(ps)
	if ps.Samples == nil {
		ps.Samples = []Sample{}
	}
	fn(ps)
	return true
}

// indexAndPrune builds the data's indexes; sources of sessions that are gone are
// dropped. Callers hold the write lock.
func (s *Server) indexAndPrune(d *Dataset) *index {
	idx := buildIndex(d)
	for id := range s.srcs {
		if _, ok := idx.playerSessionByID[id]; !ok {
			delete(s.srcs, id)
		}
	}
	return idx
}

// response is a computed answer, written after the data lock is released.
type response struct {
	status int
	body   []byte
	header map[string]string
}

// write sends a complete response, dated by the real clock.
func (s *Server) write(w http.ResponseWriter, resp response) {
	httpw.Write(w, s.clock(), resp.status, resp.header, resp.body)
}

// apiError is the API's error body (Spring Boot's shape).
func (s *Server) apiError(r *http.Request, status int, msg string) response {
	o := newObj(nil, true)
	o.zoned("timestamp", s.clock().Truncate(time.Millisecond))
	o.int("status", int64(status))
	o.str("error", http.StatusText(status))
	o.str("message", msg)
	o.str("path", r.URL.Path)
	return response{status: status, body: o.end()}
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case PathAuthorize:
		s.authorize(w, r)
	case PathToken:
		s.token(w, r)
	default:
		s.api(w, r)
	}
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	rt, id := resolve(r)
	s.stats.Count(func(st *Stats) {
		st.Total++
		st.ByRoute[rt]++
	})
	client, resp, ok := s.authenticate(r)
	if !ok {
		s.stats.Count(func(st *Stats) { st.Unauthorized++ })
		s.write(w, resp)
		return
	}
	if wait, ok := s.take(client); !ok {
		s.stats.Count(func(st *Stats) { st.RateLimited++ })
		resp := s.apiError(r, http.StatusTooManyRequests, "Rate limit exceeded")
		resp.header = map[string]string{"Retry-After": retryAfter(wait)}
		s.write(w, resp)
		return
	}
	if resp, ok := s.requestFault(r, rt); ok {
		s.write(w, resp)
		return
	}
	resp = s.handle(r, rt, id)
	s.listed(rt, id, resp)
	if resp.status == http.StatusOK && s.responseFault(w, r, resp) {
		return
	}
	s.write(w, resp)
}

// resolve names the route of a request and its path parameter.
func resolve(r *http.Request) (route, id string) {
	parts, ok := pathseg.Split(r)
	if !ok || len(parts) < 2 || parts[0] != "v1" {
		return RouteUnknown, ""
	}
	p := parts[1:]
	for _, seg := range p[1:] {
		if seg == "" {
			return RouteUnknown, ""
		}
	}
	switch {
	case len(p) == 1 && p[0] == "teams":
		return RouteTeams, ""
	case len(p) == 2 && p[0] == "teams":
		return RouteTeam, p[1]
	case len(p) == 3 && p[0] == "teams" && p[1] == "training_sessions":
		return RouteTeamSession, p[2]
	case len(p) == 3 && p[0] == "teams" && p[2] == "training_sessions":
		return RouteTeamSessions, p[1]
	case len(p) == 3 && p[0] == "players" && p[2] == "training_sessions":
		return RoutePlayerSessions, p[1]
	case len(p) == 2 && p[0] == "training_sessions":
		return RoutePlayerSession, p[1]
	case len(p) == 3 && p[0] == "training_sessions" && p[2] == "session_summary":
		return RouteSessionSummary, p[1]
	}
	return RouteUnknown, ""
}

func (s *Server) handle(r *http.Request, rt, id string) response {
	if rt == RouteUnknown {
		return s.apiError(r, http.StatusNotFound, "No endpoint "+r.URL.Path)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		resp := s.apiError(r, http.StatusMethodNotAllowed, "Request method '"+r.Method+"' is not supported")
		resp.header = map[string]string{"Allow": "GET"}
		return resp
	}
	q := r.URL.Query()
	s.st.RLock()
	defer s.st.RUnlock()
	d, x := &s.st.Data, s.st.Index
	switch rt {
	case RouteTeams:
		rows := make([]int, len(d.Teams))
		for i := range rows {
			rows[i] = i
		}
		return s.list(r, q, rows, func(b []byte, i int) []byte { return appendTeam(b, &d.Teams[i], false) })
	case RouteTeam:
		i, ok := x.teamByID[id]
		if !ok {
			return s.apiError(r, http.StatusNotFound, "Team not found")
		}
		return data(appendTeam(dataOpen(), &d.Teams[i], true))
	case RouteTeamSessions:
		if _, ok := x.teamByID[id]; !ok {
			return s.apiError(r, http.StatusNotFound, "Team not found")
		}
		since, until, msg := sinceUntil(q)
		if msg != "" {
			return s.apiError(r, http.StatusBadRequest, msg)
		}
		rows := recs.Filter(x.teamSessionsByTeam[id], func(i int) bool { return inWindow(d.TeamSessions[i].RecordStartTime, since, until) })
		return s.list(r, q, rows, func(b []byte, i int) []byte { return appendTeamSession(b, &d.TeamSessions[i], false) })
	case RouteTeamSession:
		i, ok := x.teamSessionByID[id]
		if !ok {
			return s.apiError(r, http.StatusNotFound, "Training session not found")
		}
		return data(appendTeamSession(dataOpen(), &d.TeamSessions[i], true))
	case RoutePlayerSessions:
		if !x.players[id] {
			return s.apiError(r, http.StatusNotFound, "Player not found")
		}
		since, until, msg := sinceUntil(q)
		if msg != "" {
			return s.apiError(r, http.StatusBadRequest, msg)
		}
		typ := q.Get("type")
		switch typ {
		case "", "ALL", TypeTeam, TypeIndividual:
		default:
			return s.apiError(r, http.StatusBadRequest, "type must be one of ALL, TEAM, INDIVIDUAL")
		}
		rows := recs.Filter(x.playerSessionsByPlayer[id], func(i int) bool {
			ps := &d.PlayerSessions[i]
			return inWindow(ps.StartTime, since, until) && (typ == "" || typ == "ALL" || ps.Type == typ)
		})
		return s.list(r, q, rows, func(b []byte, i int) []byte { return appendPlayerSessionItem(b, &d.PlayerSessions[i]) })
	case RoutePlayerSession:
		i, ok := x.playerSessionByID[id]
		if !ok {
			return s.apiError(r, http.StatusNotFound, "Training session not found")
		}
		sel, msg := parseSamples(q)
		if msg != "" {
			return s.apiError(r, http.StatusBadRequest, msg)
		}
		return data(s.appendPlayerSession(dataOpen(), &d.PlayerSessions[i], sel))
	case RouteSessionSummary:
		i, ok := x.playerSessionByID[id]
		if !ok {
			return s.apiError(r, http.StatusNotFound, "Training session not found")
		}
		ps := &d.PlayerSessions[i]
		if ps.Summary == nil {
			return s.apiError(r, http.StatusNotFound, "No session summary: not a team training session")
		}
		return data(appendSummary(dataOpen(), ps.Summary, durationStyle(ps.ID)))
	}
	return s.apiError(r, http.StatusNotFound, "No endpoint "+r.URL.Path)
}

func dataOpen() []byte { return append(make([]byte, 0, 1024), `{"data":`...) }

func data(b []byte) response {
	return response{status: http.StatusOK, body: append(b, '}')}
}

// list writes one page of rows in the vendor's envelope.
func (s *Server) list(r *http.Request, q url.Values, rows []int, enc func(b []byte, i int) []byte) response {
	perPage, page := DefaultPerPage, 0
	if q.Has("per_page") {
		n, err := strconv.Atoi(q.Get("per_page"))
		if err != nil || n < 1 || n > MaxPerPage {
			return s.apiError(r, http.StatusBadRequest, "per_page must be an integer between 1 and 100")
		}
		perPage = n
	}
	if q.Has("page") {
		n, err := strconv.Atoi(q.Get("page"))
		if err != nil || n < 0 {
			return s.apiError(r, http.StatusBadRequest, "page must be an integer of at least 0")
		}
		page = n
	}
	total := len(rows)
	pages := (total + perPage - 1) / perPage
	var shown []int
	if page < pages {
		lo := page * perPage
		shown = rows[lo:min(lo+perPage, total)]
	}
	b := make([]byte, 0, 128+len(shown)*400)
	b = append(b, `{"data":`...)
	b = jsonw.AppendArray(b, len(shown), func(b []byte, k int) []byte { return enc(b, shown[k]) })
	b = append(b, `,"page":{"per_page":`...)
	b = strconv.AppendInt(b, int64(perPage), 10)
	b = append(b, `,"total_elements":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, `,"page_number":`...)
	b = strconv.AppendInt(b, int64(page), 10)
	b = append(b, `,"total_pages":`...)
	b = strconv.AppendInt(b, int64(pages), 10)
	b = append(b, "}}"...)
	return response{status: http.StatusOK, body: b}
}

// parseWall reads a since/until value: a date-time with or without a
// fraction and with or without a zone. The reading as written is compared
// with the wall-clock times (a zone is not converted).
func parseWall(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, v); err == nil {
			return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC), true
		}
	}
	return time.Time{}, false
}

// sinceUntil reads since and until; msg is non-empty for a bad value.
func sinceUntil(q url.Values) (since, until time.Time, msg string) {
	for _, k := range []string{"since", "until"} {
		if !q.Has(k) {
			continue
		}
		t, ok := parseWall(q.Get(k))
		if !ok {
			return since, until, k + " must be a date-time like 2017-04-14T09:20:06"
		}
		if k == "since" {
			since = t
		} else {
			until = t
		}
	}
	return since, until, ""
}

// inWindow: since < t < until, each bound only when given.
func inWindow(t, since, until time.Time) bool {
	return (since.IsZero() || t.After(since)) && (until.IsZero() || t.Before(until))
}

// selection is what a player session's samples parameter asks for.
type selection struct {
	all     bool
	samples bool // a samples object
	rr      bool
	chans   [nChan]bool
}

// parseSamples reads samples=all or a comma-separated list of distance,
// location, hr, speed, cadence, altitude, forward_acceleration and rr.
func parseSamples(q url.Values) (selection, string) {
	var sel selection
	v := strings.TrimSpace(q.Get("samples"))
	if v == "" {
		return sel, ""
	}
	if v == "all" {
		sel.all, sel.samples, sel.rr = true, true, true
		return sel, ""
	}
	for _, name := range strings.Split(v, ",") {
		switch name = strings.TrimSpace(name); name {
		case "":
		case "rr":
			sel.rr = true
		case "location":
			sel.samples, sel.chans[chLat], sel.chans[chLon] = true, true, true
		case "distance", "hr", "speed", "cadence", "altitude", "forward_acceleration":
			sel.samples, sel.chans[channelOf(name)] = true, true
		default:
			return sel, "samples must be \"all\" or a comma-separated list of distance, location, hr, speed, cadence, altitude, forward_acceleration, rr (got " + strconv.Quote(name) + ")"
		}
	}
	return sel, ""
}

// wireSeries is what the wire carries of a session's samples: explicit
// ones, or generated; offsets are nil for generated samples (row i is at
// i × 100 ms).
func (s *Server) wireSeries(ps *PlayerSession) (*series, []int64) {
	src := s.srcs[ps.ID]
	var (
		ser     *series
		offsets []int64
	)
	switch {
	case ps.Samples != nil:
		ser, offsets = seriesOf(ps.Samples, nil)
		if ps.RR == nil && src != nil {
			ser.rr = src.generate().rr
		}
	case src != nil:
		ser = src.truthSeries(ps.Fields, ps.Short)
	default:
		ser = &series{}
	}
	if ps.RR != nil {
		rs, _ := seriesOf(nil, ps.RR)
		ser.rr = rs.rr
	}
	return ser, offsets
}

// appendPlayerSession writes a player session's details with the samples
// and RR intervals sel asks for.
func (s *Server) appendPlayerSession(b []byte, ps *PlayerSession, sel selection) []byte {
	if !sel.samples && !sel.rr {
		o := appendPlayerSessionDetails(b, ps)
		return o.end()
	}
	ser, offsets := s.wireSeries(ps)
	fields := ps.Fields
	if !sel.all {
		fields = []string{sampleFieldTime}
		for _, f := range ps.Fields {
			if ch := channelOf(f); ch >= 0 && sel.chans[ch] {
				fields = append(fields, f)
			}
		}
	}
	if need := len(b) + 1024 + ser.n*(14+9*len(fields)) + len(ser.rr)*5; cap(b) < need {
		nb := make([]byte, len(b), need)
		copy(nb, b)
		b = nb
	}
	o := appendPlayerSessionDetails(b, ps)
	if sel.samples {
		o.key("samples")
		var extra, short map[int]int
		if sel.all {
			extra, short = ps.Extra, ps.Short
		}
		o.b = appendSamples(o.b, fields, ser, offsets, extra, short, durationStyle(ps.ID))
	}
	if sel.rr && ser.rr != nil {
		o.key("rr_intervals")
		o.b = jsonw.AppendArray(o.b, len(ser.rr), func(b []byte, i int) []byte {
			if v := ser.rr[i]; v >= 0 {
				return strconv.AppendInt(b, v, 10)
			}
			return append(b, "null"...)
		})
	}
	return o.end()
}

// extraValue is the k-th extra number of wire row i (like the vendor's
// example's stray 125).
func extraValue(i, k int) int64 { return int64((i*7919 + k*104729) % 251) }

// appendSamples writes {"fields": [...], "values": [[...], ...]}: a row per
// sample, its short rows cut and extra values appended.
func appendSamples(b []byte, fields []string, ser *series, offsets []int64, extra, short map[int]int, style int) []byte {
	b = append(b, `{"fields":[`...)
	cols := make([][]float64, len(fields))
	isTime := make([]bool, len(fields))
	for j, f := range fields {
		if j > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, f)
		if f == sampleFieldTime {
			isTime[j] = true
		} else if ch := channelOf(f); ch >= 0 {
			cols[j] = ser.col[ch]
		}
	}
	b = append(b, `],"values":[`...)
	for i := range ser.n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		k := len(fields)
		if cut := min(short[i], len(fields)-1); cut > 0 {
			k -= cut
		}
		for j := range k {
			if j > 0 {
				b = append(b, ',')
			}
			switch c := cols[j]; {
			case isTime[j]:
				off := int64(i) * 100
				if offsets != nil {
					off = offsets[i]
				}
				b = append(b, '"')
				b = appendDuration(b, off, style)
				b = append(b, '"')
			case c != nil && i < len(c):
				b = appendFloat(b, c[i])
			default:
				b = append(b, "null"...)
			}
		}
		for e := range extra[i] {
			if k > 0 || e > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, extraValue(i, e), 10)
		}
		b = append(b, ']')
	}
	return append(b, "]}"...)
}
