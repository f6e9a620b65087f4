package views

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/athlake/athlake/schemas"
)

// HiddenInput is what Hidden reads: the views' files of a local lake.
type HiddenInput struct {
	// Lake is the lake's root, a local folder.
	Lake string
	// Tables, parents before their children.
	Tables []*schemas.Table
	// Files lists the files a table's view reads, as Options.Files.
	Files func(t *schemas.Table) (base, delta []string)
	// MemoryLimit is DuckDB's memory_limit in bytes (0:
	// DefaultMemoryLimit); Threads its threads (0: a thread per core).
	MemoryLimit int64
	Threads     int
}

// Hidden returns the rows of the views' files that the views do not show:
// older versions of a key, children of an older version of their parent.
// By table ID, then file key, the rows' 0-based positions in the file,
// ascending; a file whose rows are all shown is absent. The views are the
// ones CreateSQL makes, so whoever deletes these rows from the files reads
// exactly what a view shows (an Iceberg table's position deletes).
func Hidden(ctx context.Context, in HiddenInput) (map[string]map[string][]int64, error) {
	if strings.HasPrefix(in.Lake, "s3://") {
		return nil, fmt.Errorf("hidden rows of an s3:// lake: not supported yet (DuckDB has no httpfs offline)")
	}
	abs, err := filepath.Abs(in.Lake)
	if err != nil {
		return nil, err
	}
	root := strings.TrimSuffix(filepath.ToSlash(abs), "/")
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx) // the views live per connection
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, memorySetting(in.MemoryLimit, in.Threads)); err != nil {
		return nil, err
	}
	for _, t := range in.Tables {
		base, delta := in.Files(t)
		if _, err := conn.ExecContext(ctx, createSQL(t, root, base, delta, true)); err != nil {
			return nil, fmt.Errorf("view %s: %w", t.ViewName(), err)
		}
	}
	out := map[string]map[string][]int64{}
	for _, t := range in.Tables {
		base, delta := in.Files(t)
		files := append(append([]string{}, base...), delta...)
		if len(files) == 0 || t.Parent == nil && len(delta) == 0 {
			continue // a root's compacted files alone: every row shown
		}
		var q string
		if t.Parent != nil {
			// A child's view keeps its rows of the parent's current
			// versions: the others are the same rows anti-joined (one
			// scan, no set difference over every row of samples).
			q = fmt.Sprintf("SELECT filename, file_row_number FROM (%s) ORDER BY 1, 2", viewSelect(t, root, base, delta, true, "ANTI"))
		} else {
			paths := make([]string, len(files))
			for i, f := range files {
				paths[i] = literal(root + "/" + f)
			}
			q = fmt.Sprintf("SELECT filename, file_row_number FROM read_parquet([%s], filename = true, file_row_number = true) "+
				"EXCEPT ALL SELECT filename, file_row_number FROM %s ORDER BY 1, 2", strings.Join(paths, ", "), ident(t.ViewName()))
		}
		rows, err := conn.QueryContext(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("hidden rows of %s: %w", t.ViewName(), err)
		}
		byFile := map[string][]int64{}
		for rows.Next() {
			var name string
			var pos int64
			if err := rows.Scan(&name, &pos); err != nil {
				rows.Close()
				return nil, err
			}
			key := strings.TrimPrefix(name, root+"/")
			byFile[key] = append(byFile[key], pos)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if len(byFile) > 0 {
			out[t.ID()] = byFile
		}
	}
	return out, nil
}
