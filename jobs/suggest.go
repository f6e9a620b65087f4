package jobs

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/athlake/athlake/load/views"
)

// SuggestOptions configure `athlake people suggest`.
type SuggestOptions struct {
	Format        string  // text (default) or csv
	MinConfidence float64 // leave out weaker suggestions
}

// Suggestion proposes that a vendor's athlete id is a person whom another
// vendor knows too.
type Suggestion struct {
	PersonID   string  `json:"person_id"`
	Source     string  `json:"source"`
	AthleteID  string  `json:"athlete_id"`
	Name       string  `json:"name"`
	Reason     string  `json:"reason"`
	Confidence float64 `json:"confidence"`
}

// The reasons, strongest first, with their confidence.
const (
	byExternalID   = "external_id"
	byNameAndBirth = "name and birth date"
	byUniqueName   = "name, unique on both sides (no birth date to compare)"
	byNameOnly     = "name, shared by others (no birth date to compare)"
)

var confidence = map[string]float64{byExternalID: 0.99, byNameAndBirth: 0.95, byUniqueName: 0.8, byNameOnly: 0.5}

// athleteRow is a vendor id as the people views show it.
type athleteRow struct {
	source, id, first, last, birth, extID, extSource, person string
}

// SuggestPeople proposes links between the vendors' athletes of the views
// database, for the user to review and put in people.mapping: nothing is
// linked until they do. A pair is proposed by an exact external_id naming
// another source's id, then by the same name (case, accents and spacing
// aside) and birth date, then by the same name where a birth date is known
// on one side at most. Ids linked to one person already are not proposed
// again; a proposal that joins a linked person takes their person id.
func SuggestPeople(ctx context.Context, env *Env, cfg *Config, o SuggestOptions) ([]Suggestion, error) {
	db := cfg.DuckDBPath()
	if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) {
		return nil, &UsageError{Msg: fmt.Sprintf("%s does not exist yet: run athlake sync (or athlake views) first", db)}
	}
	_, rows, err := views.Query(ctx, db, `SELECT a.source, a.athlete_id, coalesce(a.first_name, ''), coalesce(a.last_name, ''),
       coalesce(a.birth_date::VARCHAR, ''), coalesce(a.external_id, ''), coalesce(a.external_source, ''), p.person_id
FROM `+views.AthletesView+` a JOIN `+views.PersonIDsView+` p USING (source, athlete_id)
ORDER BY a.source, a.athlete_id`)
	if err != nil {
		return nil, fmt.Errorf("reading the athletes of %s (built by an older athlake? run athlake views): %w", db, err)
	}
	all := make([]athleteRow, len(rows))
	for i, r := range rows {
		all[i] = athleteRow{r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]}
	}
	out := suggest(all, o.MinConfidence)
	return out, printSuggestions(env, out, o.Format)
}

