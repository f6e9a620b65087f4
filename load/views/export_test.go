package views

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
)

// HiddenWhole is Hidden computed the straightforward way, as it first
// was: the views with provenance over every file of every table, a
// root's hidden rows its files' rows less its view's, a child's its rows
// anti-joined to its parent's view, each table in one statement. Tests
// compare Hidden with it.
func HiddenWhole(ctx context.Context, in HiddenInput) (map[string]map[string][]int64, error) {
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
		if len(files) == 0 {
			continue
		}
		var q string
		if t.Parent != nil {
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
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if len(byFile) > 0 {
			out[t.ID()] = byFile
		}
	}
	return out, nil
}
