package views

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/athlake/athlake/schemas"
)

// HiddenInput is what Hidden reads: the views' files of a lake.
type HiddenInput struct {
	// Lake is the lake's root: a local folder, or an s3:// URL whose
	// files Stage copies to local disk.
	Lake string
	// Tables, parents before their children.
	Tables []*schemas.Table
	// Files lists the files a table's view reads, as Options.Files.
	Files func(t *schemas.Table) (base, delta []string)
	// Stage copies a file of an s3:// lake into dir and returns its local
	// path (nil for a local lake, read in place).
	Stage func(ctx context.Context, key, dir string) (string, error)
	// Work names the local folders for DuckDB's spill and the staged
	// files: each process works in Work-<host>-<pid>, removed at the
	// end, and removes those of processes gone ("": a temporary folder).
	Work string
	// MemoryLimit is DuckDB's memory_limit in bytes (0:
	// DefaultMemoryLimit); Threads its threads (0: a thread per core).
	MemoryLimit int64
	Threads     int
}

// workDir makes the work folder of this process: a temporary folder for
// base "", else base-<host>-<pid>, after removing those of this host's
// processes that are gone (killed runs') — not another live publish's
// beside this one, nor another host's (pods sharing a volume, each as
// pid 1).
func workDir(base string) (string, error) {
	if base == "" {
		return os.MkdirTemp("", "athlake-hidden-")
	}
	host, _ := os.Hostname()
	mine := base + "-" + strings.ReplaceAll(host, "/", "_") + "-"
	old, _ := filepath.Glob(mine + "*")
	for _, dir := range old {
		pid, err := strconv.Atoi(strings.TrimPrefix(dir, mine))
		if err == nil && pid != os.Getpid() && syscall.Kill(pid, 0) == syscall.ESRCH {
			if err := os.RemoveAll(dir); err != nil {
				return "", err
			}
		}
	}
	work := fmt.Sprintf("%s%d", mine, os.Getpid())
	return work, os.RemoveAll(work)
}

// Hidden returns the rows of the views' files that the views do not show:
// older versions of a key, children of an older version of their parent.
// By table ID, then file key, the rows' 0-based positions in the file,
// ascending; a file whose rows are all shown is absent. The rows hidden
// are those the views CreateSQL makes leave out, so whoever deletes them
// from the files reads exactly what a view shows (an Iceberg table's
// position deletes).
//
// It runs at the end of every sync that publishes, so it reads what can
// hide rows, at most readChunk files a statement:
//
//   - a root table's lineage (key, _extracted_at, _run_id) from every file
//     of it, when it has delta files (a compaction's files alone hide
//     nothing) or a child of it has; its hidden rows are then found
//     from that lineage alone, as the view chooses;
//   - a child table's lineage from its delta files, and from its
//     compacted files in the partitions where its parent's hidden rows
//     are: a compaction writes a partition's children beside their
//     parent's version (CompactFamily), so a compacted child row is
//     hidden only when that version is.
func Hidden(ctx context.Context, in HiddenInput) (map[string]map[string][]int64, error) {
	s3 := strings.HasPrefix(in.Lake, "s3://")
	if s3 && in.Stage == nil {
		return nil, fmt.Errorf("hidden rows of an s3:// lake: no Stage to copy its files")
	}
	root := strings.TrimSuffix(in.Lake, "/")
	if !s3 {
		abs, err := filepath.Abs(in.Lake)
		if err != nil {
			return nil, err
		}
		root = strings.TrimSuffix(filepath.ToSlash(abs), "/")
	}
	work, err := workDir(in.Work)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx) // temporary tables live per connection
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, memorySetting(in.MemoryLimit, in.Threads)+"; SET preserve_insertion_order = false; SET temp_directory = "+
		literal(filepath.ToSlash(filepath.Join(work, "spill")))); err != nil {
		return nil, err
	}
	h := &hider{ctx: ctx, conn: conn, in: in, root: root, stage: filepath.Join(work, "in"), out: map[string]map[string][]int64{}, shown: map[string]string{}}
	for _, t := range in.Tables {
		var err error
		if t.Parent == nil {
			err = h.rootTable(t)
		} else {
			err = h.childTable(t)
		}
		if err != nil {
			return nil, fmt.Errorf("hidden rows of %s: %w", t.ViewName(), err)
		}
	}
	for _, byFile := range h.out {
		for _, pos := range byFile {
			slices.Sort(pos)
		}
	}
	return h.out, nil
}

