package views

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"slices"
	"time"
)

// NamedQuery is a notebook query measured by CompareNative.
type NamedQuery struct {
	Name string
	SQL  string // over the views' names (plyomat_reps, ...)
}

// Timing is one query's best time over each views database and over
// native DuckDB tables holding the same rows.
type Timing struct {
	Name   string
	Rows   int
	Views  []time.Duration // by database, in the order given
	Native time.Duration
}

// Ratio is the time over the i-th views database over the native tables'
// time.
func (t Timing) Ratio(i int) float64 {
	if t.Native <= 0 {
		return 0
	}
	return float64(t.Views[i]) / float64(t.Native)
}

// CompareNative copies the rows of the views named by tables, from the
// first database, into native tables of an in-memory database, then times
// each query over the views of every database and over the tables (best of
// runs, in turns), and checks they all give the same rows. It is the
// reference the benchmarks report the views against, measured in the same
// process on the same machine.
func CompareNative(ctx context.Context, dbPaths []string, tables []string, queries []NamedQuery, runs int) ([]Timing, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx) // USE holds per connection
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var schemas []string
	for i, p := range dbPaths {
		schemas = append(schemas, fmt.Sprintf("views%d", i))
		if _, err := conn.ExecContext(ctx, "ATTACH "+literal(p)+" AS "+schemas[i]+" (READ_ONLY)"); err != nil {
			return nil, err
		}
	}
	for _, t := range tables {
		if _, err := conn.ExecContext(ctx, "CREATE TABLE memory.main."+ident(t)+" AS SELECT * FROM views0.main."+ident(t)); err != nil {
			return nil, fmt.Errorf("copying %s: %w", t, err)
		}
	}
	schemas = append(schemas, "memory")
	out := make([]Timing, len(queries))
	for i, q := range queries {
		out[i] = Timing{Name: q.Name, Views: make([]time.Duration, len(dbPaths))}
		sums := make([]uint64, len(schemas))
		for r := range max(runs, 1) {
			for k, schema := range schemas {
				if _, err := conn.ExecContext(ctx, "USE "+schema); err != nil {
					return nil, err
				}
				start := time.Now()
				n, sum, err := drain(ctx, conn, q.SQL, nil)
				took := time.Since(start)
				if err != nil {
					return nil, fmt.Errorf("%s over %s: %w", q.Name, schema, err)
				}
				d := &out[i].Native
				if k < len(dbPaths) {
					d = &out[i].Views[k]
				}
				if r == 0 || took < *d {
					*d = took
				}
				out[i].Rows, sums[k] = n, sum
			}
		}
		for k := range dbPaths {
			if sums[k] != sums[len(dbPaths)] {
				return nil, fmt.Errorf("%s: the views of %s and the native tables give different rows: %s", q.Name, dbPaths[k], firstDifference(ctx, conn, schemas[k], q.SQL))
			}
		}
	}
	return out, nil
}

// drain runs a query and reads every row, returning their count and an
// order-independent checksum of their text; with keep, the rows as text
// too.
func drain(ctx context.Context, conn *sql.Conn, query string, keep *[]string) (int, uint64, error) {
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, 0, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n, sum := 0, uint64(0)
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, 0, err
		}
		text := fmt.Sprint(vals...)
		h := fnv.New64a()
		h.Write([]byte(text))
		sum += h.Sum64()
		n++
		if keep != nil {
			*keep = append(*keep, text)
		}
	}
	return n, sum, rows.Err()
}

// firstDifference runs a query over a views database and the native
// tables and names a row that only one of them gives.
func firstDifference(ctx context.Context, conn *sql.Conn, views, query string) string {
	var got [2][]string
	for k, schema := range []string{views, "memory"} {
		if _, err := conn.ExecContext(ctx, "USE "+schema); err != nil {
			return err.Error()
		}
		if _, _, err := drain(ctx, conn, query, &got[k]); err != nil {
			return err.Error()
		}
		slices.Sort(got[k])
	}
	for k, name := range []string{"views", "native tables"} {
		for _, r := range got[k] {
			if _, found := slices.BinarySearch(got[1-k], r); !found {
				return fmt.Sprintf("only the %s give %s (%d vs %d rows)", name, r, len(got[0]), len(got[1]))
			}
		}
	}
	return fmt.Sprintf("the same rows, counted differently (%d vs %d rows)", len(got[0]), len(got[1]))
}
