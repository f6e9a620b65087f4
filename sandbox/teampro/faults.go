package teampro

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/athlake/athlake/sandbox/internal/fault"
)

// Faults are the misbehaviours the server injects into API requests (never
// into the OAuth2 endpoints), for tests. The zero value injects none.
// Fault decisions come from their own seeded random stream, so they never
// disturb the data's. Requests refused with 401 or by the rate limit get
// no fault.
type Faults struct {
	// HTTP's faults apply to API requests (a 429 storm whatever the bucket
	// holds); ResetRate and HangRate to successful responses. Its paths
	// are path prefixes ("/v1/training_sessions/") covering the responses
	// under them.
	fault.HTTP
	// NotFound lists routes (RouteTeam, RoutePlayerSession, ...) answered
	// 404 whatever the data holds, as when a base URL points at the wrong
	// service.
	NotFound []string
}

// SetFaults replaces the faults to inject (and restarts any 429 storm).
func (s *Server) SetFaults(f Faults) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = f
}

// requestFault decides whether an API request to route rt is answered with
// a 429, a 5xx or a 404 instead.
func (s *Server) requestFault(r *http.Request, rt string) (response, bool) {
	s.faultMu.Lock()
	f := &s.faults
	kind, status := 0, 0 // kind: 0 none, 1 storm, 2 server error, 3 not found
	ra := f.RetryAfter
	switch {
	case slices.Contains(f.NotFound, rt):
		kind = 3
	case f.Storm429 > 0:
		f.Storm429--
		kind = 1
	default:
		if st, ok := fault.ServerError(s.frng, f.ErrorRate); ok {
			kind, status = 2, st
		}
	}
	s.faultMu.Unlock()
	switch kind {
	case 1:
		s.stats.Count(func(st *Stats) { st.Storm429++ })
		resp := s.apiError(r, http.StatusTooManyRequests, "Too many requests")
		resp.header = map[string]string{"Retry-After": retryAfter(ra)}
		return resp, true
	case 2:
		s.stats.Count(func(st *Stats) { st.ServerErrors++ })
		return s.apiError(r, status, "Service temporarily unavailable"), true
	case 3:
		s.stats.Count(func(st *Stats) { st.NotFound++ })
		return s.apiError(r, http.StatusNotFound, "Not Found"), true
	}
	return response{}, false
}

// under reports whether a fault's path prefix covers the request's path.
func under(prefix, path string) bool { return prefix != "" && strings.HasPrefix(path, prefix) }

// responseFault injects a fault into a successful response. It reports
// whether it wrote the response.
func (s *Server) responseFault(w http.ResponseWriter, r *http.Request, resp response) bool {
	path := r.URL.Path
	return s.faults.ServeBody(&s.faultMu, s.frng, func(p string) bool { return under(p, path) }, s.countBodyFault,
		w, r, s.clock, resp.body)
}

func (s *Server) countBodyFault(f fault.Body) {
	s.stats.Count(func(st *Stats) { f.Tally(&st.Malformed, &st.Resets, &st.Hangs) })
}

// OnList sets a function called with every list response's route
// (RouteTeams, RouteTeamSessions, RoutePlayerSessions), path id (the team
// or player; "" for RouteTeams) and the ids of the records on the page,
// once the page is computed and before it is sent. Tests delete records
// there (with Mutate), so that they vanish between a list and the
// details. fn runs on the request's goroutine, with no lock of the
// server's held. nil removes it.
func (s *Server) OnList(fn func(route, id string, listed []string)) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.onList = fn
}

// listed calls the OnList function, if any, for a successful list
// response.
func (s *Server) listed(rt, id string, resp response) {
	s.faultMu.Lock()
	fn := s.onList
	s.faultMu.Unlock()
	if fn == nil || resp.status != http.StatusOK {
		return
	}
	switch rt {
	case RouteTeams, RouteTeamSessions, RoutePlayerSessions:
	default:
		return
	}
	var page struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	json.Unmarshal(resp.body, &page)
	ids := make([]string, len(page.Data))
	for i, d := range page.Data {
		ids[i] = d.ID
	}
	fn(rt, id, ids)
}
