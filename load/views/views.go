// Package views builds the DuckDB database of views over the lake's Parquet
// files: one view per table, showing the current state. It is the only
// package that links DuckDB.
package views

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2" // also registers the "duckdb" driver

	"github.com/athlake/athlake/schemas"
)

// Options says what to build.
type Options struct {
	// DB is the database file to (re)create.
	DB string
	// Lake is the lake's root: a local folder (made absolute) or an s3://
	// URL. Views store it as written, so the database works from any
	// working directory.
	Lake string
	// S3 says how DuckDB reaches an s3:// lake.
	S3 *S3
	// Tables to create views for, parents before their children.
	Tables []*schemas.Table
	// Files lists the Parquet files a table's view reads (keys relative to
	// Lake): those compactions wrote (base) and the others (delta); for a
	// snapshot table, those of the newest complete snapshot (delta). A
	// table without files gets an empty view with its declared columns.
	Files func(t *schemas.Table) (base, delta []string)
	// Mode is what the database holds (default Tables).
	Mode Mode
	// People, if set, says who is who across vendors (the people views).
	People *People

	// For Tables mode:
	//
	// Replaced holds the files committed compactions replaced.
	Replaced map[string]bool
	// Compacted maps each file a compaction wrote to the files that
	// compaction replaced.
	Compacted map[string][]string
	// Stage copies a file of an s3:// lake into dir and returns its local
	// path (nil for a local lake, read in place).
	Stage func(ctx context.Context, key, dir string) (string, error)
	// Anew, if set, says why the database is built from every file
	// instead of being updated (files rewritten in place by a rebuild).
	Anew string
	// MemoryLimit is DuckDB's memory_limit for a build in tables mode,
	// in bytes (0: DefaultMemoryLimit); beyond it DuckDB spills to disk.
	MemoryLimit int64
	// Threads is DuckDB's threads for a build in tables mode (0: a
	// thread per core).
	Threads int
}

// DefaultMemoryLimit is DuckDB's memory_limit when none is given.
const DefaultMemoryLimit = 256 << 20

// memorySetting is the SET statements of a memory limit in bytes (0:
// DefaultMemoryLimit) and of a number of threads (0: DuckDB's default, a
// thread per core).
func memorySetting(n int64, threads int) string {
	if n <= 0 {
		n = DefaultMemoryLimit
	}
	// DuckDB's allocator keeps what a task freed for the next one, up to
	// allocator_flush_threshold (128 MB by default) on top of the limit:
	// flushing at a tenth of the limit keeps the resident set near it.
	// What a statement frees at its end (a sort's runs, a hash table, a
	// Parquet row group written) is a bulk deallocation, kept up to
	// allocator_bulk_deallocation_flush_threshold (512 MB by default)
	// unless flushed, and jemalloc returns freed pages to the system only
	// from a background thread: flushing after 1 MiB, with that thread,
	// lowered a compaction's peak from ~300 to ~215 MiB at no cost in
	// time (Plyomat large, memory_limit 104MiB).
	// DuckDB's external file cache keeps what it read of each file in its
	// buffer pool; these phases read a local file once (an s3:// lake's
	// files are staged first), so it only takes memory: 34 MiB over 2,170
	// small files read 100 at a time.
	set := fmt.Sprintf("SET memory_limit = '%dKiB'; SET allocator_flush_threshold = '%dKiB'; "+
		"SET allocator_bulk_deallocation_flush_threshold = '1MiB'; SET allocator_background_threads = true; "+
		"SET enable_external_file_cache = false", n>>10, n/10>>10)
	if threads > 0 {
		set += fmt.Sprintf("; SET threads = %d", threads)
	}
	return set
}

// Mode is what the views database holds.
type Mode string

const (
	// Tables: the lake's current state copied into DuckDB tables, brought
	// up to date incrementally by every build; queries run as fast as on
	// native tables and need no access to the lake.
	Tables Mode = "tables"
	// Files: views that read the Parquet files on every query; a small
	// database, slower queries, an s3:// lake read through httpfs.
	Files Mode = "files"
)

