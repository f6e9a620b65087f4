package jobs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/internal/testlog"
	"github.com/athlake/athlake/load/store/s3store/s3test"
	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/sandbox"
	sbo "github.com/athlake/athlake/sandbox/optimo"
	sbt "github.com/athlake/athlake/sandbox/teampro"
)

// season is a sandbox of all three vendors and a lake synced from it.
type season struct {
	t   *testing.T
	sb  *sandbox.Sandbox
	cfg *Config
	env *Env
}

func newSeason(t *testing.T, seed int64) *season {
	t.Helper()
	sb := sandbox.New(sandbox.Options{Seed: seed, TeamPro: sbt.Options{Rate: 1000, Burst: 1 << 30}, Optimo: sbo.Options{DailyQuota: 1 << 30}})
	api := httptest.NewServer(sb)
	t.Cleanup(api.Close)
	cfg := SandboxConfig(api.URL, t.TempDir())
	cfg.Sources.teampro().Rate, cfg.Sources.teampro().Burst = 1000, 1<<30
	// Advance edits sessions up to a few weeks old; look back that far.
	cfg.Sources.teampro().Lookback = connector.Duration(30 * 24 * time.Hour)
	cfg.Sources.optimo().DailyRequestBudget = 1 << 30
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Log: slog.New(slog.DiscardHandler)}
	if err := Authorize(context.Background(), env, cfg, "teampro", connector.AuthOptions{Open: FollowRedirects}); err != nil {
		t.Fatal(err)
	}
	return &season{t: t, sb: sb, cfg: cfg, env: env}
}

// day advances every vendor a day and syncs, compacting what is due with
// no grace.
func (s *season) day() *Summary {
	s.t.Helper()
	s.sb.Plyomat.Advance(24 * time.Hour)
	s.sb.TeamPro.Advance(24 * time.Hour)
	s.sb.Optimo.Advance(24 * time.Hour)
	sum, err := Run(context.Background(), s.env, s.cfg, RunOptions{Command: "sync", CompactGrace: -1})
	if err != nil {
		s.t.Fatalf("sync: %v", err)
	}
	// The database the previous sync left is brought up to date, not
	// rebuilt.
	if v := sum.Views; v == nil || v.Full || v.Files == 0 {
		s.t.Errorf("views build after a day: %+v, want the new files applied", v)
	} else {
		s.t.Logf("views: %d files applied, %d compacted recorded unread, %.2fs", v.Files, v.Recorded, v.Seconds)
	}
	return sum
}

// assertTruth compares every view of every vendor with its sandbox.
func (s *season) assertTruth() {
	s.t.Helper()
	query := func(q string) [][]string {
		_, rows, err := views.Query(context.Background(), s.cfg.DuckDBPath(), q)
		if err != nil {
			s.t.Fatalf("%s: %v", q, err)
		}
		return rows
	}
	assertViews(s.t, func(q string) [][]string { return normalizeDevices(q, query(q)) }, "plyomat_", viewQueries, expected(s.sb.Plyomat.Truth()))
	assertViews(s.t, query, "teampro_", tpQueries, tpExpected(s.sb.TeamPro.Truth()))
	assertViews(s.t, query, "optimo_", opQueries, opExpected(s.sb.Optimo.Truth(), wallUTCOracle(s.sb.Optimo.Zone().String())))
}

// assertModesAgree checks the views database, brought up to date sync
// after sync (tables mode), against a database built afresh from the same
// lake in tables mode and one of views over the files: the same rows,
// lineage included.
func (s *season) assertModesAgree() {
	s.t.Helper()
	ctx := context.Background()
	got := dumpViewsExcept(s.t, s.cfg.DuckDBPath())
	for _, mode := range []views.Mode{views.Tables, views.Files} {
		cfg := *s.cfg
		cfg.Views = string(mode)
		cfg.DuckDB = filepath.Join(s.t.TempDir(), "fresh.duckdb")
		if err := Views(ctx, s.env, &cfg, ViewsOptions{}); err != nil {
			s.t.Fatal(err)
		}
		assertSameViews(s.t, dumpViewsExcept(s.t, cfg.DuckDB), got)
	}
}

