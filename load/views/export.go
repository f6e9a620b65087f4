package views

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ExportPlan is a research dataset to write from a views database.
type ExportPlan struct {
	// Pseudonyms replace vendor ids: each row is a source, an athlete id
	// and its pseudonym (a temporary table "pseudonyms" the queries join).
	Pseudonyms [][3]string
	// Files are written in order, each the result of a query over the
	// database (attached as "lake").
	Files []ExportFile
}

// ExportFile is one file of a dataset.
type ExportFile struct {
	Path   string // the file to write; it appears only when complete
	Query  string
	Format string // parquet or csv
}

// Export writes the plan's files from the database at db, opened read
// only, on one thread so that the same data gives the same bytes, and
// returns the rows of each file.
func Export(ctx context.Context, db string, p ExportPlan) ([]int64, error) {
	conn, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1)
	setup := "SET threads = 1; SET preserve_insertion_order = true; ATTACH " + literal(db) + " AS lake (READ_ONLY); USE lake;" +
		" CREATE TEMPORARY TABLE pseudonyms (source VARCHAR, athlete_id VARCHAR, pseudonym VARCHAR)"
	if _, err := conn.ExecContext(ctx, setup); err != nil {
		return nil, fmt.Errorf("opening %s: %w", db, err)
	}
	for start := 0; start < len(p.Pseudonyms); start += 1000 {
		rows := p.Pseudonyms[start:min(start+1000, len(p.Pseudonyms))]
		vals := make([]string, len(rows))
		for i, r := range rows {
			vals[i] = "(" + literal(r[0]) + ", " + literal(r[1]) + ", " + literal(r[2]) + ")"
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO temp.pseudonyms VALUES "+strings.Join(vals, ", ")); err != nil {
			return nil, err
		}
	}
	counts := make([]int64, len(p.Files))
	for i, f := range p.Files {
		tmp := filepath.Join(filepath.Dir(f.Path), "."+filepath.Base(f.Path)+".tmp")
		opts := "FORMAT parquet, COMPRESSION zstd"
		if f.Format == "csv" {
			opts = "FORMAT csv, HEADER true"
		}
		if _, err := conn.ExecContext(ctx, "COPY ("+f.Query+") TO "+literal(tmp)+" ("+opts+")"); err != nil {
			os.Remove(tmp)
			return nil, fmt.Errorf("%s: %w", filepath.Base(f.Path), err)
		}
		if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM ("+f.Query+")").Scan(&counts[i]); err != nil {
			os.Remove(tmp)
			return nil, err
		}
		if err := os.Rename(tmp, f.Path); err != nil {
			return nil, err
		}
	}
	return counts, nil
}
