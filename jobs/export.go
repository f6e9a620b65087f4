package jobs

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/schemas"
)

// ExportConfig is the section export.
type ExportConfig struct {
	// StudyKey keys the pseudonyms of a study: the same key gives the same
	// pseudonyms, another key unlinkable ones ($ATHLAKE_STUDY_KEY wins).
	StudyKey connector.Secret `yaml:"study_key"`
}

// StudyKeyEnv is the variable holding the study key.
const StudyKeyEnv = "ATHLAKE_STUDY_KEY"

// ExportOptions configure `athlake export`.
type ExportOptions struct {
	To     string
	Tables []string // view names; none: every table of the configured sources and athlake_people
	// Since and Until keep the rows of these days (inclusive) by the
	// table's time column (a child table's: its parent's); zero: no bound.
	Since, Until time.Time
	// People keeps the rows of these person ids (athlake_person_ids); none:
	// everyone.
	People []string
	Format string // parquet (default) or csv
	// StudyKey is $ATHLAKE_STUDY_KEY, which wins over the config's.
	StudyKey string
}

// Manifest describes a dataset so that a paper can cite exactly what it
// used; the same lake, options and key give the same manifest.
type Manifest struct {
	Athlake          string          `json:"athlake_version"`
	Snapshot         string          `json:"lake_snapshot"`
	Format           string          `json:"format"`
	Since            string          `json:"since,omitempty"`
	Until            string          `json:"until,omitempty"`
	People           int             `json:"people_selected,omitempty"`
	Deidentification string          `json:"deidentification"`
	Files            []ManifestEntry `json:"files"`
}

