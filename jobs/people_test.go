package jobs

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/athlake/athlake/internal/testlog"
	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/sandbox"
)

// TestPeopleSuggestAndLink syncs the three sandbox vendors, whose club has
// people known to two or three of them (sandbox.People), and checks that
// `people suggest` proposes every one of them, that its strong proposals
// are all right, and that once the user puts them in the mapping file,
// the views give each person one person id across vendors.
func TestPeopleSuggestAndLink(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	sb, cfg, env := syncedClub(t, dir, sandbox.Options{Seed: 3})
	out := &testlog.Buffer{}
	env.Stdout = out
	truth := sb.People()
	if len(truth) < 3 {
		t.Fatalf("the sandbox's club has %d people on several vendors", len(truth))
	}
	// Each vendor id of a true person, and who they are.
	person := map[string]int{}
	for i, p := range truth {
		for src, id := range map[string]string{"plyomat": p.Plyomat, "optimo": p.Optimo, "teampro": p.TeamPro} {
			if id != "" {
				person[src+":"+id] = i
			}
		}
	}

	// The user accepts what is as strong as a name unique on both sides.
	const accept = 0.8
	got, err := SuggestPeople(ctx, env, cfg, SuggestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string][]string{} // suggested person id → vendor ids
	strong := 0
	for _, s := range got {
		key := s.Source + ":" + s.AthleteID
		groups[s.PersonID] = append(groups[s.PersonID], key)
		if _, ok := person[key]; !ok && s.Confidence >= accept {
			t.Errorf("a strong suggestion (%s, %.2f) links %s, who is one person alone", s.Reason, s.Confidence, key)
		}
		if s.Confidence >= accept {
			strong++
		}
	}
	for i, p := range truth {
		want := 2
		if p.TeamPro != "" {
			want = 3
		}
		together := 0
		for _, ids := range groups {
			n := 0
			for _, id := range ids {
				if j, ok := person[id]; ok && j == i {
					n++
				}
			}
			together = max(together, n)
		}
		if together != want {
			t.Errorf("person %s: at most %d of their %d ids suggested as one person", p, together, want)
		}
	}
	t.Logf("%d suggestions (%d strong) for %d people:\n%s", len(got), strong, len(truth), out)

	// The user accepts the strong ones.
	mapping := filepath.Join(dir, "people.csv")
	f, err := os.Create(mapping)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(f)
	w.Write([]string{"person_id", "source", "athlete_id", "reason"})
	for _, s := range got {
		if s.Confidence >= accept {
			w.Write([]string{s.PersonID, s.Source, s.AthleteID, s.Reason})
		}
	}
	w.Flush()
	f.Close()
	cfg.People.Mapping = mapping
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := Views(ctx, env, cfg, ViewsOptions{}); err != nil {
		t.Fatal(err)
	}
	rows := queryDB(t, cfg.DuckDB, "SELECT source || ':' || athlete_id, person_id FROM athlake_person_ids")
	personOf := map[string]string{}
	for _, r := range rows {
		personOf[r[0]] = r[1]
	}
	for _, p := range truth {
		ids := []string{"plyomat:" + p.Plyomat, "optimo:" + p.Optimo}
		if p.TeamPro != "" {
			ids = append(ids, "teampro:"+p.TeamPro)
		}
		for _, id := range ids[1:] {
			if personOf[id] != personOf[ids[0]] || personOf[id] == "" {
				t.Errorf("person %s: %s is %q, %s is %q", p, ids[0], personOf[ids[0]], id, personOf[id])
			}
		}
	}
	linked := queryDB(t, cfg.DuckDB, "SELECT count(*) FROM athlake_people WHERE linked AND vendor_ids > 1")
	if linked[0][0] != fmt.Sprint(len(truth)) {
		t.Errorf("%s linked people in athlake_people, want %d", linked[0][0], len(truth))
	}
	again, err := SuggestPeople(ctx, env, cfg, SuggestOptions{MinConfidence: accept})
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Errorf("after the links, %d strong suggestions again: %v", len(again), again)
	}
}

// syncedClub syncs every vendor of a sandbox made with o into a lake in
// dir, and returns the sandbox, the config and a quiet environment.
func syncedClub(t *testing.T, dir string, o sandbox.Options) (*sandbox.Sandbox, *Config, *Env) {
	t.Helper()
	ctx := context.Background()
	sb := sandbox.New(o)
	cfg := SandboxConfig(serve(t, sb), dir)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := authorizeSandbox(ctx, env, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, env, cfg, RunOptions{Command: "sync"}); err != nil {
		t.Fatal(err)
	}
	return sb, cfg, env
}

