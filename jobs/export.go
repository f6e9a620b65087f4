package jobs

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
	// ShiftDates moves every date and time of a person's rows by the
	// person's keyed offset, up to maxShiftDays either way.
	ShiftDates bool
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
	DatesShifted     string          `json:"dates_shifted,omitempty"`
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

// maxShiftDays bounds the offset of a person's dates.
const maxShiftDays = 182

const datesShifted = "every date and time of a person's rows (a child row's: its parent's person) moved by whole days, " +
	"from HMAC-SHA256(study key, \"shift\\0\" + person id), up to 182 days either way; the rows of no person " +
	"(team sessions, devices, ...) keep theirs; --since and --until select by the dates before the shift"

const deidentification = "person ids and every vendor id of a person replaced by P + the first 16 hex digits of " +
	"HMAC-SHA256(study key, person id); names, e-mail addresses, free-text notes, external ids and GPS positions " +
	"left out; birth dates reduced to the year"

// Export writes a de-identified research dataset from the views database
// (the lake as of its last build): the chosen tables, a data dictionary
// and a manifest with the SHA-256 of every file. The dataset is written
// into a folder beside o.To and renamed into place when complete; o.To
// must not exist or be empty.
func Export(ctx context.Context, env *Env, cfg *Config, o ExportOptions) (*Manifest, error) {
	key := cmp.Or(o.StudyKey, cfg.Export.StudyKey.Reveal())
	if len(key) < 16 {
		return nil, &ConfigError{Key: "export.study_key", Msg: "set a study key of 16 characters or more (or $" + StudyKeyEnv + "): it keys the pseudonyms"}
	}
	o.Format = cmp.Or(o.Format, "parquet")
	switch {
	case o.Format != "parquet" && o.Format != "csv":
		return nil, &UsageError{Msg: fmt.Sprintf("--format %s: want parquet or csv", o.Format)}
	case o.To == "":
		return nil, &UsageError{Msg: "--to: name the folder of the dataset"}
	}
	if entries, err := os.ReadDir(o.To); err == nil && len(entries) > 0 {
		return nil, &UsageError{Msg: fmt.Sprintf("--to %s: not empty; a dataset goes into a new folder", o.To)}
	}
	db := cfg.DuckDBPath()
	if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) {
		return nil, &UsageError{Msg: fmt.Sprintf("%s does not exist yet: run athlake sync (or athlake views) first", db)}
	}
	st, err := openStore(ctx, env, cfg)
	if err != nil {
		return nil, err
	}
	// Not beside a run: every run ends by bringing the views up to date,
	// so without one they hold the lake's newest commit, which the
	// manifest names.
	if err := notBesideARun(ctx, st); err != nil {
		return nil, err
	}
	reg := tables()
	tabs, analysis, people, err := exportTables(ctx, db, reg, o.Tables)
	if err != nil {
		return nil, err
	}
	snapshot, err := lakeSnapshot(ctx, st)
	if err != nil {
		return nil, err
	}
	partial := filepath.Clean(o.To) + ".partial"
	if err := os.RemoveAll(partial); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(partial, 0o755); err != nil {
		return nil, err
	}
	mac := func(s string) []byte {
		h := hmac.New(sha256.New, []byte(key))
		h.Write([]byte(s))
		return h.Sum(nil)
	}
	spec := views.ExportSpec{
		Tables: tabs, Analysis: analysis, Lookup: reg.Lookup, People: people, Dir: partial, Format: o.Format,
		Since: o.Since, Until: o.Until, Selected: o.People,
		Pseudonym: func(person string) string { return "P" + hex.EncodeToString(mac(person))[:16] },
	}
	if o.ShiftDates {
		spec.Shift = func(person string) int {
			return int(binary.BigEndian.Uint64(mac("shift\x00"+person))%(2*maxShiftDays+1)) - maxShiftDays
		}
	}
	files, err := views.Export(ctx, db, spec)
	if errors.Is(err, views.ErrNoPerson) {
		return nil, &UsageError{Msg: "--people: " + err.Error() + " (see athlake_people)"}
	}
	if err != nil {
		return nil, err
	}
	m := &Manifest{Athlake: cmp.Or(env.Version, Version), Snapshot: snapshot, Format: o.Format, People: len(o.People), Deidentification: deidentification}
	if o.ShiftDates {
		m.DatesShifted = datesShifted
	}
	if !o.Since.IsZero() {
		m.Since = o.Since.Format(time.DateOnly)
	}
	if !o.Until.IsZero() {
		m.Until = o.Until.Format(time.DateOnly)
	}
	dict := filepath.Join(partial, "dictionary.md")
	if err := writeFileAtomic(dict, []byte(dictionary(tabs, analysis, people))); err != nil {
		return nil, err
	}
	for _, f := range files {
		e, err := fileEntry(f.Path)
		if err != nil {
			return nil, err
		}
		e.Table, e.Rows = f.Table, f.Rows
		m.Files = append(m.Files, e)
	}
	e, err := fileEntry(dict)
	if err != nil {
		return nil, err
	}
	m.Files = append(m.Files, e)
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := writeFileAtomic(filepath.Join(partial, "manifest.json"), append(b, '\n')); err != nil {
		return nil, err
	}
	os.Remove(o.To) // empty, if it exists
	if err := os.Rename(partial, o.To); err != nil {
		return nil, err
	}
	fmt.Fprintf(env.Stdout, "%d files written to %s (de-identified; manifest.json lists them with their SHA-256)\n", len(m.Files), o.To)
	return m, nil
}