// Build brings the database at DB up to date with the lake. A notebook
// never sees a build half done: in Tables mode the changes are one
// transaction (or a new database renamed into place); in Files mode the
// database is always written to a temporary file and renamed into place.
// Either way, the build ends by creating the analysis views (Analysis) over
// the tables or views it made.
func Build(ctx context.Context, o Options) (*Report, error) {
	lake := o.Lake
	if !strings.HasPrefix(lake, "s3://") {
		abs, err := filepath.Abs(lake)
		if err != nil {
			return nil, err
		}
		lake = filepath.ToSlash(abs)
	}
	if err := os.MkdirAll(filepath.Dir(o.DB), 0o755); err != nil {
		return nil, err
	}
	if o.Mode != Files {
		return buildTables(ctx, o, lake)
	}
	return &Report{Mode: Files, Full: true}, buildFiles(ctx, o, lake)
}

func buildFiles(ctx context.Context, o Options, lake string) error {
	tmp := o.DB + ".tmp"
	os.Remove(tmp)
	os.Remove(tmp + ".wal")
	db, err := sql.Open("duckdb", tmp)
	if err != nil {
		return fmt.Errorf("opening %s: %w", tmp, err)
	}
	if strings.HasPrefix(lake, "s3://") {
		if err := o.S3.attach(ctx, db); err != nil {
			db.Close()
			os.Remove(tmp)
			return err
		}
	}
	for _, t := range o.Tables {
		base, delta := o.Files(t)
		stmt := CreateSQL(t, lake, base, delta)
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			db.Close()
			os.Remove(tmp)
			return fmt.Errorf("view %s: %w", t.ViewName(), err)
		}
	}
	if err := createDerived(ctx, db, o); err != nil {
		db.Close()
		os.Remove(tmp)
		return err
	}
	if err := db.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return replaceDB(tmp, o.DB)
}

// replaceDB renames a database built at tmp into place.
func replaceDB(tmp, db string) error {
	if _, err := os.Stat(tmp + ".wal"); !errors.Is(err, os.ErrNotExist) {
		os.Remove(tmp)
		return fmt.Errorf("building %s: DuckDB left a write-ahead log behind", db)
	}
	os.Remove(db + ".wal")
	return os.Rename(tmp, db)
}

// CreateSQL is the statement that creates the view of table t reading
// files (keys under root, an absolute slash path or an s3:// URL): base,
// files written by a compaction (one row per key, the current state when
// written), and delta, the files committed since.
//
// The files are listed, not globbed: a view reads committed files only, and
// a notebook sees the lake as of the last views build, never a commit in
// progress. Incremental tables keep every version of a key; the view keeps
// the one from the newest response: the delta is deduplicated row by row,
// and a compacted row is shown unless the delta holds its key (a version
// fetched after the compaction, unless the compacted one is newer). The
// compacted state is never deduplicated again. Snapshot tables are given the files of the newest
// complete snapshot, so records deleted at the vendor disappear.
// Child tables (reps, samples) show the rows of their parent's current
// version, chosen by that version alone (its response's _extracted_at and
// _run_id): a response's children have distinct keys (the decoders reject
// a key a response repeats), so they are never deduplicated row by row,
// and a query for one session's samples reads only that session's rows.
func CreateSQL(t *schemas.Table, root string, base, delta []string) string {
	return createSQL(t, root, base, delta, false)
}

// createSQL is CreateSQL; with provenance, every row also carries the file
// it is read from (filename) and its position there (file_row_number).
func createSQL(t *schemas.Table, root string, base, delta []string, provenance bool) string {
	view := ident(t.ViewName())
	if len(base)+len(delta) > 0 {
		return fmt.Sprintf("CREATE OR REPLACE VIEW %s AS %s", view, viewSelect(t, root, base, delta, provenance, "SEMI"))
	}
	cols := make([]string, 0, len(t.AllColumns()))
	for _, c := range t.AllColumns() {
		cols = append(cols, fmt.Sprintf("CAST(NULL AS %s) AS %s", c.Type.DuckDB(), ident(c.Name)))
	}
	if provenance {
		cols = append(cols, "CAST(NULL AS VARCHAR) AS filename", "CAST(NULL AS BIGINT) AS file_row_number")
	}
	return fmt.Sprintf("CREATE OR REPLACE VIEW %s AS SELECT %s WHERE false", view, strings.Join(cols, ", "))
}

