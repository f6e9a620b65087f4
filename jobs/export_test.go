package jobs

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/sandbox"
	sbt "github.com/athlake/athlake/sandbox/teampro"
	"github.com/athlake/athlake/schemas"
)

var pseudonymRE = regexp.MustCompile(`^P[0-9a-f]{16}$`)

// TestExportDeidentified exports the three sandbox vendors' lake, its
// people linked, and checks that no name, e-mail address or athlete id of
// the sandbox survives in any file, that a person has one pseudonym across
// vendors, that the same key gives the same bytes and another key other
// pseudonyms, and that the manifest tells the files' rows and SHA-256.
func TestExportDeidentified(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	// Sessions of a minute: the samples are scanned four times over.
	sb, cfg, env := syncedClub(t, dir, sandbox.Options{Seed: 3, TeamPro: sbt.Options{MaxDuration: time.Minute}})
	got, err := SuggestPeople(ctx, env, cfg, SuggestOptions{MinConfidence: 0.8})
	if err != nil {
		t.Fatal(err)
	}
	var m bytes.Buffer
	w := csv.NewWriter(&m)
	w.Write([]string{"person_id", "source", "athlete_id", "reason"})
	for _, s := range got {
		w.Write([]string{s.PersonID, s.Source, s.AthleteID, s.Reason})
	}
	w.Flush()
	cfg.People.Mapping = filepath.Join(dir, "people.csv")
	if err := os.WriteFile(cfg.People.Mapping, m.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := Views(ctx, env, cfg, ViewsOptions{}); err != nil {
		t.Fatal(err)
	}
	export := func(name, key, format string, people ...string) (string, *Manifest) {
		t.Helper()
		to := filepath.Join(dir, name)
		man, err := Export(ctx, env, cfg, ExportOptions{To: to, Format: format, StudyKey: key, People: people})
		if err != nil {
			t.Fatalf("export %s: %v", name, err)
		}
		return to, man
	}
	const key1, key2 = "study-one-key-0123456789", "study-two-key-0123456789"
	csv1, man := export("csv1", key1, "csv")
	pq, _ := export("parquet", key1, "parquet")
	pq2, _ := export("parquet2", key1, "parquet")
	csv2, _ := export("csv2", key1, "csv")
	other, _ := export("other", key2, "csv")

	// What names a person in the sandbox.
	var ids, names []string
	truthP, truthO, truthT := sb.Plyomat.Truth(), sb.Optimo.Truth(), sb.TeamPro.TruthWithoutSamples()
	for _, a := range truthP.Athletes {
		ids = append(ids, a.ID)
		names = append(names, a.FirstName+" "+a.LastName)
		if a.ExternalID != nil {
			ids = append(ids, *a.ExternalID)
		}
	}
	for _, o := range truthP.OrgMembers {
		names = append(names, o.FirstName+" "+o.LastName, o.Email)
	}
	for _, a := range truthO.Athletes {
		ids = append(ids, sb.Optimo.WireID("athlete", a.AthleteID))
		names = append(names, a.FirstName+" "+a.LastName, a.Email)
	}
	for _, c := range truthO.Coaches {
		names = append(names, c.FirstName+" "+c.LastName, c.Email)
	}
	for _, tm := range truthT.Teams {
		for _, p := range tm.Players {
			ids = append(ids, p.PlayerID)
			names = append(names, p.FirstName+" "+p.LastName)
		}
	}
	// Optimo's ids are numbers (1001, ...), which values like a heart
	// rate equal by chance: they are checked in the person columns, which
	// must all hold pseudonyms (see below).
	// A first or last name alone, as a word of any text.
	isName := map[string]bool{}
	for _, n := range names {
		if !strings.Contains(n, "@") {
			for _, w := range strings.Fields(strings.ToLower(n)) {
				isName[w] = true
			}
		}
	}
	isID := map[string]bool{}
	for _, id := range ids {
		if strings.Trim(id, "0123456789") != "" {
			isID[id] = true
		}
	}
	scan := func(file string, rows [][]string) {
		t.Helper()
		for _, r := range rows {
			for _, f := range r {
				if _, err := strconv.ParseFloat(f, 64); err == nil || f == "" {
					continue // a number, or nothing
				}
				if isID[f] {
					t.Errorf("%s: an athlete id survives: %q", file, f)
				}
				for _, w := range strings.FieldsFunc(strings.ToLower(f), func(r rune) bool { return !unicode.IsLetter(r) }) {
					if isName[w] {
						t.Errorf("%s: a name survives: %q in %q", file, w, f)
					}
				}
				lower := strings.ToLower(f)
				for _, n := range names {
					if n != "" && strings.Contains(lower, strings.ToLower(n)) {
						t.Errorf("%s: a name survives: %q in %q", file, n, f)
					}
				}
			}
		}
	}
	personColumn := map[string]bool{views.PeopleView + ".person_id": true}
	for _, v := range views.Analysis() {
		for c := range v.Persons {
			personColumn[v.Name+"."+c] = true
		}
		if !slices.ContainsFunc(man.Files, func(e ManifestEntry) bool { return e.Table == v.Name }) {
			t.Errorf("the export has no %s", v.Name)
		}
	}
	for _, tb := range tables().Tables() {
		for _, c := range tb.Columns {
			if c.Privacy == schemas.Person {
				personColumn[tb.ViewName()+"."+c.Name] = true
			}
		}
	}
	files := 0
	for _, e := range man.Files {
		if !strings.HasSuffix(e.File, ".csv") {
			continue
		}
		files++
		rows := readCSV(t, filepath.Join(csv1, e.File))
		if int64(len(rows)-1) != e.Rows {
			t.Errorf("%s: %d rows, the manifest says %d", e.File, len(rows)-1, e.Rows)
		}
		scan(e.File, rows)
		if want := exportedColumns(e.Table); strings.Join(rows[0], ",") != strings.Join(want, ",") {
			t.Errorf("%s: columns %v, want %v", e.File, rows[0], want)
		}
		for i, col := range rows[0] {
			if !personColumn[strings.TrimSuffix(e.File, ".csv")+"."+col] {
				continue
			}
			for _, r := range rows[1:] {
				if !pseudonymRE.MatchString(r[i]) {
					t.Errorf("%s: %s is %q, not a pseudonym", e.File, col, r[i])
				}
			}
		}
		pqFile := filepath.Join(pq, strings.TrimSuffix(e.File, ".csv")+".parquet")
		_, prows, err := views.Query(ctx, cfg.DuckDB, "SELECT * FROM read_parquet("+sqlString(pqFile)+")")
		if err != nil {
			t.Fatal(err)
		}
		if len(prows) != len(rows)-1 {
			t.Errorf("%s: %d rows in Parquet, %d in CSV", e.File, len(prows), len(rows)-1)
		}
		scan(filepath.Base(pqFile), prows)
		a, _ := os.ReadFile(pqFile)
		b, _ := os.ReadFile(filepath.Join(pq2, filepath.Base(pqFile)))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: not the same bytes when exported again with the same key", filepath.Base(pqFile))
		}
		same, err := os.ReadFile(filepath.Join(csv2, e.File))
		if err != nil {
			t.Fatal(err)
		}
		if first, _ := os.ReadFile(filepath.Join(csv1, e.File)); !bytes.Equal(first, same) {
			t.Errorf("%s: not the same bytes when exported again with the same key", e.File)
		}
	}
	if files < 15 {
		t.Errorf("%d tables exported", files)
	}
	for _, f := range []string{"manifest.json", "dictionary.md"} {
		a, _ := os.ReadFile(filepath.Join(csv1, f))
		b, _ := os.ReadFile(filepath.Join(csv2, f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: empty, or not the same when exported again", f)
		}
	}
	var again Manifest
	b, _ := os.ReadFile(filepath.Join(csv1, "manifest.json"))
	if err := json.Unmarshal(b, &again); err != nil || again.Snapshot == "" || len(again.Files) != len(man.Files) {
		t.Errorf("manifest.json: %v, snapshot %q, %d files", err, again.Snapshot, len(again.Files))
	}
	for _, e := range again.Files {
		if got, err := fileEntry(filepath.Join(csv1, e.File)); err != nil || got.SHA256 != e.SHA256 {
			t.Errorf("%s: SHA-256 %s, the manifest says %s (%v)", e.File, got.SHA256, e.SHA256, err)
		}
	}

	// One pseudonym per person across vendors; another key, others.
	people := readCSV(t, filepath.Join(csv1, "athlake_people.csv"))
	pseudo := map[string]bool{}
	for _, r := range people[1:] {
		pseudo[r[0]] = true
	}
	for _, f := range []string{"plyomat_athletes.csv", "optimo_athletes.csv"} {
		rows := readCSV(t, filepath.Join(csv1, f))
		for _, r := range rows[1:] {
			if id := r[slicesIndex(rows[0], map[bool]string{true: "id", false: "athlete_id"}[f == "plyomat_athletes.csv"])]; !pseudo[id] {
				t.Errorf("%s: %q is not a person of athlake_people", f, id)
			}
		}
	}
	for _, r := range readCSV(t, filepath.Join(other, "athlake_people.csv"))[1:] {
		if pseudo[r[0]] {
			t.Errorf("pseudonym %s under both study keys", r[0])
		}
	}
	linked := 0
	for _, r := range people[1:] {
		if r[2] == "3" {
			linked++
		}
	}
	if linked == 0 {
		t.Errorf("no person with three vendor ids in the export")
	}
}

// TestExportFilters: --people keeps one person's rows (children through
// their parents), --since and --until the rows of those days.
func TestExportFilters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	sb, cfg, env := syncedClub(t, dir, sandbox.Options{Seed: 3, TeamPro: sbt.Options{MaxDuration: time.Minute}})
	p := sb.People()[0]
	person := "teampro:" + p.TeamPro // unlinked: each vendor id is a person of its own
	to := filepath.Join(dir, "one")
	if _, err := Export(ctx, env, cfg, ExportOptions{To: to, Format: "csv", StudyKey: "a-study-key-0123456789", People: []string{person}}); err != nil {
		t.Fatal(err)
	}
	people := readCSV(t, filepath.Join(to, "athlake_people.csv"))
	if len(people) != 2 {
		t.Fatalf("athlake_people: %d rows, want the one person", len(people)-1)
	}
	sessions := readCSV(t, filepath.Join(to, "teampro_player_sessions.csv"))
	col := slicesIndex(sessions[0], "player_id")
	ids := map[string]bool{}
	for _, r := range sessions[1:] {
		if r[col] != people[1][0] {
			t.Errorf("teampro_player_sessions: a row of %s, want only %s's", r[col], people[1][0])
		}
		ids[r[slicesIndex(sessions[0], "id")]] = true
	}
	samples := readCSV(t, filepath.Join(to, "teampro_samples.csv"))
	if len(sessions) < 2 || len(samples) < 2 {
		t.Fatalf("%d sessions, %d samples of the person", len(sessions)-1, len(samples)-1)
	}
	for _, r := range samples[1:] {
		if !ids[r[slicesIndex(samples[0], "player_session_id")]] {
			t.Fatalf("teampro_samples: a sample of session %s, not the person's", r[slicesIndex(samples[0], "player_session_id")])
		}
	}
	// Tables that reach the person through the sessions.
	for _, f := range []string{"teampro_session_summaries.csv", "teampro_hr_zones.csv", "teampro_speed_zones.csv"} {
		rows := readCSV(t, filepath.Join(to, f))
		if len(rows) < 2 {
			t.Errorf("%s: no row of the person", f)
		}
		for _, r := range rows[1:] {
			if id := r[slicesIndex(rows[0], "player_session_id")]; !ids[id] {
				t.Errorf("%s: a row of session %s, not the person's", f, id)
			}
		}
	}
	parts := readCSV(t, filepath.Join(to, "teampro_session_participants.csv"))
	for _, r := range parts[1:] {
		if r[slicesIndex(parts[0], "player_id")] != people[1][0] {
			t.Errorf("teampro_session_participants: a row of %s", r[slicesIndex(parts[0], "player_id")])
		}
	}
	if n := len(readCSV(t, filepath.Join(to, "plyomat_sets.csv"))); n != 1 {
		t.Errorf("plyomat_sets: %d rows of a Team Pro player not linked to Plyomat", n-1)
	}

	// A week of sets.
	since, until := sb.Plyomat.Truth().Sets[0].StartedAt.UTC().Truncate(24*time.Hour), time.Time{}
	until = since.AddDate(0, 0, 6)
	to = filepath.Join(dir, "week")
	if _, err := Export(ctx, env, cfg, ExportOptions{To: to, Format: "csv", StudyKey: "a-study-key-0123456789", Since: since, Until: until}); err != nil {
		t.Fatal(err)
	}
	sets := readCSV(t, filepath.Join(to, "plyomat_sets.csv"))
	want := 0
	for _, s := range sb.Plyomat.Truth().Sets {
		if d := s.StartedAt.UTC().Truncate(24 * time.Hour); !d.Before(since) && !d.After(until) {
			want++
		}
	}
	if len(sets)-1 != want || want == 0 {
		t.Errorf("plyomat_sets of the week: %d rows, want %d", len(sets)-1, want)
	}
}