// exportTables is what to export: the tables, the analysis views and
// whether athlake_people is one. Those named, else every table of the
// database with rows but those that are not study data (staff, the
// webhook log), every analysis view it has, and athlake_people.
func exportTables(ctx context.Context, db string, reg *schemas.Registry, names []string) ([]*schemas.Table, []views.AnalysisView, bool, error) {
	_, have, err := views.Query(ctx, db, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")
	if err != nil {
		return nil, nil, false, err
	}
	exists := map[string]bool{}
	for _, r := range have {
		exists[r[0]] = true
	}
	var out []*schemas.Table
	var analysis []views.AnalysisView
	if len(names) == 0 {
		var counts []string
		for _, t := range orderedTables(reg) {
			counts = append(counts, fmt.Sprintf("SELECT %d AS i, count(*) > 0 FROM (SELECT 1 FROM %s LIMIT 1)", len(counts), t.ViewName()))
		}
		_, rows, err := views.Query(ctx, db, strings.Join(counts, " UNION ALL ")+" ORDER BY i")
		if err != nil {
			return nil, nil, false, err
		}
		for i, t := range orderedTables(reg) {
			if rows[i][1] == "true" && !t.NotStudyData {
				out = append(out, t)
			}
		}
		for _, v := range views.Analysis() {
			if exists[v.Name] {
				analysis = append(analysis, v)
			}
		}
		return out, analysis, true, nil
	}
	people := false
	for _, n := range names {
		if n == views.PeopleView {
			people = true
			continue
		}
		found := false
		for _, t := range orderedTables(reg) {
			if t.ViewName() == n {
				out, found = append(out, t), true
			}
		}
		for _, v := range views.Analysis() {
			if v.Name == n && exists[n] {
				analysis, found = append(analysis, v), true
			}
		}
		if !found {
			return nil, nil, false, &UsageError{Msg: fmt.Sprintf("--tables: no table or analysis view %q (see athlake schemas)", n)}
		}
	}
	return out, analysis, people, nil
}

// dictionary is the data dictionary of the dataset, in Markdown.
func dictionary(tabs []*schemas.Table, analysis []views.AnalysisView, people bool) string {
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
				fmt.Fprintf(&b, "| %s | integer | Year of %s. |\n", views.BirthYear(c.Name), c.Name)
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
	for _, v := range analysis {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\nReference: %s\n\n| column | type | unit | meaning |\n|---|---|---|---|\n", v.Name, v.Doc, v.Reference)
		for _, c := range v.Columns {
			doc := c.Doc
			if _, ok := v.Persons[c.Name]; ok {
				doc = "The person's pseudonym (the same in every table and vendor)."
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.Name, c.Type, c.Unit, doc)
		}
	}
	if people {
		b.WriteString("\n## " + views.PeopleView + "\n\nOne row per person.\n\n| column | type | meaning |\n|---|---|---|\n" +
			"| person_id | string | The person's pseudonym. |\n| birth_year | integer | Year of birth, where a vendor sends it. |\n" +
			"| vendor_ids | integer | How many vendor ids are linked to the person. |\n")
	}
	return b.String()
}

// lakeSnapshot names the lake's state: its newest commit (that of the
// views, which every run brings up to date before it releases the lake).
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
