package views

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/athlake/athlake/schemas"
)

// PartFile is a Parquet file of a table, with its partition folder.
type PartFile struct {
	Path string // local path; "" when Stage must fetch it first
	Key  string // the file in the lake
	Part string // partition folder ("month=2026-05"; "" when unpartitioned)
	// Delta is a file no compaction wrote: its rows may be older
	// versions of other files' keys.
	Delta bool
}

// CompactInput is a table family to compact: an incremental root table,
// its child tables, and every file of theirs that the views read.
type CompactInput struct {
	Root     *schemas.Table
	Children []*schemas.Table
	Files    map[string][]PartFile // by table ID
	OutDir   string                // local folder for the files written
	// Stage makes a lake file readable locally and returns its path; it
	// is called for the child files without a Path of the partitions
	// rewritten, only (an S3 lake fetches no more than it rewrites).
	Stage func(ctx context.Context, key string) (string, error)
	// MemoryLimit is DuckDB's memory_limit in bytes (0:
	// DefaultMemoryLimit); beyond it DuckDB spills to disk.
	MemoryLimit int64
	// Threads is DuckDB's threads (0: a thread per core).
	Threads int
}

// CompactOutput is a file CompactFamily wrote.
type CompactOutput struct {
	Table *schemas.Table
	Part  string
	Path  string
	Rows  int64
}

// CompactFamily writes the current state of a table family, partition by
// partition, exactly as the views show it: the root's newest version of
// each key (by _extracted_at, then _run_id) and the children of those
// versions, one row per key, sorted by key, in row groups of 122,880 rows.
// It rewrites the partitions that must change: those holding delta files,
// and those holding a version that a newer one in another partition
// replaced (a record whose date moved). It returns those partitions (every
// file of the family in them is replaced by the outputs) and the outputs;
// a partition left without rows gets no file.
func CompactFamily(ctx context.Context, in CompactInput) ([]string, []CompactOutput, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx) // temporary tables live per connection
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	exec := func(q string) error {
		_, err := conn.ExecContext(ctx, q)
		return err
	}
	// A compaction runs inside a sync: it spills to disk rather than grow
	// with the table.
	if err := exec(memorySetting(in.MemoryLimit, in.Threads) + "; SET preserve_insertion_order = false; SET temp_directory = " + literal(filepath.ToSlash(filepath.Join(in.OutDir, "spill")))); err != nil {
		return nil, nil, err
	}
	if err := exec("CREATE TEMP TABLE files (path VARCHAR, part VARCHAR, delta BOOLEAN)"); err != nil {
		return nil, nil, err
	}
	for _, fs := range in.Files {
		for _, f := range fs {
			if _, err := conn.ExecContext(ctx, "INSERT INTO files VALUES (?, ?, ?)", filepath.ToSlash(f.Path), f.Part, f.Delta); err != nil {
				return nil, nil, err
			}
		}
	}
	root := in.Root
	rootFiles := in.Files[root.ID()]
	if len(rootFiles) == 0 {
		return nil, nil, nil
	}
	keys := identList(root.Key, "")
	// The lineage of every version of the root's keys (key, version, file
	// and that file's partition), then of the current ones. The rows
	// themselves are read again partition by partition: DuckDB holds a
	// partition's, not the table's (a family's peak memory was these
	// temporary tables, the root twice over).
	lineage := lineageColumns(root, in.Children)
	into := "CREATE TEMP TABLE r AS "
	for chunk := range slices.Chunk(rootFiles, readChunk) {
		if err := exec(into + "SELECT " + identList(lineage, "t.") + ", t.filename, files.part AS __part FROM " + scanFiles(chunk, true) +
			" AS t JOIN files ON t.filename = files.path"); err != nil {
			return nil, nil, fmt.Errorf("%s: reading: %w", root.ID(), err)
		}
		into = "INSERT INTO r "
	}
	if err := exec(fmt.Sprintf("CREATE TEMP TABLE cur AS SELECT * FROM r QUALIFY row_number() OVER (PARTITION BY %s ORDER BY %s DESC, %s DESC) = 1",
		keys, ident(schemas.ColExtractedAt), ident(schemas.ColRunID))); err != nil {
		return nil, nil, fmt.Errorf("%s: current state: %w", root.ID(), err)
	}
	parts, err := stringsOf(ctx, conn, fmt.Sprintf(`SELECT part FROM files WHERE delta
		UNION SELECT r.__part FROM r ANTI JOIN cur ON r.filename = cur.filename AND %s
		ORDER BY 1`, joinOn(append(slices.Clone(root.Key), schemas.ColExtractedAt, schemas.ColRunID), "r", "cur")))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", root.ID(), err)
	}
	var outs []CompactOutput
	n := 0
	out := func(t *schemas.Table, part, query string) error {
		n++
		p := filepath.Join(in.OutDir, fmt.Sprintf("%04d.parquet", n))
		res, err := conn.ExecContext(ctx, fmt.Sprintf("COPY (%s) TO %s (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)", query, literal(filepath.ToSlash(p))))
		if err != nil {
			return fmt.Errorf("%s %s: %w", t.ID(), part, err)
		}
		rows, _ := res.RowsAffected()
		if rows > 0 {
			outs = append(outs, CompactOutput{Table: t, Part: part, Path: p, Rows: rows})
		}
		return nil
	}
	version := joinOn(append(slices.Clone(root.Key), schemas.ColExtractedAt, schemas.ColRunID), "t", "p")
	for _, part := range parts {
		// The current versions in the partition's files.
		var files []PartFile
		for _, f := range rootFiles {
			if f.Part == part {
				files = append(files, f)
			}
		}
		if len(files) > 0 {
			rows, drop, err := readFiles(ctx, conn, "part_rows", root, files, true)
			if err != nil {
				return nil, nil, fmt.Errorf("%s %s: %w", root.ID(), part, err)
			}
			q := fmt.Sprintf("SELECT %s FROM (%s) AS t SEMI JOIN (SELECT * FROM cur WHERE __part = %s) AS p ON t.filename = p.filename AND %s ORDER BY %s",
				declared(root, "t."), rows, literal(part), version, keys)
			if err := out(root, part, q); err != nil {
				return nil, nil, err
			}
			if err := drop(); err != nil {
				return nil, nil, err
			}
		}
		for _, ct := range in.Children {
			var files []PartFile
			for _, f := range in.Files[ct.ID()] {
				if f.Part != part {
					continue
				}
				if f.Path == "" {
					if f.Path, err = in.Stage(ctx, f.Key); err != nil {
						return nil, nil, fmt.Errorf("%s: %w", f.Key, err)
					}
				}
				files = append(files, f)
			}
			if len(files) == 0 {
				continue
			}
			rows, drop, err := readFiles(ctx, conn, "part_rows", ct, files, false)
			if err != nil {
				return nil, nil, fmt.Errorf("%s %s: %w", ct.ID(), part, err)
			}
			// The children of the current version, chosen by that
			// version alone, as the views choose them: a response's
			// children have distinct keys, so no window over every row.
			q := fmt.Sprintf("SELECT c.* FROM (%s) AS c SEMI JOIN (SELECT * FROM cur WHERE __part = %s) AS p ON %s ORDER BY %s",
				rows, literal(part), parentVersion(ct, "c", "p"), identList(ct.Key, ""))
			if err := out(ct, part, q); err != nil {
				return nil, nil, err
			}
			if err := drop(); err != nil {
				return nil, nil, err
			}
		}
	}
	return parts, outs, nil
}