// hider finds the hidden rows of one table after another.
type hider struct {
	ctx   context.Context
	conn  *sql.Conn
	in    HiddenInput
	root  string // the lake's root, slash-separated
	stage string // local folder of staged files
	out   map[string]map[string][]int64
	// shown names, by root table ID, the temporary table of the
	// lineage of the rows its view shows (made for its children).
	shown map[string]string
}

func (h *hider) exec(q string) error {
	_, err := h.conn.ExecContext(h.ctx, q)
	return err
}

// children are the tables of in.Tables whose parent is t.
func (h *hider) children(t *schemas.Table) []*schemas.Table {
	var out []*schemas.Table
	for _, c := range h.in.Tables {
		if c.Parent != nil && c.Source == t.Source && c.Parent.Table == t.Name {
			out = append(out, c)
		}
	}
	return out
}

// scan reads files' columns cols with their provenance (filename,
// file_row_number); paths maps each filename it returns to the file's
// key. At most readChunk files: the caller chunks.
func (h *hider) scan(keys []string, cols string) (query string, paths map[string]string, err error) {
	files := make([]PartFile, len(keys))
	paths = map[string]string{}
	for i, k := range keys {
		p := h.root + "/" + k
		if h.in.Stage != nil {
			if p, err = h.in.Stage(h.ctx, k, h.stage); err != nil {
				return "", nil, fmt.Errorf("%s: %w", k, err)
			}
		}
		files[i] = PartFile{Key: k, Path: p}
		paths[filepath.ToSlash(p)] = k
	}
	scan := strings.TrimSuffix(scanFiles(files, true), ")") + ", file_row_number = true)"
	return "SELECT " + cols + ", filename, file_row_number FROM " + scan, paths, nil
}

// done removes the files staged for a statement.
func (h *hider) done() error {
	if h.in.Stage == nil {
		return nil
	}
	return os.RemoveAll(h.stage)
}

