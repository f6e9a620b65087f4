package plyomat

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/athlake/athlake/sandbox/internal/fault"
)

// Faults are the misbehaviours the server injects, for tests. The zero
// value injects none. Fault decisions come from their own seeded random
// stream, so they never disturb the data's.
type Faults struct {
	// ErrorRate is the fraction of (authorised) requests answered with a
	// 500, 502 or 503 JSON error.
	ErrorRate float64
	// Storm429 is the number of next (authorised) requests answered with
	// 429 and "Retry-After: <RetryAfter>".
	Storm429 int
	// RetryAfter is the 429s' Retry-After in seconds (0: 1).
	RetryAfter int
	// ResetRate is the fraction of list responses whose connection is cut
	// mid-body: status line, headers with the full Content-Length and part
	// of the body, then the connection is closed.
	ResetRate float64
	// HangRate is the fraction of list responses that send the headers and
	// part of the body, then stall until the request's context is done or
	// HangFor elapses (and then the connection is cut).
	HangRate float64
	// HangFor bounds a stall (0: 30 s).
	HangFor time.Duration
	// MalformedOnce is a list path ("/sets") whose next successful list
	// response is a 200 whose body is not JSON (truncated JSON or an HTML
	// error page); it is cleared once used.
	MalformedOnce string
	// MalformedAlways is a list path whose successful list responses are
	// always a 200 whose body is not JSON.
	MalformedAlways string
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
		msg := map[int]string{
			http.StatusInternalServerError: "internal server error",
			http.StatusBadGateway:          "bad gateway",
			http.StatusServiceUnavailable:  "service temporarily unavailable",
		}[status]
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
	s.faultMu.Lock()
	f := &s.faults
	malformed := fault.MalformedFor(f.MalformedAlways, &f.MalformedOnce, func(p string) bool { return samePath(p, path) })
	bf := fault.DrawBody(s.frng, malformed, f.ResetRate, f.HangRate, len(resp.body))
	hangFor := f.HangFor
	s.faultMu.Unlock()
	if bf.Kind == fault.None {
		return false
	}
	s.stats.Count(func(st *Stats) { bf.Tally(&st.Malformed, &st.Resets, &st.Hangs) })
	bf.Serve(w, r, s.Now(), resp.body, hangFor)
	return true
}
