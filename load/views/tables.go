package views

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/athlake/athlake/schemas"
)

// Tables mode: the database holds the lake's current state as DuckDB tables,
// one per lake table, under the views' names (a view over them would cost
// every query its binding); the schema internal holds the bookkeeping. A
// notebook's query runs on DuckDB's own storage (as fast as native tables,
// and offline for an s3:// lake); each build applies only the files
// committed since the last one, a table family (a root table and its
// children) in one transaction, families on two connections at once:
//
//   - a root table's new rows are deduplicated among themselves and replace
//     the rows of their keys when newer (by _extracted_at, then _run_id);
//   - a child table's rows are those of its parent's current version: the
//     children of the parents that changed are deleted and those of their
//     new version inserted, chosen by that version alone (a response's
//     parent and children are committed together, so they are applied
//     together);
//   - a snapshot table is replaced whole when its newest snapshot changed;
//   - a compaction's output holds nothing new when every file it replaced
//     is applied already: it is recorded, not read.
//
// internal.files lists the files applied, internal.meta the format, the
// lake and the schemas the tables were built for; a build that finds
// another lake, other schemas, files it applied gone without a compaction
// replacing them, a database DuckDB cannot open, or one held open for
// writing by another process rebuilds the database from every file beside
// it and renames it into place. One held open by readers only (DuckDB
// locks the file) is copied under a read lock, the copy updated and renamed
// into place.
const internal = "_athlake"

// tablesFormat is the version of the database's layout: 2 is stored in
// DuckDB's storage format v1.4.0 (see newDatabase).
const tablesFormat = 2

// storageVersion is the DuckDB storage format of the database: from
// v1.4.0 on, a checkpoint reuses the metadata of the row groups a build
// left unchanged, where older formats rewrite a changed table's metadata
// whole (a build's checkpoint, at the end of every sync, then grows with
// the tables). DuckDB 1.4 and newer open it.
const storageVersion = "v1.4.0"

// newDatabase creates an empty database file in storageVersion.
func newDatabase(ctx context.Context, path string) error {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "ATTACH "+literal(path)+" AS fresh (STORAGE_VERSION '"+storageVersion+"'); DETACH fresh")
	return err
}

