package views

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/athlake/athlake/schemas"
)

// ExportSpec is a de-identified research dataset to write from a views
// database (`athlake export`).
type ExportSpec struct {
	// Tables are the tables to write, a file each; Lookup finds their
	// parents and the tables their person comes through.
	Tables []*schemas.Table
	Lookup func(source, name string) (*schemas.Table, bool)
	// People also writes athlake_people, Analysis these analysis views.
	People   bool
	Analysis []AnalysisView
	Dir      string // the folder the files are written into
	Format   string // parquet or csv
	// Since and Until keep the rows of these UTC days (inclusive) by the
	// table's time column (a child's: its parent's); zero: no bound.
	Since, Until time.Time
	// Selected keeps the rows of these person ids (athlake_person_ids)
	// only; nil: everyone.
	Selected []string
	// Pseudonym is a person id's pseudonym.
	Pseudonym func(person string) string
	// Shift, if set, is the days a person's dates and times move by: every
	// time column of the rows of a person (a child row's: its parent's
	// person) moves by the same days, so intervals within a person stay.
	Shift func(person string) int
}

// ExportedFile is a file of a dataset.
type ExportedFile struct {
	Table string
	Path  string
	Rows  int64
}

// ErrNoPerson is a selected person id that no vendor id maps to.
var ErrNoPerson = errors.New("no such person")

