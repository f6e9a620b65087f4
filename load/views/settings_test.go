package views

import (
	"database/sql"
	"testing"
)

// memorySetting gives DuckDB the memory limit and, when asked, the threads.
func TestMemorySetting(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var defaultThreads int64
	if err := conn.QueryRowContext(t.Context(), "SELECT current_setting('threads')").Scan(&defaultThreads); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		limit   int64
		threads int
		want    string
		wantT   int64
	}{
		{104 << 20, 1, "104.0 MiB", 1},
		{256 << 20, 0, "256.0 MiB", defaultThreads},
	} {
		if _, err := conn.ExecContext(t.Context(), "RESET threads; "+memorySetting(c.limit, c.threads)); err != nil {
			t.Fatal(err)
		}
		var limit string
		var threads int64
		if err := conn.QueryRowContext(t.Context(), "SELECT current_setting('memory_limit'), current_setting('threads')").Scan(&limit, &threads); err != nil {
			t.Fatal(err)
		}
		if limit != c.want || threads != c.wantT {
			t.Errorf("memorySetting(%d, %d): memory_limit %s, threads %d; want %s, %d", c.limit, c.threads, limit, threads, c.want, c.wantT)
		}
	}
}