// collect adds the (filename, file_row_number) rows of q to t's hidden
// rows, naming files by paths.
func (h *hider) collect(t *schemas.Table, q string, paths map[string]string) error {
	rows, err := h.conn.QueryContext(h.ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	byFile := h.out[t.ID()]
	for rows.Next() {
		var name string
		var pos int64
		if err := rows.Scan(&name, &pos); err != nil {
			return err
		}
		key, ok := paths[name]
		if !ok {
			return fmt.Errorf("DuckDB named a file it was not given: %s", name)
		}
		if byFile == nil {
			byFile = map[string][]int64{}
			h.out[t.ID()] = byFile
		}
		byFile[key] = append(byFile[key], pos)
	}
	return rows.Err()
}

// rootTable finds a root table's hidden rows, and keeps the lineage of the
// rows its view shows for its children.
func (h *hider) rootTable(t *schemas.Table) error {
	base, delta := h.in.Files(t)
	need := len(delta) > 0
	for _, c := range h.children(t) {
		if _, cd := h.in.Files(c); len(cd) > 0 {
			need = true // its children need the shown lineage
		}
	}
	if !need {
		return nil // a compaction's files alone: every row shown
	}
	lin, hid, shown := ident("lin_"+t.ViewName()), ident("hid_"+t.ViewName()), ident("shown_"+t.ViewName())
	cols := lineageColumns(t, h.children(t))
	defs := make([]string, 0, len(cols)+3)
	for _, c := range cols {
		col, _ := t.Column(c)
		defs = append(defs, ident(c)+" "+col.Type.DuckDB())
	}
	defs = append(defs, "filename VARCHAR", "file_row_number BIGINT", "base BOOLEAN")
	if err := h.exec("CREATE TEMP TABLE " + lin + " (" + strings.Join(defs, ", ") + ")"); err != nil {
		return err
	}
	paths := map[string]string{}
	for _, files := range []struct {
		keys []string
		base bool
	}{{base, true}, {delta, false}} {
		for chunk := range slices.Chunk(files.keys, readChunk) {
			q, ps, err := h.scan(chunk, identList(cols, ""))
			if err != nil {
				return err
			}
			maps.Copy(paths, ps)
			if err := h.exec(fmt.Sprintf("INSERT INTO %s SELECT *, %t FROM (%s)", lin, files.base, q)); err != nil {
				return fmt.Errorf("reading %d files: %w", len(chunk), err)
			}
			if err := h.done(); err != nil {
				return err
			}
		}
	}
	// As the view chooses (viewSelect): the delta's latest version of
	// each key, unless a compacted row of the key is newer; a compacted
	// row unless the delta's latest version of its key is not older.
	keys := joinOn(t.Key, "b", "d")
	q := "CREATE TEMP TABLE " + hid + " AS SELECT filename, file_row_number FROM " + lin + " WHERE false"
	if len(delta) > 0 {
		q = fmt.Sprintf("CREATE TEMP TABLE d AS SELECT * FROM %[1]s WHERE NOT base %[2]s; "+
			"CREATE TEMP TABLE %[3]s AS SELECT filename, file_row_number FROM (SELECT * FROM %[1]s WHERE NOT base) ANTI JOIN d USING (filename, file_row_number) "+
			"UNION ALL SELECT d.filename, d.file_row_number FROM d SEMI JOIN (SELECT * FROM %[1]s WHERE base) AS b ON %[4]s AND %[5]s "+
			"UNION ALL SELECT b.filename, b.file_row_number FROM (SELECT * FROM %[1]s WHERE base) AS b SEMI JOIN d ON %[4]s AND NOT %[5]s; "+
			"DROP TABLE d",
			lin, latest(t), hid, keys, newer("b", "d"))
	}
	if err := h.exec(q); err != nil {
		return err
	}
	if err := h.collect(t, "SELECT filename, file_row_number FROM "+hid, paths); err != nil {
		return err
	}
	if len(h.children(t)) > 0 {
		if err := h.exec(fmt.Sprintf("CREATE TEMP TABLE %s AS SELECT %s FROM %s ANTI JOIN %s USING (filename, file_row_number)",
			shown, identList(cols, ""), lin, hid)); err != nil {
			return err
		}
		h.shown[t.ID()] = shown
	}
	return h.exec("DROP TABLE " + lin + "; DROP TABLE " + hid)
}

// childTable finds a child table's hidden rows: those not of a version of its
// parent that the parent's view shows, in its delta files and in its
// compacted files of the partitions where its parent's hidden rows are.
func (h *hider) childTable(t *schemas.Table) error {
	base, delta := h.in.Files(t)
	parent := &schemas.Table{Source: t.Source, Name: t.Parent.Table}
	parts := map[string]bool{}
	for key := range h.out[parent.ID()] {
		parts[partOf(parent, key)] = true
	}
	files := slices.Clone(delta)
	for _, k := range base {
		if parts[partOf(t, k)] {
			files = append(files, k)
		}
	}
	if len(files) == 0 {
		return nil
	}
	shown, ok := h.shown[parent.ID()]
	if !ok {
		return fmt.Errorf("parent %s: no lineage read (tables out of order?)", parent.ID())
	}
	cols := parentVersionColumns(t)
	for chunk := range slices.Chunk(files, readChunk) {
		q, paths, err := h.scan(chunk, identList(cols, ""))
		if err != nil {
			return err
		}
		if err := h.collect(t, fmt.Sprintf("SELECT c.filename, c.file_row_number FROM (%s) AS c ANTI JOIN %s AS p ON %s", q, shown, parentVersion(t, "c", "p")), paths); err != nil {
			return fmt.Errorf("reading %d files: %w", len(chunk), err)
		}
		if err := h.done(); err != nil {
			return err
		}
	}
	return nil
}

// partOf is the partition folder of a file of t ("" when unpartitioned).
func partOf(t *schemas.Table, key string) string {
	p := path.Dir(strings.TrimPrefix(key, t.ID()+"/"))
	if p == "." {
		return ""
	}
	return p
}
