package views

import (
	"database/sql"
	"fmt"
	"os"
	oexec "os/exec"
	"path/filepath"
	"testing"
)

// memorySetting gives DuckDB the memory limit and, when asked, the
// threads, and turns its external file cache off.
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
		var cache bool
		if err := conn.QueryRowContext(t.Context(), "SELECT current_setting('memory_limit'), current_setting('threads'), current_setting('enable_external_file_cache')").Scan(&limit, &threads, &cache); err != nil {
			t.Fatal(err)
		}
		if limit != c.want || threads != c.wantT || cache {
			t.Errorf("memorySetting(%d, %d): memory_limit %s, threads %d, external file cache %t; want %s, %d, false", c.limit, c.threads, limit, threads, cache, c.want, c.wantT)
		}
	}
}

// TestHiddenWorkDir: each process works in its own folder, so a publish
// beside another (`iceberg register` beside a sync) does not empty the
// other's; the folders of processes gone (killed runs) are removed.
func TestHiddenWorkDir(t *testing.T) {
	t.Parallel()
	base := filepath.Join(t.TempDir(), "athlake.duckdb.hidden")
	gone := oexec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	live, dead := fmt.Sprintf("%s-%s-%d", base, host, os.Getppid()), fmt.Sprintf("%s-%s-%d", base, host, gone.Process.Pid)
	other := fmt.Sprintf("%s-another-host-%d", base, gone.Process.Pid)
	for _, d := range []string{live, dead, other} {
		if err := os.MkdirAll(filepath.Join(d, "in"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	work, err := workDir(base)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%s-%s-%d", base, host, os.Getpid()); work != want {
		t.Errorf("work folder %s, want %s", work, want)
	}
	for _, d := range []string{live, other} {
		if _, err := os.Stat(filepath.Join(d, "in")); err != nil {
			t.Errorf("a live process's or another host's folder: %v", err)
		}
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("a gone process's folder: %v, want it removed", err)
	}
}