// suggest pairs the rows and groups the pairs into people.
func suggest(all []athleteRow, minConf float64) []Suggestion {
	// Groups of rows, each a person to be: a union-find whose roots keep
	// the group's sources, birth date and linked person, so that no pair
	// joins two people into one (two ids of one vendor, two birth dates,
	// two linked people).
	type group struct {
		sources      map[string]bool
		birth, owner string
	}
	parent := make([]int, len(all))
	groups := make([]group, len(all))
	best := make([]string, len(all)) // each row's strongest reason
	linked := func(a athleteRow) string {
		if a.person != a.source+":"+a.id {
			return a.person
		}
		return ""
	}
	for i, a := range all {
		parent[i] = i
		groups[i] = group{sources: map[string]bool{a.source: true}, birth: a.birth, owner: linked(a)}
	}
	var find func(int) int
	find = func(i int) int {
		if parent[i] != i {
			parent[i] = find(parent[i])
		}
		return parent[i]
	}
	union := func(i, j int) bool {
		ri, rj := find(i), find(j)
		if ri == rj {
			return true
		}
		gi, gj := &groups[ri], &groups[rj]
		for src := range gj.sources {
			if gi.sources[src] {
				return false
			}
		}
		if gi.birth != "" && gj.birth != "" && gi.birth != gj.birth || gi.owner != "" && gj.owner != "" && gi.owner != gj.owner {
			return false
		}
		for src := range gj.sources {
			gi.sources[src] = true
		}
		gi.birth, gi.owner = cmp.Or(gi.birth, gj.birth), cmp.Or(gi.owner, gj.owner)
		parent[rj] = ri
		return true
	}
	// The ids linked to one person already are one group.
	owner := map[string]int{}
	for i, a := range all {
		if p := linked(a); p != "" {
			if j, ok := owner[p]; ok {
				union(j, i)
			} else {
				owner[p] = i
			}
		}
	}
	pair := func(i, j int, reason string) {
		if all[i].source == all[j].source || confidence[reason] < minConf || find(i) == find(j) || !union(i, j) {
			return
		}
		for _, k := range []int{i, j} {
			if best[k] == "" || confidence[reason] > confidence[best[k]] {
				best[k] = reason
			}
		}
	}
	byID := map[[2]string]int{}
	byName := map[string][]int{}
	for i, a := range all {
		byID[[2]string{a.source, a.id}] = i
		if k := nameKey(a.first, a.last); k != " " {
			byName[k] = append(byName[k], i)
		}
	}
	// Strongest first: the first pairs made are the ones kept.
	for i, a := range all {
		if j, ok := byID[[2]string{a.extSource, a.extID}]; ok && a.extID != "" {
			pair(i, j, byExternalID)
		}
	}
	for _, reason := range []string{byNameAndBirth, byUniqueName, byNameOnly} {
		for _, k := range slices.Sorted(maps.Keys(byName)) {
			rows := byName[k]
			perSource := map[string]int{}
			for _, i := range rows {
				perSource[all[i].source]++
			}
			for x, i := range rows {
				for _, j := range rows[x+1:] {
					bi, bj := all[i].birth, all[j].birth
					var r string
					switch {
					case bi != "" && bj != "" && bi == bj:
						r = byNameAndBirth
					case bi != "" && bj != "":
						continue // two people of one name
					case perSource[all[i].source] == 1 && perSource[all[j].source] == 1:
						r = byUniqueName
					default:
						r = byNameOnly
					}
					if r == reason {
						pair(i, j, r)
					}
				}
			}
		}
	}
	members := map[int][]int{}
	var roots []int
	for i := range all {
		if best[i] == "" {
			continue
		}
		r := find(i)
		if members[r] == nil {
			roots = append(roots, r)
		}
		members[r] = append(members[r], i)
	}
	taken := map[string]bool{}
	for _, a := range all {
		taken[a.person] = true
	}
	var out []Suggestion
	for _, r := range roots {
		g := members[r]
		id := groups[r].owner
		if id == "" {
			id = personID(all, g, taken)
		}
		for _, i := range g {
			a := all[i]
			if a.person == id {
				continue // linked to that person already
			}
			out = append(out, Suggestion{PersonID: id, Source: a.source, AthleteID: a.id,
				Name: strings.TrimSpace(a.first + " " + a.last), Reason: best[i], Confidence: confidence[best[i]]})
		}
	}
	slices.SortFunc(out, func(a, b Suggestion) int {
		return cmp.Or(cmp.Compare(a.PersonID, b.PersonID), cmp.Compare(a.Source, b.Source), cmp.Compare(a.AthleteID, b.AthleteID))
	})
	return out
}

// personID is a new person id for a group of rows, from the name of the
// first.
func personID(all []athleteRow, g []int, taken map[string]bool) string {
	a := all[g[0]]
	base := strings.ReplaceAll(strings.TrimSpace(nameKey(a.first, a.last)), " ", "-")
	id := base
	for n := 2; taken[id]; n++ {
		id = base + "-" + strconv.Itoa(n)
	}
	taken[id] = true
	return id
}

// nameKey is a name as the matching compares it: without case, accents or
// extra spacing.
func nameKey(first, last string) string {
	k := strings.ToLower(strings.Join(strings.Fields(first), " ") + " " + strings.Join(strings.Fields(last), " "))
	// A chain keeps state: one per call.
	if s, _, err := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), k); err == nil {
		return s
	}
	return k
}

func printSuggestions(env *Env, out []Suggestion, format string) error {
	if format == "csv" {
		w := csv.NewWriter(env.Stdout)
		w.Write([]string{"person_id", "source", "athlete_id", "name", "reason", "confidence"})
		for _, s := range out {
			w.Write([]string{s.PersonID, s.Source, s.AthleteID, s.Name, s.Reason, strconv.FormatFloat(s.Confidence, 'f', 2, 64)})
		}
		w.Flush()
		return w.Error()
	}
	if len(out) == 0 {
		_, err := fmt.Fprintln(env.Stdout, "no new links to suggest")
		return err
	}
	prev := ""
	for _, s := range out {
		if s.PersonID != prev {
			fmt.Fprintf(env.Stdout, "%s:\n", s.PersonID)
			prev = s.PersonID
		}
		fmt.Fprintf(env.Stdout, "  %-8s %-24s %-28s %.2f  %s\n", s.Source, s.AthleteID, s.Name, s.Confidence, s.Reason)
	}
	_, err := fmt.Fprintln(env.Stdout, "\nNothing is linked yet: review, then add the lines you accept to the file people.mapping names (--format csv writes them in its columns).")
	return err
}