// Export writes spec's files from the database at db, attached read only
// on one connection (one state of the database throughout), on one
// thread and in UTC, so that the same data gives the same bytes. A file
// appears only when complete.
func Export(ctx context.Context, db string, spec ExportSpec) ([]ExportedFile, error) {
	conn, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1)
	setup := "SET threads = 1; SET TimeZone = 'UTC'; SET preserve_insertion_order = true; ATTACH " + literal(db) + " AS lake (READ_ONLY); USE lake;" +
		" CREATE TEMPORARY TABLE pseudonyms (source VARCHAR, athlete_id VARCHAR, pseudonym VARCHAR, shift_days INTEGER)"
	if _, err := conn.ExecContext(ctx, setup); err != nil {
		return nil, fmt.Errorf("opening %s: %w", db, err)
	}
	selected, err := pseudonymize(ctx, conn, spec)
	if err != nil {
		return nil, err
	}
	var files []ExportedFile
	write := func(table, query string) error {
		path := filepath.Join(spec.Dir, table+"."+spec.Format)
		opts := "FORMAT parquet, COMPRESSION zstd"
		if spec.Format == "csv" {
			opts = "FORMAT csv, HEADER true"
		}
		res, err := conn.ExecContext(ctx, "COPY ("+query+") TO "+literal(path)+" ("+opts+")")
		if err != nil {
			os.Remove(path)
			return fmt.Errorf("exporting %s: %w", table, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("exporting %s: %w", table, err)
		}
		files = append(files, ExportedFile{Table: table, Path: path, Rows: n})
		return nil
	}
	for _, t := range spec.Tables {
		if err := write(t.ViewName(), exportQuery(t, spec, selected)); err != nil {
			return nil, err
		}
	}
	for _, v := range spec.Analysis {
		if err := write(v.Name, analysisExportQuery(v, spec, selected)); err != nil {
			return nil, err
		}
	}
	if spec.People {
		if err := write(PeopleView, peopleExportQuery(selected)); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// pseudonymize fills the temporary table pseudonyms: every vendor id of the
// person columns of the tables, by its person (the linked one, else
// source:id), and every person id under the source "person". It returns
// the pseudonyms of the selected people (nil: everyone).
func pseudonymize(ctx context.Context, conn *sql.DB, spec ExportSpec) ([]string, error) {
	personOf := map[[2]string]string{}
	if err := scan(ctx, conn, "SELECT source, athlete_id, person_id FROM "+PersonIDsView, func(r []string) {
		personOf[[2]string{r[0], r[1]}] = r[2]
	}); err != nil {
		return nil, fmt.Errorf("reading %s (built by an older athlake? run athlake views): %w", PersonIDsView, err)
	}
	for _, t := range spec.Tables {
		for _, c := range t.Columns {
			if c.Privacy != schemas.Person {
				continue
			}
			err := scan(ctx, conn, fmt.Sprintf("SELECT DISTINCT %s::VARCHAR FROM %s WHERE %s IS NOT NULL", ident(c.Name), ident(t.ViewName()), ident(c.Name)), func(r []string) {
				if k := [2]string{t.Source, r[0]}; personOf[k] == "" {
					personOf[k] = t.Source + ":" + r[0]
				}
			})
			if err != nil {
				return nil, err
			}
		}
	}
	people := map[string]bool{} // person ids the analysis views name
	for _, v := range spec.Analysis {
		for _, col := range slices.Sorted(maps.Keys(v.Persons)) {
			src := v.Persons[col]
			err := scan(ctx, conn, fmt.Sprintf("SELECT DISTINCT %s::VARCHAR FROM %s WHERE %s IS NOT NULL", ident(col), ident(v.Name), ident(col)), func(r []string) {
				if src == "person" {
					people[r[0]] = true
				} else if k := [2]string{src, r[0]}; personOf[k] == "" {
					personOf[k] = src + ":" + r[0]
				}
			})
			if err != nil {
				return nil, err
			}
		}
	}
	var rows []string
	persons := map[string]string{}
	row := func(source, id, person string) string {
		shift := 0
		if spec.Shift != nil {
			shift = spec.Shift(person)
		}
		return fmt.Sprintf("(%s, %s, %s, %d)", literal(source), literal(id), literal(persons[person]), shift)
	}
	for _, k := range slices.SortedFunc(maps.Keys(personOf), func(a, b [2]string) int { return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) }) {
		p := personOf[k]
		if persons[p] == "" {
			persons[p] = spec.Pseudonym(p)
		}
		rows = append(rows, row(k[0], k[1], p))
	}
	for p := range people {
		if persons[p] == "" {
			persons[p] = spec.Pseudonym(p)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(persons)) {
		rows = append(rows, row("person", p, p))
	}
	for start := 0; start < len(rows); start += 1000 {
		if _, err := conn.ExecContext(ctx, "INSERT INTO temp.pseudonyms VALUES "+strings.Join(rows[start:min(start+1000, len(rows))], ", ")); err != nil {
			return nil, err
		}
	}
	if spec.Selected == nil {
		return nil, nil
	}
	selected := []string{}
	for _, p := range spec.Selected {
		if persons[p] == "" {
			return nil, fmt.Errorf("%w: %q", ErrNoPerson, p)
		}
		selected = append(selected, persons[p])
	}
	slices.Sort(selected)
	return selected, nil
}

// scan runs a query and calls fn with each row as strings.
func scan(ctx context.Context, conn *sql.DB, q string, fn func([]string)) error {
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		r := make([]string, len(vals))
		for i, v := range vals {
			r[i] = v.String
		}
		fn(r)
	}
	return rows.Err()
}

// exportQuery is the query of a table's file: its columns de-identified,
// its rows those of the days and people asked for, in the order of their
// values. A vendor id without a pseudonym is an error, not a NULL.
func exportQuery(t *schemas.Table, spec ExportSpec, selected []string) string {
	var cols, joins []string
	shift := ""
	if spec.Shift != nil {
		var js []string
		js, shift = shiftJoins(t, spec, "v", 0)
		joins = append(joins, js...)
	}
	for _, c := range t.Columns {
		col := "v." + ident(c.Name)
		if shift != "" && c.Privacy == schemas.Public && (c.Type == schemas.Timestamp || c.Type == schemas.WallTime || c.Type == schemas.Date) {
			cols = append(cols, fmt.Sprintf("CAST(%s + to_days(coalesce(%s, 0)) AS %s) AS %s", col, shift, sqlType(c.Type), ident(c.Name)))
			continue
		}
		switch c.Privacy {
		case schemas.Identifying:
		case schemas.BirthDate:
			cols = append(cols, "year("+col+") AS "+ident(BirthYear(c.Name)))
		case schemas.Person:
			p := fmt.Sprintf("p%d", len(joins))
			joins = append(joins, fmt.Sprintf("LEFT JOIN temp.pseudonyms %s ON %s.source = %s AND %s.athlete_id = %s::VARCHAR", p, p, literal(t.Source), p, col))
			cols = append(cols, fmt.Sprintf("CASE WHEN %s IS NULL OR %s.pseudonym IS NOT NULL THEN %s.pseudonym ELSE error('no pseudonym for a vendor id') END AS %s", col, p, p, ident(c.Name)))
		default:
			cols = append(cols, col)
		}
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM " + ident(t.ViewName()) + " v " + strings.Join(joins, " ")
	if w := rowFilter(t, spec, "v", selected, 0); w != "" {
		q += " WHERE " + w
	}
	return q + " ORDER BY ALL"
}

// shiftJoins joins to alias's rows of t the pseudonyms row of their person:
// through its person column, else through the table it belongs to. It
// returns the joins and the expression of the days to shift by ("" when
// the rows have no person: team-level records keep their dates).
func shiftJoins(t *schemas.Table, spec ExportSpec, alias string, depth int) ([]string, string) {
	for _, c := range t.Columns {
		if c.Privacy == schemas.Person {
			s := fmt.Sprintf("s%d", depth)
			return []string{fmt.Sprintf("LEFT JOIN temp.pseudonyms %s ON %s.source = %s AND %s.athlete_id = %s.%s::VARCHAR",
				s, s, literal(t.Source), s, alias, ident(c.Name))}, s + ".shift_days"
		}
	}
	link := t.Parent
	if link == nil {
		link = t.PersonVia
	}
	if link == nil {
		return nil, ""
	}
	owner, _ := spec.Lookup(t.Source, link.Table)
	o := fmt.Sprintf("o%d", depth)
	var on []string
	for _, k := range slices.Sorted(maps.Keys(link.Keys)) {
		on = append(on, fmt.Sprintf("%s.%s = %s.%s", o, ident(link.Keys[k]), alias, ident(k)))
	}
	joins, shift := shiftJoins(owner, spec, o, depth+1)
	if shift == "" {
		return nil, ""
	}
	return append([]string{fmt.Sprintf("LEFT JOIN %s %s ON %s", ident(owner.ViewName()), o, strings.Join(on, " AND "))}, joins...), shift
}

// sqlType is the DuckDB type of a time column.
func sqlType(t schemas.Type) string {
	switch t {
	case schemas.Date:
		return "DATE"
	case schemas.WallTime:
		return "TIMESTAMP"
	}
	return "TIMESTAMPTZ"
}

// BirthYear names the column a birth date column becomes.
func BirthYear(col string) string { return strings.TrimSuffix(col, "_date") + "_year" }

// rowFilter is the condition on alias's rows of t that keeps the days and
// people asked for: through its own time and person columns, else through
// the table it belongs to (its parent, or Table.PersonVia).
func rowFilter(t *schemas.Table, spec ExportSpec, alias string, selected []string, depth int) string {
	var conds []string
	if c := t.Partition.Column; c != "" {
		if !spec.Since.IsZero() {
			conds = append(conds, fmt.Sprintf("%s.%s::DATE >= DATE %s", alias, ident(c), literal(spec.Since.Format(time.DateOnly))))
		}
		if !spec.Until.IsZero() {
			conds = append(conds, fmt.Sprintf("%s.%s::DATE <= DATE %s", alias, ident(c), literal(spec.Until.Format(time.DateOnly))))
		}
	}
	person := ""
	for _, c := range t.Columns {
		if c.Privacy == schemas.Person {
			person = c.Name
		}
	}
	if selected != nil && person != "" {
		in := make([]string, len(selected))
		for i, p := range selected {
			in[i] = literal(p)
		}
		conds = append(conds, fmt.Sprintf("%s.%s::VARCHAR IN (SELECT athlete_id FROM temp.pseudonyms WHERE source = %s AND pseudonym IN (%s))",
			alias, ident(person), literal(t.Source), strings.Join(in, ", ")))
	}
	link := t.Parent
	if link == nil {
		link = t.PersonVia
	}
	needTime := t.Partition.Column == "" && (!spec.Since.IsZero() || !spec.Until.IsZero())
	needPerson := person == "" && selected != nil
	if link != nil && (needTime || needPerson) {
		owner, _ := spec.Lookup(t.Source, link.Table)
		q := fmt.Sprintf("q%d", depth)
		if w := rowFilter(owner, spec, q, selected, depth+1); w != "" {
			var mine, theirs []string
			for _, k := range slices.Sorted(maps.Keys(link.Keys)) {
				mine, theirs = append(mine, alias+"."+ident(k)), append(theirs, q+"."+ident(link.Keys[k]))
			}
			conds = append(conds, fmt.Sprintf("(%s) IN (SELECT (%s) FROM %s %s WHERE %s)",
				strings.Join(mine, ", "), strings.Join(theirs, ", "), ident(owner.ViewName()), q, w))
		}
	}
	return strings.Join(conds, " AND ")
}

// analysisExportQuery is the query of an analysis view's file: its person
// columns as pseudonyms, its days shifted with the person's (if asked),
// its rows those of the days (by day) and people asked for.
func analysisExportQuery(v AnalysisView, spec ExportSpec, selected []string) string {
	var cols, joins, conds []string
	shift := ""
	for _, c := range v.Columns {
		col := "v." + ident(c.Name)
		src, person := v.Persons[c.Name]
		switch {
		case person:
			p := fmt.Sprintf("p%d", len(joins))
			joins = append(joins, fmt.Sprintf("LEFT JOIN temp.pseudonyms %s ON %s.source = %s AND %s.athlete_id = %s::VARCHAR", p, p, literal(src), p, col))
			cols = append(cols, fmt.Sprintf("CASE WHEN %s IS NULL OR %s.pseudonym IS NOT NULL THEN %s.pseudonym ELSE error('no pseudonym for a person id') END AS %s", col, p, p, ident(c.Name)))
			if src == "person" {
				shift = p + ".shift_days"
				if selected != nil {
					in := make([]string, len(selected))
					for i, s := range selected {
						in[i] = literal(s)
					}
					conds = append(conds, p+".pseudonym IN ("+strings.Join(in, ", ")+")")
				}
			}
		case spec.Shift != nil && (c.Type == "DATE" || strings.HasPrefix(c.Type, "TIMESTAMP")):
			cols = append(cols, "") // after the loop: the person's shift is known then
		default:
			cols = append(cols, col)
		}
		if c.Name == "day" {
			if !spec.Since.IsZero() {
				conds = append(conds, fmt.Sprintf("%s >= DATE %s", col, literal(spec.Since.Format(time.DateOnly))))
			}
			if !spec.Until.IsZero() {
				conds = append(conds, fmt.Sprintf("%s <= DATE %s", col, literal(spec.Until.Format(time.DateOnly))))
			}
		}
	}
	for i, c := range v.Columns {
		if cols[i] == "" {
			cols[i] = fmt.Sprintf("CAST(v.%s + to_days(coalesce(%s, 0)) AS %s) AS %s", ident(c.Name), cmp.Or(shift, "0"), c.Type, ident(c.Name))
		}
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM " + ident(v.Name) + " v " + strings.Join(joins, " ")
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	return q + " ORDER BY ALL"
}

// peopleExportQuery is athlake_people de-identified.
func peopleExportQuery(selected []string) string {
	q := `SELECT s.pseudonym AS person_id, year(pp.birth_date) AS birth_year, pp.vendor_ids
FROM ` + PeopleView + ` pp JOIN temp.pseudonyms s ON s.source = 'person' AND s.athlete_id = pp.person_id`
	if selected != nil {
		in := make([]string, len(selected))
		for i, p := range selected {
			in[i] = literal(p)
		}
		q += " WHERE s.pseudonym IN (" + strings.Join(in, ", ") + ")"
	}
	return q + " ORDER BY ALL"
}
