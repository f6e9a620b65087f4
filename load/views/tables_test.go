package views_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/schemas"
)

// TestMain doubles as a notebook: with ATHLAKE_HOLD_DB set, the test binary
// opens that database (ATHLAKE_HOLD_MODE: read_only or read_write), says
// "ready" and holds it until its stdin closes; then it prints how many sets
// it sees.
func TestMain(m *testing.M) {
	// It is also either side of the raw-samples benchmark (rawChild).
	if side := os.Getenv("ATHLAKE_RAWBENCH_SIDE"); side != "" {
		if err := rawChild(side); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if p := os.Getenv("ATHLAKE_HOLD_DB"); p != "" {
		db, err := sql.Open("duckdb", p+"?access_mode="+os.Getenv("ATHLAKE_HOLD_MODE"))
		if err == nil {
			err = db.Ping()
		}
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		var n int
		if err := db.QueryRow("SELECT count(*) FROM plyomat_sets").Scan(&n); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println(n)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestTablesAreUpdatedInPlace: a database built once is brought up to date
// by applying only the new files. One that a notebook holds open (DuckDB
// locks the file) is copied and the copy updated when the notebook only
// reads, rebuilt from every file when it may write, and either way the
// notebook keeps reading the database it opened. A database built from
// another lake is rebuilt, and a file DuckDB cannot open replaced.
func TestTablesAreUpdatedInPlace(t *testing.T) {
	ctx := context.Background()
	dir, st := newLake(t)
	reg := schemas.All()
	sets, _ := reg.Lookup("plyomat", "sets")
	reps, _ := reg.Lookup("plyomat", "reps")
	db := filepath.Join(dir, "athlake.duckdb")
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	build := func(lake string) *views.Report {
		t.Helper()
		files := func(tb *schemas.Table) ([]string, []string) {
			objs, err := st.List(ctx, tb.ID()+"/")
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, o := range objs {
				keys = append(keys, o.Key)
			}
			return nil, keys
		}
		rep, err := views.Build(ctx, views.Options{DB: db, Lake: lake, Tables: []*schemas.Table{sets, reps}, Files: files})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	// added counts the files committed since it was last called.
	seen := 0
	added := func() int {
		t.Helper()
		objs, err := st.List(ctx, "plyomat/")
		if err != nil {
			t.Fatal(err)
		}
		n := len(objs) - seen
		seen = len(objs)
		return n
	}
	count := func() string {
		t.Helper()
		_, rows, err := views.Query(ctx, db, "SELECT count(*) || '/' || (SELECT count(*) FROM plyomat_reps) FROM plyomat_sets")
		if err != nil {
			t.Fatal(err)
		}
		return rows[0][0]
	}

	commit(t, st, reg, "sets", "20260601T120000.000Z-aaaaaa", t0, set("s1", 1, 0, 1), set("s2", 1, 0))
	if rep, n := build(st.URL()), added(); !rep.Full || rep.Reason != "no database yet" || rep.Files != n {
		t.Errorf("first build: %+v", rep)
	}
	// In DuckDB's storage format v1.4.0, whose checkpoints reuse the
	// metadata of unchanged row groups.
	if _, rows, err := views.Query(ctx, db, "SELECT CAST(tags AS VARCHAR) FROM duckdb_databases() WHERE path IS NOT NULL"); err != nil || len(rows) != 1 || !strings.Contains(rows[0][0], "storage_version=v1.4.0") {
		t.Errorf("database tags %v (%v), want storage_version v1.4.0", rows, err)
	}
	commit(t, st, reg, "sets", "20260601T130000.000Z-bbbbbb", t0.Add(time.Hour), set("s1", 2, 0, 1, 2), set("s3", 1, 0))
	if rep, n := build(st.URL()), added(); rep.Full || rep.Files != n {
		t.Errorf("build after one commit: %+v, want its %d files applied", rep, n)
	}
	if got := count(); got != "3/5" {
		t.Errorf("sets/reps = %s, want 3/5", got)
	}
	if rep := build(st.URL()); rep.Full || rep.Files != 0 {
		t.Errorf("build with nothing new: %+v", rep)
	}
	// A new version of s1 keeps rep 0 (updated in place), drops reps 1
	// and 2, adds rep 5; s2 is untouched.
	commit(t, st, reg, "sets", "20260601T133000.000Z-abcdef", t0.Add(90*time.Minute), set("s1", 3, 0, 5))
	if rep, n := build(st.URL()), added(); rep.Full || rep.Files != n {
		t.Errorf("build after one commit: %+v, want its %d files applied", rep, n)
	}
	_, got, err := views.Query(ctx, db, "SELECT set_id, rep_index, flight_time_ms, _run_id FROM plyomat_reps ORDER BY ALL")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"s1", "0", "403", "20260601T133000.000Z-abcdef"}, {"s1", "5", "403", "20260601T133000.000Z-abcdef"},
		{"s2", "0", "401", "20260601T120000.000Z-aaaaaa"}, {"s3", "0", "401", "20260601T130000.000Z-bbbbbb"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("reps (-want +got):\n%s", d)
	}

	// A notebook holds the database open: a reader, then a writer.
	for i, c := range []struct{ mode, want string }{{"read_only", "copied"}, {"read_write", "full"}} {
		notebook := exec.Command(os.Args[0], "-test.run=^$")
		notebook.Env = append(os.Environ(), "ATHLAKE_HOLD_DB="+db, "ATHLAKE_HOLD_MODE="+c.mode)
		stdin, _ := notebook.StdinPipe()
		stdout, _ := notebook.StdoutPipe()
		if err := notebook.Start(); err != nil {
			t.Fatal(err)
		}
		out := bufio.NewScanner(stdout)
		if !out.Scan() || out.Text() != "ready" {
			t.Fatalf("notebook: %s", out.Text())
		}
		commit(t, st, reg, "sets", fmt.Sprintf("20260601T14%02d00.000Z-cccccc", i), t0.Add(2*time.Hour+time.Duration(i)*time.Minute), set(fmt.Sprintf("s4%d", i), 1, 0))
		rep, n := build(st.URL()), added()
		switch {
		case !strings.Contains(rep.Reason, "open in another process"):
			t.Errorf("build while a %s notebook holds the database: %+v", c.mode, rep)
		case c.want == "copied" && (!rep.Copied || rep.Full || rep.Files != n):
			t.Errorf("build while a reader holds the database: %+v, want a copy with its %d new files applied", rep, n)
		case c.want == "full" && !rep.Full:
			t.Errorf("build while a writer holds the database: %+v, want it rebuilt", rep)
		}
		if got, want := count(), fmt.Sprintf("%d/%d", 4+i, 5+i); got != want {
			t.Errorf("sets/reps = %s, want %s", got, want)
		}
		stdin.Close()
		if !out.Scan() || out.Text() != fmt.Sprint(3+i) {
			t.Errorf("the %s notebook read %q sets from the database it opened, want %d", c.mode, out.Text(), 3+i)
		}
		if err := notebook.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	commit(t, st, reg, "sets", "20260601T150000.000Z-dddddd", t0.Add(3*time.Hour), set("s5", 1, 0))
	if rep, n := build(st.URL()), added(); rep.Full || rep.Copied || rep.Files != n {
		t.Errorf("build once the notebook is gone: %+v, want its %d files applied", rep, n)
	}

	// The same files under another root are another lake.
	if err := os.Symlink(filepath.Join(dir, "lake"), filepath.Join(dir, "copy")); err != nil {
		t.Fatal(err)
	}
	if rep := build(filepath.Join(dir, "copy")); !rep.Full || !strings.Contains(rep.Reason, "another lake") {
		t.Errorf("build from another lake: %+v", rep)
	}
	if got := count(); got != "6/7" {
		t.Errorf("sets/reps = %s, want 6/7", got)
	}
	// A file DuckDB cannot open is replaced.
	if err := os.WriteFile(db, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	if rep := build(filepath.Join(dir, "copy")); !rep.Full || !strings.Contains(rep.Reason, "could not be opened") {
		t.Errorf("build over a damaged database: %+v", rep)
	}
	if got := count(); got != "6/7" {
		t.Errorf("sets/reps = %s, want 6/7", got)
	}
	if left, _ := filepath.Glob(db + ".*"); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}