func queryDB(t *testing.T, db, q string) [][]string {
	t.Helper()
	_, rows, err := views.Query(context.Background(), db, q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return rows
}

// TestMappingErrors: a mapping file that cannot be right is a
// configuration error naming people.mapping and the line.
func TestMappingErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ body, want string }{
		{"person_id,source\nanna,plyomat\n", "no athlete_id column"},
		{"person_id,source,athlete_id\nanna,garmin,1\n", "line 2: unknown source \"garmin\""},
		{"person_id,source,athlete_id\n# a comment\nanna,plyomat,a1\nbo,plyomat,a1\n", "line 4: plyomat a1 is linked to bo here and to anna on line 3"},
		{"person_id,source,athlete_id\nanna,plyomat,\n", "line 2: person_id, source and athlete_id are all needed"},
	} {
		dir := t.TempDir()
		p := filepath.Join(dir, "people.csv")
		if err := os.WriteFile(p, []byte(c.body), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := &Config{Output: filepath.Join(dir, "lake"), Dir: dir, People: PeopleConfig{Mapping: "people.csv"}}
		err := cfg.Validate()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != "people.mapping" || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want a config error of people.mapping saying %q", c.body, err, c.want)
		}
		if ExitCode(err) != ExitUsage {
			t.Errorf("%q: exit %d, want %d", c.body, ExitCode(err), ExitUsage)
		}
	}
}

// TestSuggestRules: the reasons and their order, on hand-made rows.
func TestSuggestRules(t *testing.T) {
	t.Parallel()
	rows := []athleteRow{
		// Linked already: a new id of Anna joins her person id.
		{source: "plyomat", id: "p1", first: "Anna", last: "Berg", person: "anna"},
		{source: "optimo", id: "o1", first: "ANNA", last: "Berg ", birth: "2001-02-03", person: "anna"},
		{source: "teampro", id: "t1", first: "Anna", last: "Berg", person: "teampro:t1"},
		// Same name, other birth dates: two people, whom a third id of
		// that name does not join.
		{source: "optimo", id: "o2", first: "Bo", last: "Lund", birth: "1999-01-01", person: "optimo:o2"},
		{source: "plyomat", id: "p2", first: "Bo", last: "Lund", birth: "", extID: "", person: "plyomat:p2"},
		{source: "optimo", id: "o3", first: "Bo", last: "Lund", birth: "2000-01-01", person: "optimo:o3"},
		// An external id wins over a name that differs.
		{source: "plyomat", id: "p3", first: "Søren", last: "Ølsted", extID: "o4", extSource: "optimo", person: "plyomat:p3"},
		{source: "optimo", id: "o4", first: "Soren", last: "Olsted", person: "optimo:o4"},
		// Accents aside, a unique name.
		{source: "plyomat", id: "p5", first: "Zoë", last: "Dupré", person: "plyomat:p5"},
		{source: "teampro", id: "t5", first: "zoe", last: "dupre", person: "teampro:t5"},
	}
	got := map[string]string{}
	for _, s := range suggest(rows, 0) {
		got[s.Source+":"+s.AthleteID] = fmt.Sprintf("%s %s %.2f", s.PersonID, s.Reason, s.Confidence)
	}
	want := map[string]string{
		"teampro:t1": "anna name, unique on both sides (no birth date to compare) 0.80",
		// Not o3 as well: one person has one Optimo id and one birth date.
		"plyomat:p2": "bo-lund name, shared by others (no birth date to compare) 0.50",
		"optimo:o2":  "bo-lund name, shared by others (no birth date to compare) 0.50",
		"plyomat:p3": "søren-ølsted external_id 0.99",
		"optimo:o4":  "søren-ølsted external_id 0.99",
		"plyomat:p5": "zoe-dupre name, unique on both sides (no birth date to compare) 0.80",
		"teampro:t5": "zoe-dupre name, unique on both sides (no birth date to compare) 0.80",
	}
	if d := gocmp.Diff(want, got); d != "" {
		t.Errorf("suggestions (-want +got):\n%s", d)
	}
}
