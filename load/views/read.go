package views

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/athlake/athlake/schemas"
)

// readChunk is the most files one statement reads. DuckDB keeps the
// reader of every file a read_parquet binds by name (union_by_name) until
// the statement ends, about 100 KiB each beyond memory_limit: over the
// thousands of small files a Team Pro backfill commits (one a player
// session), a compaction took 548 MiB for 62,788 rows of session
// summaries (sandbox large). 100 small files at a time kept a scan of
// 2,170 within 15 MiB of a scan of one.
const readChunk = 100

// conn is a connection or a transaction.
type conn interface {
	queryer
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// readFiles makes the rows of files readable in one query: the files
// themselves when few, else a temporary table named name that holds them,
// filled readChunk files at a time, with t's columns in declared order
// (and a filename column if asked). It returns a SELECT of t's columns
// and a drop that removes the temporary table, if any.
func readFiles(ctx context.Context, c conn, name string, t *schemas.Table, files []PartFile, filename bool) (query string, drop func() error, err error) {
	none := func() error { return nil }
	if len(files) <= readChunk {
		scan := scanFiles(files, filename)
		cols, err := columnsOf(ctx, c, "SELECT * FROM "+scan, t)
		if err != nil {
			return "", none, err
		}
		if filename {
			cols += ", filename"
		}
		return "SELECT " + cols + " FROM " + scan, none, nil
	}
	defs := make([]string, 0, len(t.AllColumns())+1)
	for _, col := range t.AllColumns() {
		typ := col.Type.DuckDB()
		if col.Type == schemas.JSON {
			typ = "VARCHAR" // as the writer stores it
		}
		defs = append(defs, ident(col.Name)+" "+typ)
	}
	if filename {
		defs = append(defs, "filename VARCHAR")
	}
	tmp := ident(name)
	drop = func() error {
		_, err := c.ExecContext(ctx, "DROP TABLE IF EXISTS "+tmp)
		return err
	}
	if _, err := c.ExecContext(ctx, "CREATE TEMP TABLE "+tmp+" ("+strings.Join(defs, ", ")+")"); err != nil {
		return "", none, err
	}
	for chunk := range slices.Chunk(files, readChunk) {
		q, _, err := readFiles(ctx, c, "", t, chunk, filename)
		if err == nil {
			_, err = c.ExecContext(ctx, "INSERT INTO "+tmp+" "+q)
		}
		if err != nil {
			drop()
			return "", none, fmt.Errorf("reading %d files: %w", len(files), err)
		}
	}
	return "SELECT * FROM " + tmp, drop, nil
}