// viewSelect is the query of a view over files (at least one). A child
// table's rows are joined to its parent's view by join: SEMI for the view,
// ANTI for the rows it does not show (the same rows, the same condition).
func viewSelect(t *schemas.Table, root string, base, delta []string, provenance bool, join string) string {
	scan := func(files []string) string {
		paths := make([]string, len(files))
		for i, f := range files {
			paths[i] = literal(strings.TrimSuffix(root, "/") + "/" + f)
		}
		opts := ""
		if provenance {
			opts = ", filename = true, file_row_number = true"
		}
		return fmt.Sprintf("read_parquet([%s], hive_partitioning = true, union_by_name = true%s)", strings.Join(paths, ", "), opts)
	}
	sel := "*"
	if t.Partition.Granularity != schemas.None {
		// The partition value is derived from a column the files carry.
		sel += " EXCLUDE (" + ident(t.Partition.Key) + ")"
	}
	sel += " REPLACE (CAST(" + ident(schemas.ColExtra) + " AS JSON) AS " + ident(schemas.ColExtra) + ")"
	latest := latest(t)

	// rows is every row the view chooses from; a child's need no
	// deduplication, a root's delta does.
	var rows string
	switch {
	case t.Parent != nil || len(delta) == 0:
		// One scan of every file: filters reach each file's statistics.
		rows = fmt.Sprintf("SELECT %s FROM %s", sel, scan(append(slices.Clone(base), delta...)))
	case len(base) == 0:
		rows = fmt.Sprintf("SELECT %s FROM %s %s", sel, scan(delta), latest)
	default:
		// The newer of a compacted row and the delta's latest version of
		// its key, by the same order as everywhere (writers' clocks may
		// disagree, so a later commit is not always a newer version).
		rows = fmt.Sprintf("WITH d AS (SELECT %s FROM %s %s), b AS (SELECT %s FROM %s) "+
			"SELECT b.* FROM b ANTI JOIN d ON %s AND NOT %s "+
			"UNION ALL BY NAME SELECT d.* FROM d ANTI JOIN b ON %s AND %s",
			sel, scan(delta), latest, sel, scan(base),
			joinOn(t.Key, "b", "d"), newer("b", "d"), joinOn(t.Key, "b", "d"), newer("b", "d"))
	}
	if t.Parent == nil {
		return rows
	}
	parent := ident(t.Source + "_" + t.Parent.Table)
	return fmt.Sprintf("SELECT f.* FROM (%s) AS f %s JOIN %s AS p ON %s", rows, join, parent, parentVersion(t, "f", "p"))
}

// parentVersion joins a child table t's rows (alias c) to the version of
// their parent (alias p) they belong to: the parent's key and the
// version's lineage (a response's parent and children share it).
func parentVersion(t *schemas.Table, c, p string) string {
	var on []string
	for _, cc := range slices.Sorted(maps.Keys(t.Parent.Keys)) {
		on = append(on, c+"."+ident(cc)+" = "+p+"."+ident(t.Parent.Keys[cc]))
	}
	for _, l := range []string{schemas.ColExtractedAt, schemas.ColRunID} {
		on = append(on, c+"."+ident(l)+" = "+p+"."+ident(l))
	}
	return strings.Join(on, " AND ")
}

// parentVersionColumns are the columns of a child table t that
// parentVersion joins on.
func parentVersionColumns(t *schemas.Table) []string {
	return append(slices.Sorted(maps.Keys(t.Parent.Keys)), schemas.ColExtractedAt, schemas.ColRunID)
}

func ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Query runs a read-only query against a views database and returns the
// column names and the rows as text (NULL as "NULL"), for printing.
func Query(ctx context.Context, dbPath, query string, args ...any) ([]string, [][]string, error) {
	db, err := sql.Open("duckdb", dbPath+"?access_mode=read_only")
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, err
	}
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
				row[i] = "NULL"
			case float64:
				row[i] = strconv.FormatFloat(v, 'f', -1, 64)
			case time.Time:
				row[i] = v.UTC().Format(time.RFC3339Nano)
			default:
				row[i] = fmt.Sprint(v)
			}
		}
		out = append(out, row)
	}
	return cols, out, rows.Err()
}

// OutOfMemory says whether err is DuckDB running out of its memory_limit
// (what a build or a compaction given more may get through): an out of
// memory error, or a commit that found no room to pin a block of the
// rows it writes ("Failed to commit: failed to pin block of size 256.0
// KiB (63.9 MiB/64.0 MiB used)", a transaction error).
func OutOfMemory(err error) bool {
	var de *duckdb.Error
	if !errors.As(err, &de) {
		return false
	}
	return de.Type == duckdb.ErrorTypeOutOfMemory ||
		de.Type == duckdb.ErrorTypeTransaction && strings.Contains(de.Msg, "failed to pin block")
}
