package plyomat

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/athlake/athlake/sandbox/internal/fault"
)

// Faults are the misbehaviours the server injects, for tests. The zero
// value injects none. Fault decisions come from their own seeded random
// stream, so they never disturb the data's.
type Faults struct {
	// HTTP's faults apply to authorised requests; ResetRate and HangRate
	// to list responses only. Its paths are list paths ("/sets"), and
	// MalformedOnce and MalformedAlways name successful list responses.
	fault.HTTP
	// UnknownFilter404 answers a list filtered by a group_id, athlete_id
	// or session_id that names no record with the vendor's 404 for an
	// unknown id, instead of an empty page (the document does not say
	// which of the two a filter gets; a client must cope with both).
	UnknownFilter404 bool
}

// SetFaults replaces the faults to inject (and restarts any 429 storm).
func (s *Server) SetFaults(f Faults) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = f
}

func (s *Server) unknownFilter404() bool {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.faults.UnknownFilter404
}

// requestFault decides whether a request is answered with a 429 or a 5xx.
func (s *Server) requestFault() (response, bool) {
	s.faultMu.Lock()
	f := &s.faults
	storm, ra := f.Storm429 > 0, f.RetryAfter
	var (
		status int
		failed bool
	)
	if storm {
		f.Storm429--
	} else {
		status, failed = fault.ServerError(s.frng, f.ErrorRate)
	}
	s.faultMu.Unlock()
	switch {
	case storm:
		s.stats.Count(func(st *Stats) { st.RateLimited++ })
		if ra <= 0 {
			ra = 1
		}
		resp := errorResponse(http.StatusTooManyRequests, "rate_limited", fmt.Sprintf("too many requests: retry after %d s", ra))
		resp.header = map[string]string{"Retry-After": strconv.Itoa(ra)}
		return resp, true
	case failed:
		s.stats.Count(func(st *Stats) { st.ServerErrors++ })
		msg := serverErrors[status]
		return errorResponse(status, "internal", msg), true
	}
	return response{}, false
}

// samePath reports whether a fault's path names the request's path.
func samePath(fault, path string) bool {
	return fault != "" && strings.TrimSuffix(fault, "/") == strings.TrimSuffix(path, "/")
}

// listFault injects a fault into a list response. It reports whether it
// wrote the response.
func (s *Server) listFault(w http.ResponseWriter, r *http.Request, path string, resp response) bool {
	return s.faults.ServeBody(&s.faultMu, s.frng, func(p string) bool { return samePath(p, path) }, s.countBodyFault,
		w, r, s.Now, resp.body)
}

func (s *Server) countBodyFault(f fault.Body) {
	s.stats.Count(func(st *Stats) { f.Tally(&st.Malformed, &st.Resets, &st.Hangs) })
}

// serverErrors are the messages of the injected server errors.
var serverErrors = map[int]string{
	http.StatusInternalServerError: "internal server error",
	http.StatusBadGateway:          "bad gateway",
	http.StatusServiceUnavailable:  "service temporarily unavailable",
}
