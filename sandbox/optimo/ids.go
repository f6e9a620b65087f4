package optimo

import (
	"strconv"
	"strings"
)

// HostileIDs are the ids Options.HostileIDs serves first, in each of the
// athlete, workout and assessment tables (in id order): path and query
// syntax, XML markup and entities, a CDATA end, quotes, percent escapes,
// space, non-ASCII and a long id. Later records get a hostile id with their
// number appended ("a/b #1234"), so every id is distinct.
var HostileIDs = []string{
	"a/b", "..", "<tag>&amp;", "]]>", `quo"te'`, "?x=1#f", "%2F", "with space", "ünïcødé-✓",
	"." + strings.Repeat("long-id/", 37) + "end", // ~300 characters
	`\back\slash`, "a&b;c", "&#x41;", "CON", "-1",
}

// id spells a record's id on the wire. kind is 'a' (athlete), 'w'
// (workout), 's' (assessment) or 'c' (coach; never hostile).
func (w *wire) id(kind byte, id int64) string {
	if !w.hostile || kind == 'c' {
		return strconv.FormatInt(id, 10)
	}
	first := map[byte]int64{'a': firstAthleteID, 'w': firstWorkoutID, 's': firstAssessmentID}[kind]
	n := id - first
	if n >= 0 && n < int64(len(HostileIDs)) {
		return HostileIDs[n]
	}
	return HostileIDs[(n%int64(len(HostileIDs))+int64(len(HostileIDs)))%int64(len(HostileIDs))] + " #" + strconv.FormatInt(id, 10)
}

// WireID is how the API spells the id of a record of the truth: kind is
// "athlete", "workout", "assessment" or "coach".
func (s *Server) WireID(kind string, id int64) string {
	k := map[string]byte{"athlete": 'a', "workout": 'w', "assessment": 's', "coach": 'c'}[kind]
	return s.wire.id(k, id)
}

// athleteByWire finds the athlete an athlete_id argument names (false when
// none has that id). Call with the data lock held.
func (s *Server) athleteByWire(v string) (int64, bool) {
	if !s.wire.hostile {
		id, err := strconv.ParseInt(v, 10, 64)
		return id, err == nil
	}
	for i := range s.st.Data.Athletes {
		if id := s.st.Data.Athletes[i].AthleteID; s.wire.id('a', id) == v {
			return id, true
		}
	}
	return 0, false
}