func TestCompactionKeepsTheViews(t *testing.T) {
	t.Parallel()
	s := newSeason(t, 51)
	ctx := context.Background()
	sum, err := Run(ctx, s.env, s.cfg, RunOptions{Command: "sync"})
	if err != nil {
		t.Fatal(err)
	}
	// The syncs compact what passed the threshold (the first pass's many
	// files), the command the rest.
	var tables []string
	compacted := func(rep *CompactReport) {
		for _, c := range rep.Tables {
			tables = append(tables, c.Table)
		}
	}
	compacted(sum.Compacted)
	for range 3 {
		compacted(s.day().Compacted)
	}
	s.assertModesAgree()
	before := dumpViews(t, s.cfg.DuckDBPath())
	filesBefore, _ := parquetFiles(t, s.cfg.Output)

	// A dry run says what is due and writes nothing.
	dry, err := Compact(ctx, s.env, s.cfg, CompactOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := parquetFiles(t, s.cfg.Output); len(dry.Tables) == 0 || dry.Tables[0].New == 0 || n != filesBefore {
		t.Errorf("dry run: %+v, Parquet files %d -> %d", dry.Tables, filesBefore, n)
	}
	rep, err := Compact(ctx, s.env, s.cfg, CompactOptions{Grace: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tables) == 0 {
		t.Fatal("nothing was compacted")
	}
	for i, c := range rep.Tables {
		if i < len(dry.Tables) && c.Table != dry.Tables[i].Table {
			t.Errorf("compacted %s where the dry run said %s", c.Table, dry.Tables[i].Table)
		}
	}
	compacted(rep)
	for _, want := range []string{"plyomat_sets", "teampro_player_sessions", "optimo_workouts"} {
		if !strings.Contains(strings.Join(tables, " "), want) {
			t.Errorf("%s not compacted (%v)", want, tables)
		}
	}
	assertSameViews(t, before, dumpViews(t, s.cfg.DuckDBPath()))
	s.assertModesAgree()

	// The next compaction deletes what the first replaced (no grace), and
	// finds nothing more to do.
	rep, err = Compact(ctx, s.env, s.cfg, CompactOptions{Grace: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tables) != 0 || rep.Deleted == 0 {
		t.Errorf("second compaction: %+v, want nothing compacted and the replaced files deleted", rep)
	}
	filesAfter, _ := parquetFiles(t, s.cfg.Output)
	t.Logf("Parquet files: %d before compaction, %d after", filesBefore, filesAfter)
	if filesAfter >= filesBefore {
		t.Errorf("Parquet files: %d before compaction, %d after", filesBefore, filesAfter)
	}
	assertSameViews(t, before, dumpViews(t, s.cfg.DuckDBPath()))

	// Syncs on top of the compacted lake stay exact.
	s.day()
	s.assertTruth()
	s.assertModesAgree()
}

// killedCompaction runs a compaction in a child (environment env added)
// that dies after its n-th write ("WRITES"), or its n-th commit marker
// ("MARKERS"; 0: never); it reports whether it died.
func killedCompaction(t *testing.T, cfgPath, what string, n int, env ...string) bool {
	t.Helper()
	var out testlog.Buffer
	cmd := childCmd(cfgPath, &out, append(env, "ATHLAKE_CHILD_COMPACT=1", fmt.Sprintf("ATHLAKE_CHILD_DIE_AFTER_%s=%d", what, n))...)
	err := cmd.Run()
	if err == nil {
		return false
	}
	if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || st.Signal() != syscall.SIGKILL {
		t.Fatalf("compaction failed: %v\n%s", err, out.String())
	}
	return true
}

// TestKilledCompactionsKeepTheViews kills a compaction with SIGKILL right
// after each of its writes in turn (a crash at every point of the
// protocol): after each, views built from the lake as the kill left it
// equal those from before. Then crashes pile up on one lake, and a
// compaction that finishes, and one that deletes what it replaced, keep
// the views equal too.
func TestKilledCompactionsKeepTheViews(t *testing.T) {
	t.Parallel()
	s := newSeason(t, 52)
	ctx := context.Background()
	if _, err := Run(ctx, s.env, s.cfg, RunOptions{Command: "sync"}); err != nil {
		t.Fatal(err)
	}
	s.day()
	before := dumpViews(t, s.cfg.DuckDBPath())
	dir := filepath.Dir(s.cfg.Output)
	cfgPath := writeChildConfig(t, dir, "compact.yaml", s.cfg)
	pristine := filepath.Join(dir, "pristine")
	if err := os.CopyFS(pristine, os.DirFS(s.cfg.Output)); err != nil {
		t.Fatal(err)
	}
	restore := func() {
		t.Helper()
		if err := os.RemoveAll(s.cfg.Output); err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(s.cfg.Output, os.DirFS(pristine)); err != nil {
			t.Fatal(err)
		}
	}
	compact := func(what string, n int) bool { return killedCompaction(t, cfgPath, what, n) }
	assertViewsNow := func(when string) {
		t.Helper()
		if err := Views(ctx, s.env, s.cfg, ViewsOptions{}); err != nil {
			t.Fatalf("%s: views: %v", when, err)
		}
		assertSameViews(t, before, dumpViews(t, s.cfg.DuckDBPath()))
		if t.Failed() {
			t.Fatalf("views differ %s", when)
		}
	}
	// Right after each commit marker (a family compacted, the others
	// not), and after writes spread over the whole compaction (files
	// uploaded, their marker not yet written).
	markers := 0
	for n := 1; compact("MARKERS", n); n++ {
		markers = n
		assertViewsNow(fmt.Sprintf("after a compaction killed after its commit marker %d", n))
		restore()
	}
	if markers < 3 {
		t.Fatalf("a compaction wrote only %d commit markers: nothing much was compacted", markers)
	}
	writes := 0
	for a, b := 1, 2; compact("WRITES", a); a, b = b, a+b {
		writes = a
		assertViewsNow(fmt.Sprintf("after a compaction killed after its write %d", a))
		restore()
	}
	t.Logf("killed after each of %d commit markers, and after writes up to %d", markers, writes)
	// Crashes piling up on one lake, then compactions that finish.
	for _, n := range []int{writes / 2, writes / 3, writes - 1} {
		compact("WRITES", n)
	}
	assertViewsNow("after three killed compactions")
	for range 2 {
		if compact("WRITES", 0) {
			t.Fatal("a compaction died without being asked to")
		}
		assertSameViews(t, before, dumpViews(t, s.cfg.DuckDBPath()))
	}
	c, err := Compact(ctx, s.env, s.cfg, CompactOptions{DryRun: true})
	if err != nil || len(c.Tables) != 0 {
		t.Errorf("after the finished compactions, a dry run would still compact %+v (%v)", c, err)
	}
}

// TestKilledCompactionsOnS3KeepTheViews kills compactions of a lake on a
// real S3-compatible server with SIGKILL, after a commit marker and in the
// middle of their uploads, one after the other on the same lake: after
// each, the views (built from the S3 lake itself) equal those from before.
// Then a compaction finishes, the next deletes what the others replaced,
// the views still equal, and no upload is left unfinished.
func TestKilledCompactionsOnS3KeepTheViews(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	s := newSeason(t, 53)
	s3Config(s.cfg, srv, bucket, "lake")
	s.env = s3Env(s.env, srv)
	ctx := context.Background()
	if _, err := Run(ctx, s.env, s.cfg, RunOptions{Command: "sync"}); err != nil {
		t.Fatal(err)
	}
	s.day()
	before := dumpViews(t, s.cfg.DuckDBPath())
	cfgPath := writeChildConfig(t, t.TempDir(), "compact.yaml", s.cfg)
	compact := func(what string, n int) bool { return killedCompaction(t, cfgPath, what, n, srv.Env()...) }
	for _, kill := range []struct {
		what string
		n    int
	}{{"MARKERS", 1}, {"WRITES", 3}, {"MARKERS", 2}, {"WRITES", 1}} {
		if !compact(kill.what, kill.n) {
			t.Fatalf("a compaction asked to die after %s %d finished", kill.what, kill.n)
		}
		if err := Views(ctx, s.env, s.cfg, ViewsOptions{}); err != nil {
			t.Fatal(err)
		}
		assertSameViews(t, before, dumpViews(t, s.cfg.DuckDBPath()))
	}
	for range 2 {
		if compact("WRITES", 0) {
			t.Fatal("a compaction died without being asked to")
		}
		assertSameViews(t, before, dumpViews(t, s.cfg.DuckDBPath()))
	}
	if up := srv.Uploads(t, bucket); len(up) != 0 {
		t.Errorf("unfinished uploads: %v", up)
	}
	c, err := Compact(ctx, s.env, s.cfg, CompactOptions{DryRun: true})
	if err != nil || len(c.Tables) != 0 {
		t.Errorf("after the finished compactions, a dry run would still compact %+v (%v)", c, err)
	}
	s.assertTruth()
}