// exportedColumns is what an export writes of a table: the columns not
// identifying, birth dates as years.
func exportedColumns(view string) []string {
	if view == views.PeopleView {
		return []string{"person_id", "birth_year", "vendor_ids"}
	}
	for _, v := range views.Analysis() {
		if v.Name == view {
			var out []string
			for _, c := range v.Columns {
				out = append(out, c.Name)
			}
			return out
		}
	}
	var out []string
	for _, t := range tables().Tables() {
		if t.ViewName() != view {
			continue
		}
		for _, c := range t.Columns {
			switch c.Privacy {
			case schemas.Identifying:
			case schemas.BirthDate:
				out = append(out, views.BirthYear(c.Name))
			default:
				out = append(out, c.Name)
			}
		}
	}
	return out
}

// TestExportShiftDates: with --shift-dates, a person's rows move by one
// offset of whole days, within 182 days, in every table (children with
// their parents), the same for the same key.
func TestExportShiftDates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	sb := sandbox.New(sandbox.Options{Seed: 5})
	cfg := SandboxConfig(serve(t, sb), dir)
	delete(cfg.Sources, "teampro")
	delete(cfg.Sources, "optimo")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := Run(ctx, env, cfg, RunOptions{Command: "sync"}); err != nil {
		t.Fatal(err)
	}
	const key = "shift-study-key-0123456789"
	export := func(name string, shift bool) string {
		to := filepath.Join(dir, name)
		if _, err := Export(ctx, env, cfg, ExportOptions{To: to, Format: "csv", StudyKey: key, ShiftDates: shift,
			Tables: []string{"plyomat_sets", "plyomat_reps"}}); err != nil {
			t.Fatal(err)
		}
		return to
	}
	plain, shifted, again := export("plain", false), export("shifted", true), export("again", true)
	byID := func(to, file, key, col string) map[string][]string {
		rows := readCSV(t, filepath.Join(to, file))
		out := map[string][]string{}
		k, c := slicesIndex(rows[0], key), slicesIndex(rows[0], col)
		for _, r := range rows[1:] {
			out[r[k]] = append(out[r[k]], r[c])
		}
		return out
	}
	day := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04:05.999999-07", s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return v
	}
	setAt, setAtShifted := byID(plain, "plyomat_sets.csv", "id", "started_at"), byID(shifted, "plyomat_sets.csv", "id", "started_at")
	athlete := byID(plain, "plyomat_sets.csv", "id", "athlete_id")
	offset := map[string]time.Duration{} // by athlete pseudonym
	setOffset := map[string]time.Duration{}
	moved := 0
	for id, at := range setAt {
		d := day(setAtShifted[id][0]).Sub(day(at[0]))
		if d%(24*time.Hour) != 0 || d > 182*24*time.Hour || d < -182*24*time.Hour {
			t.Fatalf("set %s moved by %v", id, d)
		}
		a := athlete[id][0]
		if prev, ok := offset[a]; ok && prev != d {
			t.Fatalf("athlete %s: sets moved by %v and %v", a, prev, d)
		}
		offset[a], setOffset[id] = d, d
		if d != 0 {
			moved++
		}
	}
	if moved == 0 || len(offset) < 2 {
		t.Fatalf("%d sets moved, %d athletes", moved, len(offset))
	}
	repAt, repAtShifted := byID(plain, "plyomat_reps.csv", "set_id", "captured_at"), byID(shifted, "plyomat_reps.csv", "set_id", "captured_at")
	for set, ats := range repAt {
		for i := range ats {
			if d := day(repAtShifted[set][i]).Sub(day(ats[i])); d != setOffset[set] {
				t.Fatalf("a rep of set %s moved by %v, its set by %v", set, d, setOffset[set])
			}
		}
	}
	for _, f := range []string{"plyomat_sets.csv", "plyomat_reps.csv", "manifest.json"} {
		a, _ := os.ReadFile(filepath.Join(shifted, f))
		b, _ := os.ReadFile(filepath.Join(again, f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s: not the same shifted again with the same key", f)
		}
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