// ManifestEntry is one file of a dataset.
type ManifestEntry struct {
	Table  string `json:"table,omitempty"`
	File   string `json:"file"`
	Rows   int64  `json:"rows,omitempty"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

const deidentification = "person ids and every vendor id of a person replaced by P + the first 16 hex digits of " +
	"HMAC-SHA256(study key, person id); names, e-mail addresses, free-text notes, external ids and GPS positions " +
	"left out; birth dates reduced to the year"

// Export writes a de-identified research dataset from the views database
// (the lake as of its last build): the chosen tables, a data dictionary
// and a manifest with the SHA-256 of every file.
func Export(ctx context.Context, env *Env, cfg *Config, o ExportOptions) (*Manifest, error) {
	key := o.StudyKey
	if key == "" {
		key = cfg.Export.StudyKey.Reveal()
	}
	if len(key) < 16 {
		return nil, &ConfigError{Key: "export.study_key", Msg: "set a study key of 16 characters or more (or $" + StudyKeyEnv + "): it keys the pseudonyms"}
	}
	if o.To == "" {
		return nil, &UsageError{Msg: "--to: name the folder of the dataset"}
	}
	o.Format = cmp.Or(o.Format, "parquet")
	db := cfg.DuckDBPath()
	if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) {
		return nil, &UsageError{Msg: fmt.Sprintf("%s does not exist yet: run athlake sync (or athlake views) first", db)}
	}
	tabs, people, err := exportTables(ctx, db, o.Tables)
	if err != nil {
		return nil, err
	}
	pseudo, selected, err := pseudonyms(ctx, db, key, tabs, o.People)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.To, 0o755); err != nil {
		return nil, err
	}
	plan := views.ExportPlan{}
	for _, t := range tabs {
		plan.Files = append(plan.Files, views.ExportFile{Path: filepath.Join(o.To, t.ViewName()+"."+o.Format), Format: o.Format,
			Query: exportQuery(t, tables(), o, selected)})
	}
	if people {
		plan.Files = append(plan.Files, views.ExportFile{Path: filepath.Join(o.To, views.PeopleView+"."+o.Format), Format: o.Format,
			Query: peopleQuery(selected)})
	}
	plan.Pseudonyms = pseudo
	rows, err := views.Export(ctx, db, plan)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, env, cfg)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Athlake: cmp.Or(env.Version, Version), Format: o.Format, People: len(o.People), Deidentification: deidentification}
	if m.Snapshot, err = lakeSnapshot(ctx, st); err != nil {
		return nil, err
	}
	if !o.Since.IsZero() {
		m.Since = o.Since.Format(time.DateOnly)
	}
	if !o.Until.IsZero() {
		m.Until = o.Until.Format(time.DateOnly)
	}
	dict := filepath.Join(o.To, "dictionary.md")
	if err := writeFileAtomic(dict, []byte(dictionary(tabs, people))); err != nil {
		return nil, err
	}
	for i, f := range plan.Files {
		e, err := fileEntry(f.Path)
		if err != nil {
			return nil, err
		}
		e.Table, e.Rows = strings.TrimSuffix(filepath.Base(f.Path), "."+o.Format), rows[i]
		m.Files = append(m.Files, e)
	}
	e, err := fileEntry(dict)
	if err != nil {
		return nil, err
	}
	m.Files = append(m.Files, e)
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := writeFileAtomic(filepath.Join(o.To, "manifest.json"), append(b, '\n')); err != nil {
		return nil, err
	}
	fmt.Fprintf(env.Stdout, "%d files written to %s (de-identified; manifest.json lists them with their SHA-256)\n", len(m.Files), o.To)
	return m, nil
}

// exportTables is the tables to export, and whether athlake_people is one:
// those named, else every table of the database with rows (but the
// webhook events, a log of deliveries) and athlake_people.
func exportTables(ctx context.Context, db string, names []string) ([]*schemas.Table, bool, error) {
	reg := tables()
	var out []*schemas.Table
	if len(names) == 0 {
		for _, t := range orderedTables(reg) {
			if t.Name == "webhook_events" {
				continue
			}
			_, rows, err := views.Query(ctx, db, "SELECT count(*) > 0 FROM "+ident(t.ViewName()))
			if err != nil {
				return nil, false, err
			}
			if rows[0][0] == "true" {
				out = append(out, t)
			}
		}
		return out, true, nil
	}
	people := false
	for _, n := range names {
		if n == views.PeopleView {
			people = true
			continue
		}
		found := false
		for _, t := range reg.Tables() {
			if t.ViewName() == n {
				out, found = append(out, t), true
			}
		}
		if !found {
			return nil, false, &UsageError{Msg: fmt.Sprintf("--tables: no table %q (see athlake schemas)", n)}
		}
	}
	return out, people, nil
}

// pseudonyms keys every vendor id of the person columns of tabs, and every
// person id, by its person: a row (source, id, pseudonym); person ids are
// under the source "person". selected holds the pseudonyms of the people
// asked for (nil: everyone).
func pseudonyms(ctx context.Context, db, key string, tabs []*schemas.Table, people []string) ([][3]string, map[string]bool, error) {
	_, rows, err := views.Query(ctx, db, "SELECT source, athlete_id, person_id FROM "+views.PersonIDsView)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s (built by an older athlake? run athlake views): %w", views.PersonIDsView, err)
	}
	personOf := map[[2]string]string{}
	for _, r := range rows {
		personOf[[2]string{r[0], r[1]}] = r[2]
	}
	for _, t := range tabs {
		for _, c := range t.Columns {
			if c.Privacy != schemas.Person {
				continue
			}
			_, ids, err := views.Query(ctx, db, fmt.Sprintf("SELECT DISTINCT %q::VARCHAR FROM %s WHERE %q IS NOT NULL", c.Name, t.ViewName(), c.Name))
			if err != nil {
				return nil, nil, err
			}
			for _, id := range ids {
				k := [2]string{t.Source, id[0]}
				if _, ok := personOf[k]; !ok {
					personOf[k] = t.Source + ":" + id[0]
				}
			}
		}
	}
	pseudo := func(person string) string {
		h := hmac.New(sha256.New, []byte(key))
		h.Write([]byte(person))
		return "P" + hex.EncodeToString(h.Sum(nil))[:16]
	}
	var out [][3]string
	persons := map[string]bool{}
	for _, k := range slices.SortedFunc(maps.Keys(personOf), func(a, b [2]string) int { return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) }) {
		p := personOf[k]
		out = append(out, [3]string{k[0], k[1], pseudo(p)})
		persons[p] = true
	}
	for p := range persons {
		out = append(out, [3]string{"person", p, pseudo(p)})
	}
	if len(people) == 0 {
		return out, nil, nil
	}
	selected := map[string]bool{}
	for _, p := range people {
		if !persons[p] {
			return nil, nil, &UsageError{Msg: fmt.Sprintf("--people: no person %q (see athlake_people)", p)}
		}
		selected[pseudo(p)] = true
	}
	return out, selected, nil
}

// exportQuery is the query of a table's file: its columns de-identified,
// its rows those of the days and people asked for, in the order of their
// values.
func exportQuery(t *schemas.Table, reg *schemas.Registry, o ExportOptions, selected map[string]bool) string {
	var cols, joins []string
	for _, c := range t.Columns {
		col := "v." + ident(c.Name)
		switch c.Privacy {
		case schemas.Identifying:
		case schemas.BirthDate:
			cols = append(cols, "year("+col+") AS "+ident(strings.TrimSuffix(c.Name, "_date")+"_year"))
		case schemas.Person:
			p := fmt.Sprintf("p%d", len(joins))
			joins = append(joins, fmt.Sprintf("LEFT JOIN temp.pseudonyms %s ON %s.source = %s AND %s.athlete_id = %s::VARCHAR", p, p, literal(t.Source), p, col))
			cols = append(cols, p+".pseudonym AS "+ident(c.Name))
		default:
			cols = append(cols, col)
		}
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM lake.main." + ident(t.ViewName()) + " v " + strings.Join(joins, " ")
	if w := rowFilter(t, reg, "v", o, selected); w != "" {
		q += " WHERE " + w
	}
	return q + " ORDER BY ALL"
}

// rowFilter is the condition on alias's rows of t that keeps the days and
// people asked for: through its own time and person columns, else through
// its parent's.
func rowFilter(t *schemas.Table, reg *schemas.Registry, alias string, o ExportOptions, selected map[string]bool) string {
	var conds []string
	if c := t.Partition.Column; c != "" {
		if !o.Since.IsZero() {
			conds = append(conds, fmt.Sprintf("%s.%s::DATE >= DATE %s", alias, ident(c), literal(o.Since.Format(time.DateOnly))))
		}
		if !o.Until.IsZero() {
			conds = append(conds, fmt.Sprintf("%s.%s::DATE <= DATE %s", alias, ident(c), literal(o.Until.Format(time.DateOnly))))
		}
	}
	person := ""
	for _, c := range t.Columns {
		if c.Privacy == schemas.Person {
			person = c.Name
		}
	}
	if selected != nil && person != "" {
		in := make([]string, 0, len(selected))
		for _, p := range slices.Sorted(maps.Keys(selected)) {
			in = append(in, literal(p))
		}
		conds = append(conds, fmt.Sprintf("EXISTS (SELECT 1 FROM temp.pseudonyms s WHERE s.source = %s AND s.athlete_id = %s.%s::VARCHAR AND s.pseudonym IN (%s))",
			literal(t.Source), alias, ident(person), strings.Join(in, ", ")))
	}
	if p := t.Parent; p != nil && (t.Partition.Column == "" || person == "" && selected != nil) {
		parent, _ := reg.Lookup(t.Source, p.Table)
		if w := rowFilter(parent, reg, "q", o, selected); w != "" {
			var child, keys []string
			for _, k := range slices.Sorted(maps.Keys(p.Keys)) {
				child, keys = append(child, alias+"."+ident(k)), append(keys, "q."+ident(p.Keys[k]))
			}
			conds = append(conds, fmt.Sprintf("(%s) IN (SELECT (%s) FROM lake.main.%s q WHERE %s)",
				strings.Join(child, ", "), strings.Join(keys, ", "), ident(parent.ViewName()), w))
		}
	}
	return strings.Join(conds, " AND ")
}

// peopleQuery is athlake_people de-identified.
func peopleQuery(selected map[string]bool) string {
	q := `SELECT s.pseudonym AS person_id, year(pp.birth_date) AS birth_year, pp.vendor_ids
FROM lake.main.` + views.PeopleView + ` pp JOIN temp.pseudonyms s ON s.source = 'person' AND s.athlete_id = pp.person_id`
	if selected != nil {
		var in []string
		for _, p := range slices.Sorted(maps.Keys(selected)) {
			in = append(in, literal(p))
		}
		q += " WHERE s.pseudonym IN (" + strings.Join(in, ", ") + ")"
	}
	return q + " ORDER BY ALL"
}

// dictionary is the data dictionary of the dataset, in Markdown.
func dictionary(tabs []*schemas.Table, people bool) string {
	var b strings.Builder
	b.WriteString("# Data dictionary\n\nDe-identified: " + deidentification + ".\n")
	for _, t := range tabs {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n| column | type | meaning |\n|---|---|---|\n", t.ViewName(), t.Doc)
		var left []string
		for _, c := range t.Columns {
			switch c.Privacy {
			case schemas.Identifying:
				left = append(left, c.Name)
			case schemas.BirthDate:
				fmt.Fprintf(&b, "| %s_year | integer | Year of %s. |\n", strings.TrimSuffix(c.Name, "_date"), c.Name)
			case schemas.Person:
				fmt.Fprintf(&b, "| %s | string | The person's pseudonym (the same in every table and vendor). |\n", c.Name)
			default:
				fmt.Fprintf(&b, "| %s | %s | %s |\n", c.Name, c.Type, c.Doc)
			}
		}
		if len(left) > 0 {
			fmt.Fprintf(&b, "\nLeft out: %s.\n", strings.Join(left, ", "))
		}
	}
	if people {
		b.WriteString("\n## " + views.PeopleView + "\n\nOne row per person.\n\n| column | type | meaning |\n|---|---|---|\n" +
			"| person_id | string | The person's pseudonym. |\n| birth_year | integer | Year of birth, where a vendor sends it. |\n" +
			"| vendor_ids | integer | How many vendor ids are linked to the person. |\n")
	}
	return b.String()
}

// lakeSnapshot names the lake's state: its newest commit (the views the
// dataset comes from were built from it, or from a later one when a sync
// ran meanwhile: export right after a sync, or with none running).
func lakeSnapshot(ctx context.Context, st store.Store) (string, error) {
	objs, err := st.List(ctx, load.CommitsDir+"/")
	if err != nil {
		return "", err
	}
	newest := ""
	for _, o := range objs {
		if c, ok := load.CommitOfMarker(o.Key); ok && c.Name > newest {
			newest = c.Name
		}
	}
	return newest, nil
}

func fileEntry(path string) (ManifestEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return ManifestEntry{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return ManifestEntry{File: filepath.Base(path), Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, err
}

func ident(s string) string   { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