// Report says what a build did.
type Report struct {
	Mode Mode `json:"mode"`
	// Full is set when the database was built from every file, Copied
	// when a copy was brought up to date and renamed into place; Reason
	// says why (a new database, another lake, a notebook holding it, ...).
	Full   bool   `json:"full"`
	Copied bool   `json:"copied,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Files is how many files were read, Recorded how many compaction
	// outputs were recorded without reading (they held nothing new).
	Files    int `json:"files_read"`
	Recorded int `json:"compacted_files_recorded"`
}

// locked is why a database held open by another process is not updated in
// place.
const locked = "the database is open in another process"

func buildTables(ctx context.Context, o Options, lake string) (*Report, error) {
	rep := &Report{Mode: Tables}
	tmp := o.DB + ".tmp"
	clean := func() {
		os.Remove(tmp)
		os.Remove(tmp + ".wal")
	}
	switch _, err := os.Stat(o.DB); {
	case o.Anew != "":
		rep.Reason = o.Anew
	case err == nil:
		reason, err := applyTables(ctx, o, lake, o.DB, false, rep)
		if err != nil || reason == "" {
			return rep, err
		}
		if reason == locked {
			// Readers only (a notebook): a copy is updated beside the
			// database and renamed into place; the readers keep the one
			// they opened.
			clean()
			if copied, err := copyUnderReadLock(o.DB, tmp); err != nil {
				return rep, err
			} else if copied {
				*rep = Report{Mode: Tables, Copied: true, Reason: reason}
				again, err := applyTables(ctx, o, lake, tmp, false, rep)
				if err != nil {
					clean()
					return rep, err
				}
				if again == "" {
					return rep, replaceDB(tmp, o.DB)
				}
				reason = again
			}
		}
		rep.Full, rep.Reason = true, reason
	case errors.Is(err, os.ErrNotExist):
		rep.Full, rep.Reason = true, "no database yet"
	default:
		return rep, err
	}
	*rep = Report{Mode: Tables, Full: true, Reason: rep.Reason}
	clean()
	if _, err := applyTables(ctx, o, lake, tmp, true, rep); err != nil {
		clean()
		return rep, err
	}
	return rep, replaceDB(tmp, o.DB)
}

// copyUnderReadLock copies the database at path (and its write-ahead log,
// if any) to tmp while holding it open read-only: DuckDB then lets no
// writer in, so the copy is consistent. It reports false when it cannot
// (a writer holds the database).
func copyUnderReadLock(path, tmp string) (bool, error) {
	db, err := sql.Open("duckdb", path+"?access_mode=read_only")
	if err == nil {
		err = db.Ping()
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		return false, nil
	}
	defer db.Close()
	for _, suffix := range []string{"", ".wal"} {
		if err := copyFile(path+suffix, tmp+suffix); err != nil && !(suffix != "" && errors.Is(err, os.ErrNotExist)) {
			return false, err
		}
	}
	return true, nil
}

// copyFile copies a file (the kernel copies it in place where it can).
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// applyTables brings the database at path up to date in one transaction
// (fresh: creates it first). It returns why the database must be rebuilt
// instead, if it must.
func applyTables(ctx context.Context, o Options, lake, path string, fresh bool, rep *Report) (string, error) {
	if fresh {
		if err := newDatabase(ctx, path); err != nil {
			return "", fmt.Errorf("creating %s: %w", path, err)
		}
	}
	db, err := sql.Open("duckdb", path) // the driver opens the file here
	var conn *sql.Conn
	if err == nil {
		defer db.Close()
		conn, err = db.Conn(ctx) // temporary tables live per connection
	}
	switch {
	case err == nil:
		defer conn.Close()
	case fresh:
		return "", fmt.Errorf("opening %s: %w", path, err)
	case strings.Contains(err.Error(), "Could not set lock"):
		return locked, nil
	default:
		// Not a database this DuckDB can open (damaged, or written by a
		// newer release): it only ever held what the lake holds.
		return "the database could not be opened (" + firstLine(err) + ")", nil
	}
	// Staged files and DuckDB's spill go beside the database (not to a
	// /tmp that may be memory); a killed build's are removed by the next.
	work := path + ".work"
	if err := os.RemoveAll(work); err != nil {
		return "", err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	// A build runs at the end of every sync: it spills to disk rather
	// than grow with the lake.
	if _, err := conn.ExecContext(ctx, memorySetting(o.MemoryLimit, o.Threads)+"; SET preserve_insertion_order = false; SET temp_directory = "+literal(filepath.ToSlash(filepath.Join(work, "spill")))); err != nil {
		return "", err
	}
	fingerprint := schemaFingerprint(o.Tables)
	if !fresh {
		var format int
		var gotLake, gotSchema string
		err := conn.QueryRowContext(ctx, "SELECT format, lake, schemas FROM "+ident(internal)+".meta").Scan(&format, &gotLake, &gotSchema)
		switch {
		case err != nil:
			return "the database was not built in tables mode", nil
		case format != tablesFormat:
			return fmt.Sprintf("the database has layout %d, this athlake writes %d", format, tablesFormat), nil
		case gotLake != lake:
			return "the database was built from another lake (" + gotLake + ")", nil
		case gotSchema != fingerprint:
			return "the table schemas changed", nil
		}
	}
	if fresh {
		if err := create(ctx, conn, o.Tables, lake, fingerprint); err != nil {
			return "", err
		}
	}
	p, reason, err := plan(ctx, conn, o)
	if err != nil || reason != "" {
		return reason, err
	}
	if err := p.apply(ctx, db, o, lake, work, rep); err != nil {
		return "", err
	}
	if err := createDerived(ctx, conn, o); err != nil {
		return "", err
	}
	if err := conn.Close(); err != nil {
		return "", err
	}
	return "", db.Close() // checkpoints: the WAL goes into the file
}

// applier applies table families' new files in one transaction.
type applier struct {
	ctx  context.Context
	tx   *sql.Tx
	o    Options
	lake string
	work string // temporary folder: staged files
	// files counts the files read.
	files int
	// changed holds the root tables with rows that changed in this
	// build: their new rows are in the temporary table chg_<view>, the
	// keys those replaced in old_<view>; true when the table was replaced
	// whole (a snapshot).
	changed map[string]bool
}

func (a *applier) exec(q string, args ...any) error {
	_, err := a.tx.ExecContext(a.ctx, q, args...)
	return err
}

func table(t *schemas.Table) string { return "main." + ident(t.ViewName()) }

// create makes the internal schema and the empty tables, in one
// transaction.
func create(ctx context.Context, conn *sql.Conn, tables []*schemas.Table, lake, fingerprint string) error {
	in := ident(internal)
	stmts := []string{"CREATE SCHEMA " + in, "CREATE TABLE " + in + ".meta (format INTEGER, lake VARCHAR, schemas VARCHAR)",
		"CREATE TABLE " + in + `.files ("table" VARCHAR, key VARCHAR)`,
		fmt.Sprintf("INSERT INTO %s.meta VALUES (%d, %s, %s)", in, tablesFormat, literal(lake), literal(fingerprint))}
	for _, t := range tables {
		cols := make([]string, 0, len(t.AllColumns()))
		for _, c := range t.AllColumns() {
			cols = append(cols, ident(c.Name)+" "+c.Type.DuckDB())
		}
		stmts = append(stmts, fmt.Sprintf("CREATE TABLE %s (%s)", table(t), strings.Join(cols, ", ")))
	}
	_, err := conn.ExecContext(ctx, "BEGIN; "+strings.Join(stmts, "; ")+"; COMMIT")
	return err
}

// A family is a root table and its children: the unit of work of a build
// (children are chosen by their parent's rows that changed, which live in
// the transaction that changed them).
type family struct {
	tables []tableWork
	record []appliedFile // to add to internal.files
	forget []string      // keys to drop from it
	fresh  int           // files to read
}

// tableWork is what a build does to a table.
type tableWork struct {
	t *schemas.Table
	// files are the table's live files, fresh those to read; replace
	// says a snapshot table is replaced by its newest snapshot.
	files, fresh []string
	replace      bool
}

// planned is what a build does, decided before anything is written.
type planned struct {
	families []*family
	recorded int // compaction outputs recorded without reading
}

// plan reads which files the database holds and decides, table by table,
// what to apply. It returns why the database must be rebuilt instead, if
// it must.
func plan(ctx context.Context, conn *sql.Conn, o Options) (*planned, string, error) {
	applied := map[string]string{} // key -> view name
	rows, err := conn.QueryContext(ctx, `SELECT key, "table" FROM `+ident(internal)+".files")
	if err != nil {
		return nil, "", err
	}
	for rows.Next() {
		var k, t string
		if err := rows.Scan(&k, &t); err != nil {
			rows.Close()
			return nil, "", err
		}
		applied[k] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	// A compaction's output holds nothing new when every file it
	// replaced is applied.
	recorded := func(key string) bool {
		from := o.Compacted[key]
		for _, r := range from {
			if _, ok := applied[r]; !ok {
				return false
			}
		}
		return len(from) > 0
	}
	p := &planned{}
	byRoot := map[string]*family{} // root table ID -> its family
	type held struct {
		t *schemas.Table
		f *family
	}
	byView := map[string]held{} // view name -> its table and family
	live := map[string]bool{}
	for _, t := range o.Tables {
		root := t.ID()
		if t.Parent != nil {
			root = t.Source + "/" + t.Parent.Table
		}
		f := byRoot[root]
		if f == nil {
			f = &family{}
			byRoot[root] = f
			p.families = append(p.families, f)
		}
		byView[t.ViewName()] = held{t, f}
		base, delta := o.Files(t)
		w := tableWork{t: t, files: append(slices.Clone(base), delta...)}
		for _, k := range w.files {
			live[k] = true
			if _, ok := applied[k]; ok {
				continue
			}
			f.record = append(f.record, appliedFile{view: t.ViewName(), key: k})
			if t.Mode == schemas.Incremental && recorded(k) {
				p.recorded++
				continue
			}
			w.fresh = append(w.fresh, k)
		}
		w.replace = t.Mode == schemas.Snapshot && t.Parent == nil && (len(w.fresh) > 0 || len(w.files) != countOf(applied, t.ViewName()))
		f.fresh += len(w.fresh)
		f.tables = append(f.tables, w)
	}
	var orphans []string // files of tables this build does not hold
	for k, view := range applied {
		if live[k] {
			continue
		}
		h, ok := byView[view]
		if !ok {
			orphans = append(orphans, k)
			continue
		}
		if h.t.Mode == schemas.Incremental && !o.Replaced[k] {
			return nil, "a file the database holds is no longer in the lake (" + k + ")", nil
		}
		h.f.forget = append(h.f.forget, k)
	}
	if len(orphans) > 0 {
		p.families = append(p.families, &family{forget: orphans})
	}
	// The families with most to read first, so that the workers finish
	// together.
	slices.SortStableFunc(p.families, func(a, b *family) int { return b.fresh - a.fresh })
	return p, "", nil
}

// apply applies the planned families on parallel connections, each
// worker in one transaction of its own (families are independent, and
// DuckDB runs the small statements of a build on one thread each); a
// notebook sees none of it before the database is closed. Killed midway,
// the database holds the families of the workers that committed, and
// the next build applies the rest.
func (p *planned) apply(ctx context.Context, db *sql.DB, o Options, lake, work string, rep *Report) error {
	rep.Recorded += p.recorded
	queue := make(chan *family, len(p.families))
	for _, f := range p.families {
		if len(f.record)+len(f.forget) > 0 { // files to apply or gone
			queue <- f
		}
	}
	close(queue)
	workers := min(len(queue), applyWorkers)
	files := make([]int, workers)
	g, ctx := errgroup.WithContext(ctx)
	for i := range workers {
		g.Go(func() error {
			conn, err := db.Conn(ctx) // temporary tables live per connection
			if err != nil {
				return err
			}
			defer conn.Close()
			tx, err := conn.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			a := &applier{ctx: ctx, tx: tx, o: o, lake: lake, work: filepath.Join(work, strconv.Itoa(i)), changed: map[string]bool{}}
			var record []appliedFile
			var forget []string
			for f := range queue {
				for _, w := range f.tables {
					if err := a.table(w); err != nil {
						return fmt.Errorf("%s: %w", w.t.ViewName(), err)
					}
				}
				record, forget = append(record, f.record...), append(forget, f.forget...)
			}
			files[i] = a.files
			if err := a.recordFiles(record, forget); err != nil {
				return err
			}
			return tx.Commit()
		})
	}
	err := g.Wait()
	for _, n := range files {
		rep.Files += n
	}
	return err
}

// applyWorkers is how many connections a build applies families on.
const applyWorkers = 2

// table applies one table's work.
func (a *applier) table(w tableWork) error {
	var err error
	switch t := w.t; {
	case t.Mode == schemas.Snapshot && t.Parent == nil:
		if w.replace {
			err = a.replaceSnapshot(t, w.files)
		}
	case t.Parent == nil:
		if len(w.fresh) > 0 {
			err = a.upsert(t, w.fresh)
		}
	default:
		err = a.children(t, w.files, w.fresh)
	}
	if err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(a.work, "in")) // staged files
}

func countOf(applied map[string]string, view string) int {
	n := 0
	for _, v := range applied {
		if v == view {
			n++
		}
	}
	return n
}

// scan reads lake files (staged locally first for an s3:// lake; see
// readFiles for drop); files never hold their partition's column.
func (a *applier) scan(t *schemas.Table, keys []string) (rows string, drop func() error, err error) {
	files := make([]PartFile, len(keys))
	for i, k := range keys {
		files[i].Key = k
		if a.o.Stage == nil {
			files[i].Path = filepath.FromSlash(strings.TrimSuffix(a.lake, "/") + "/" + k)
			continue
		}
		p, err := a.o.Stage(a.ctx, k, filepath.Join(a.work, "in"))
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", k, err)
		}
		files[i].Path = p
	}
	a.files += len(files)
	return readFiles(a.ctx, a.tx, "in_"+t.ViewName(), t, files, false)
}

// latest keeps the newest version of each key among rows.
func latest(t *schemas.Table) string {
	return fmt.Sprintf("QUALIFY row_number() OVER (PARTITION BY %s ORDER BY %s DESC, %s DESC) = 1",
		identList(t.Key, ""), ident(schemas.ColExtractedAt), ident(schemas.ColRunID))
}

// newer says row a is a newer version than row b.
func newer(a, b string) string {
	ea, run := ident(schemas.ColExtractedAt), ident(schemas.ColRunID)
	return fmt.Sprintf("(%[1]s.%[3]s > %[2]s.%[3]s OR %[1]s.%[3]s = %[2]s.%[3]s AND %[1]s.%[4]s > %[2]s.%[4]s)", a, b, ea, run)
}

func changedName(t *schemas.Table) string { return ident("chg_" + t.ViewName()) }

// upsert applies an incremental root table's new files: the newest
// version of each of their keys replaces the table's row when newer.
func (a *applier) upsert(t *schemas.Table, keys []string) error {
	rows, drop, err := a.scan(t, keys)
	if err != nil {
		return err
	}
	chg, old := changedName(t), ident("old_"+t.ViewName())
	on := joinOn(t.Key, "n", "o")
	if err := a.exec(fmt.Sprintf("CREATE TEMP TABLE %[1]s AS %[2]s %[3]s; "+
		"DELETE FROM %[1]s AS n USING %[4]s AS o WHERE %[5]s AND NOT %[6]s; "+
		"CREATE TEMP TABLE %[7]s AS SELECT %[8]s FROM %[4]s AS o SEMI JOIN %[1]s AS n ON %[5]s; "+
		"DELETE FROM %[4]s AS o USING %[1]s AS n WHERE %[5]s; "+
		"INSERT INTO %[4]s BY NAME SELECT * FROM %[1]s",
		chg, rows, latest(t), table(t), on, newer("n", "o"), old,
		identList(append(slices.Clone(t.Key), schemas.ColExtractedAt, schemas.ColRunID), "o."))); err != nil {
		return err
	}
	a.changed[t.ViewName()] = false
	return drop()
}

// replaceSnapshot replaces a snapshot table with its newest snapshot.
func (a *applier) replaceSnapshot(t *schemas.Table, keys []string) error {
	chg := changedName(t)
	if len(keys) == 0 {
		if err := a.exec(fmt.Sprintf("CREATE TEMP TABLE %s AS SELECT * FROM %s WHERE false; DELETE FROM %s", chg, table(t), table(t))); err != nil {
			return err
		}
	} else {
		rows, drop, err := a.scan(t, keys)
		if err != nil {
			return err
		}
		if err := a.exec(fmt.Sprintf("CREATE TEMP TABLE %[1]s AS %[2]s %[3]s; DELETE FROM %[4]s; INSERT INTO %[4]s BY NAME SELECT * FROM %[1]s",
			chg, rows, latest(t), table(t))); err != nil {
			return err
		}
		if err := drop(); err != nil {
			return err
		}
	}
	a.changed[t.ViewName()] = true
	return nil
}

// children applies a child table: the children of the parents that
// changed are those of their new version. When the parent was replaced
// whole, every child is chosen again from all of the table's files;
// otherwise from its new files, which hold every new parent version's
// children (committed together with it).
func (a *applier) children(t *schemas.Table, files, fresh []string) error {
	parent := &schemas.Table{Source: t.Source, Name: t.Parent.Table}
	whole, ok := a.changed[parent.ViewName()]
	if !ok {
		return nil
	}
	on := parentVersion(t, "c", "p")
	switch old := ident("old_" + parent.ViewName()); {
	case whole:
		if err := a.exec("DELETE FROM " + table(t)); err != nil {
			return err
		}
		fresh = files
	case a.hasRows(old):
		// Only a parent that had a version before had children, those of
		// that version (matching its lineage lets DuckDB skip the row
		// groups of other days: rows are appended in time order).
		if err := a.exec(fmt.Sprintf("DELETE FROM %s AS c USING %s AS p WHERE %s", table(t), old, on)); err != nil {
			return err
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	// A chunk of files at a time: the rows need no staging (each child
	// row is in one file).
	for chunk := range slices.Chunk(fresh, readChunk) {
		rows, _, err := a.scan(t, chunk)
		if err != nil {
			return err
		}
		if err := a.exec(fmt.Sprintf("INSERT INTO %s BY NAME SELECT c.* FROM (%s) AS c SEMI JOIN %s AS p ON %s", table(t), rows, changedName(parent), on)); err != nil {
			return err
		}
	}
	return nil
}

// hasRows says whether a temporary table has rows (false on error: the
// statement that follows reports it).
func (a *applier) hasRows(name string) bool {
	var n int64
	err := a.tx.QueryRowContext(a.ctx, "SELECT count(*) FROM "+name).Scan(&n)
	return err != nil || n > 0
}

// appliedFile is a row of internal.files: a file and the table it went to.
type appliedFile struct{ view, key string }

// recordFiles adds the files applied and drops those gone.
func (a *applier) recordFiles(add []appliedFile, drop []string) error {
	files := ident(internal) + ".files"
	for chunk := range slices.Chunk(drop, 1000) {
		vals := make([]string, len(chunk))
		for i, k := range chunk {
			vals[i] = literal(k)
		}
		if err := a.exec("DELETE FROM " + files + " WHERE key IN (" + strings.Join(vals, ", ") + ")"); err != nil {
			return err
		}
	}
	for chunk := range slices.Chunk(add, 1000) {
		vals := make([]string, len(chunk))
		for i, f := range chunk {
			vals[i] = "(" + literal(f.view) + ", " + literal(f.key) + ")"
		}
		if err := a.exec("INSERT INTO " + files + " VALUES " + strings.Join(vals, ", ")); err != nil {
			return err
		}
	}
	return nil
}

// schemaFingerprint identifies the tables' names, columns and types: a
// database built for others is rebuilt.
func schemaFingerprint(tables []*schemas.Table) string {
	h := fnv.New64a()
	for _, t := range tables {
		fmt.Fprintf(h, "%s|%v|%d|", t.ViewName(), t.Key, t.Mode)
		if t.Parent != nil {
			fmt.Fprintf(h, "%s%v|", t.Parent.Table, t.Parent.Keys)
		}
		for _, c := range t.AllColumns() {
			fmt.Fprintf(h, "%s %s,", c.Name, c.Type.DuckDB())
		}
		h.Write([]byte{'\n'})
	}
	return fmt.Sprintf("%016x", h.Sum64())
}