// scanFiles reads local files by name (with a filename column if asked),
// without hive partitioning: files never hold their partition's column.
func scanFiles(files []PartFile, filename bool) string {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = literal(filepath.ToSlash(f.Path))
	}
	return fmt.Sprintf("read_parquet([%s], union_by_name = true, hive_partitioning = false, filename = %s)", strings.Join(paths, ", "), strconv.FormatBool(filename))
}

// lineageColumns say which version of which record a root table's row is:
// its key, the columns of it its children name, _extracted_at and _run_id.
func lineageColumns(root *schemas.Table, children []*schemas.Table) []string {
	cols := slices.Clone(root.Key)
	for _, ct := range children {
		for _, pc := range ct.Parent.Keys {
			if !slices.Contains(cols, pc) {
				cols = append(cols, pc)
			}
		}
	}
	return append(cols, schemas.ColExtractedAt, schemas.ColRunID)
}

// declared lists t's columns in declared order, each with prefix.
func declared(t *schemas.Table, prefix string) string {
	cols := t.AllColumns()
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return identList(names, prefix)
}

// columnsOf lists t's columns in declared order for a SELECT from query's
// rows (see selectColumns).
func columnsOf(ctx context.Context, conn queryer, query string, t *schemas.Table) (string, error) {
	have, err := stringsOf(ctx, conn, "SELECT column_name FROM (DESCRIBE "+query+")")
	if err != nil {
		return "", fmt.Errorf("%s: %w", t.ID(), err)
	}
	return selectColumns(have, t), nil
}

// selectColumns lists t's columns in declared order for a SELECT from rows
// with the columns have: a column no file has yet is NULL of its declared
// type.
func selectColumns(have []string, t *schemas.Table) string {
	var cols []string
	for _, c := range t.AllColumns() {
		if slices.Contains(have, c.Name) {
			cols = append(cols, ident(c.Name))
			continue
		}
		typ := c.Type.DuckDB()
		if c.Type == schemas.JSON {
			typ = "VARCHAR" // as the writer stores it
		}
		cols = append(cols, fmt.Sprintf("CAST(NULL AS %s) AS %s", typ, ident(c.Name)))
	}
	return strings.Join(cols, ", ")
}

// queryer is a connection or a transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func stringsOf(ctx context.Context, conn queryer, query string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s sql.NullString
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s.String)
	}
	return out, rows.Err()
}

func identList(cols []string, prefix string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = prefix + ident(c)
	}
	return strings.Join(out, ", ")
}

// joinOn matches two relations on columns (NULLs match NULLs).
func joinOn(cols []string, a, b string) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = fmt.Sprintf("%s.%s IS NOT DISTINCT FROM %s.%s", a, ident(c), b, ident(c))
	}
	return strings.Join(out, " AND ")
}
