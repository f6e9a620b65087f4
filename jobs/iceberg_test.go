package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/athlake/athlake/internal/testlog"
	"github.com/athlake/athlake/load"
	icepub "github.com/athlake/athlake/load/iceberg"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/load/store/s3store/s3test"
	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/schemas"
)

// TestIcebergMatchesViews publishes a lake of all three vendors to an
// Iceberg SQL catalog (SQLite in the lake) and reads each table back with
// iceberg-go's own scan: row for row what its DuckDB view shows — after
// `iceberg register` of a lake synced without Iceberg, after a sync of a
// day of edits (newer versions in delta files, hidden by position
// deletes), after a compaction, and after a sync that compacts.
func TestIcebergMatchesViews(t *testing.T) {
	t.Parallel()
	s := newSeason(t, 16)
	ctx := context.Background()
	// A lake synced before Iceberg was configured (or by a run that died
	// between its commits and the publish): register publishes it.
	sum, err := Run(ctx, s.env, s.cfg, RunOptions{Command: "sync"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Iceberg != nil {
		t.Errorf("a sync without an iceberg section published: %+v", sum.Iceberg)
	}
	s.cfg.Iceberg = &IcebergConfig{}
	if err := s.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := IcebergRegister(ctx, s.env, s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("register: %d tables published in %.2fs", p.Changed, p.Seconds)
	s.assertIceberg("register")

	// Publishing again changes nothing.
	if p, err = IcebergRegister(ctx, s.env, s.cfg); err != nil {
		t.Fatal(err)
	}
	if p.Changed != 0 {
		t.Errorf("a second publish of the same lake changed %d tables", p.Changed)
	}

	// A day of edits: newer versions in delta files, before compaction.
	s.sb.Plyomat.Advance(24 * time.Hour)
	s.sb.TeamPro.Advance(24 * time.Hour)
	s.sb.Optimo.Advance(24 * time.Hour)
	sum, err = Run(ctx, s.env, s.cfg, RunOptions{Command: "sync"})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Iceberg == nil || sum.Iceberg.Changed == 0 {
		t.Fatalf("the sync published nothing: %+v", sum.Iceberg)
	}
	deletes := deleteFiles(sum.Iceberg)
	t.Logf("second sync: %d tables published, %d delete files, in %.2fs", sum.Iceberg.Changed, deletes, sum.Iceberg.Seconds)
	if deletes == 0 {
		t.Error("a day of edits hid no row: the test does not exercise the deletes")
	}
	s.assertIceberg("after a day of edits")

	// A compaction replaces the files: a replace snapshot.
	// `athlake compact` publishes its replace.
	if _, err := Compact(ctx, s.env, s.cfg, CompactOptions{Grace: -1}); err != nil {
		t.Fatal(err)
	}
	s.assertIceberg("after compaction")
	if p, err = IcebergRegister(ctx, s.env, s.cfg); err != nil || p.Changed != 0 {
		t.Errorf("publishing the compacted lake again: %d tables changed, %v", p.Changed, err)
	}

	// A day more, synced with the compactions that are due: replaces
	// and new deletes in one publish.
	sum = s.day()
	snaps := 0
	for _, r := range sum.Iceberg.Tables {
		snaps += r.Snapshots
	}
	t.Logf("a day more: %d tables published in %d snapshots, in %.2fs; _iceberg holds %d files, %d bytes",
		sum.Iceberg.Changed, snaps, sum.Iceberg.Seconds, countFiles(t, filepath.Join(s.cfg.Output, IcebergDir)), dirBytes(t, filepath.Join(s.cfg.Output, IcebergDir)))
	s.assertIceberg("after a day more")
}

// TestIcebergKilledSyncs kills syncs of all three vendors that publish
// to Iceberg with SIGKILL at chosen points — in their commits, after them
// (before the publish), after some tables' catalog commits, at random
// moments inside the publish, and at a random moment of the whole run —
// then lets one finish: every table's Iceberg scan equals its view, row
// for row, after the first kills (each table's first snapshots) and after
// a few days of them (position deletes, compactions' replaces).
func TestIcebergKilledSyncs(t *testing.T) {
	t.Parallel()
	s := newSeason(t, 17)
	s.cfg.Iceberg = &IcebergConfig{}
	if err := s.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfgPath := writeChildConfig(t, t.TempDir(), "athlake.yaml", s.cfg)
	rng := rand.New(rand.NewPCG(17, 17))
	advance := func() {
		s.sb.Plyomat.Advance(24 * time.Hour)
		s.sb.TeamPro.Advance(24 * time.Hour)
		s.sb.Optimo.Advance(24 * time.Hour)
	}
	die := func(point string) bool { return killedSync(t, cfgPath, point) }
	finish := func(when string) {
		t.Helper()
		runChild(t, cfgPath, 0, nil)
		s.assertIceberg(when)
	}

	// The first sync dies after 4 tables' first snapshots: the others
	// have none.
	if !die("ATHLAKE_CHILD_DIE_IN_PUBLISH=4") {
		t.Fatal("the first sync did not die in its publish")
	}
	if n := s.publishedTables(); n != 4 {
		t.Errorf("after a publish killed at its 4th table: %d tables with a snapshot", n)
	}
	// The next dies after its commits, as the publish begins.
	die("ATHLAKE_CHILD_DIE_IN_PUBLISH_AFTER=0s")
	start := time.Now()
	runChild(t, cfgPath, 0, nil)
	took := time.Since(start) // a run's length, for a random moment of one
	s.assertIceberg("after killed first publishes")

	// Random moments of the catalog commits: after the hidden rows are
	// found, in the first half of what the finished run's publish took
	// after that (a day publishes less than the catch-up it did).
	p := s.lastPublish()
	inCommits := func() string {
		d := p.HiddenSeconds + rng.Float64()*(p.Seconds-p.HiddenSeconds)/2
		return fmt.Sprintf("ATHLAKE_CHILD_DIE_IN_PUBLISH_AFTER=%dms", int(d*1000))
	}
	killed := 0
	for _, point := range []string{
		"ATHLAKE_CHILD_DIE_AFTER_MARKERS=2", // in its commits: no publish
		"ATHLAKE_CHILD_DIE_IN_PUBLISH=3",    // after 3 tables' catalog commits
		inCommits(),
		inCommits(),
		"", // at a random moment of the whole run
	} {
		advance()
		if point == "" {
			if sent, _ := runChild(t, cfgPath, time.Duration(rng.Int64N(int64(took))), syscall.SIGKILL); sent {
				killed++
			}
			continue
		}
		if die(point) {
			killed++
		}
	}
	if killed < 3 {
		t.Errorf("only %d of 5 syncs died: the test did not test crashes", killed)
	}
	finish("after killed days")
	s.lastPublish()
}

// TestIcebergSnapshotsBounded: a season of daily syncs, the clock a day
// on at each (compactions as they fall due), keeps each table's snapshot
// count bounded: the expiry policy (24 hours after a snapshot was
// replaced, by the publishing clock) keeps today's and those replaced in
// the last day (one or two a publish: a compaction's replace and new
// deletes meeting are two).
func TestIcebergSnapshotsBounded(t *testing.T) {
	t.Parallel()
	s := newSeason(t, 19)
	s.cfg.Iceberg = &IcebergConfig{}
	if err := s.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	s.env.Now = func() time.Time { return clock }
	if _, err := Run(context.Background(), s.env, s.cfg, RunOptions{Command: "sync"}); err != nil {
		t.Fatal(err)
	}
	const days = 5
	expired, most, published := 0, 0, 0
	for day := 1; day <= days; day++ {
		clock = clock.Add(24 * time.Hour)
		sum := s.day()
		for _, r := range sum.Iceberg.Tables {
			expired += r.Expired
			published += r.Snapshots
		}
		counts := s.snapshotCounts()
		total := 0
		for _, n := range counts {
			total += n
			most = max(most, n)
		}
		t.Logf("day %d: %d tables published; %d snapshots in %d tables, at most %d in one", day, sum.Iceberg.Changed, total, len(counts), slices.Max(slices.Collect(maps.Values(counts))))
	}
	t.Logf("%d days: %d snapshots published, %d expired, at most %d kept by a table", days, published, expired, most)
	if most > 4 || expired == 0 {
		t.Errorf("after %d days a table holds %d snapshots (%d expired in all), want at most 4", days, most, expired)
	}
	s.assertIceberg("after a season")
}

// snapshotCounts counts each Iceberg table's snapshots, by view name.
func (s *season) snapshotCounts() map[string]int {
	s.t.Helper()
	cat, _ := s.catalog()
	defer cat.Close()
	out := map[string]int{}
	for _, t := range tables().Tables() {
		tbl, err := cat.Load(context.Background(), t.ViewName())
		if err != nil {
			s.t.Fatalf("%s: %v", t.ViewName(), err)
		}
		out[t.ViewName()] = len(tbl.Metadata().Snapshots())
	}
	return out
}

// TestIcebergKilledSyncsS3: syncs of all three vendors to S3
// (versitygw) killed after some tables' catalog commits, at a random
// moment of them, in their commits and at a random moment of the whole
// run, then one that finishes: every table's Iceberg scan
// equals its view (the local kills in TestIcebergKilledSyncs; here, what
// S3 changes: the metadata written to S3, the catalog beside it local).
func TestIcebergKilledSyncsS3(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	s := newSeason(t, 20)
	s3Config(s.cfg, srv, bucket, "lake")
	s3Env(s.env, srv)
	s.cfg.Iceberg = &IcebergConfig{}
	if err := s.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfgPath := writeChildConfig(t, t.TempDir(), "athlake.yaml", s.cfg)
	env := srv.Env()
	if !killedSync(t, cfgPath, "ATHLAKE_CHILD_DIE_IN_PUBLISH=4", env...) {
		t.Fatal("the first sync did not die in its publish")
	}
	if n := s.publishedTables(); n != 4 {
		t.Errorf("after a publish killed at its 4th table: %d tables with a snapshot", n)
	}
	start := time.Now()
	runChild(t, cfgPath, 0, nil, env...)
	took := time.Since(start)
	s.assertIceberg("after a killed first publish")
	p := s.lastPublish()
	rng := rand.New(rand.NewPCG(20, 20))
	killed := 0
	for _, point := range []string{
		fmt.Sprintf("ATHLAKE_CHILD_DIE_IN_PUBLISH_AFTER=%dms", int(1000*(p.HiddenSeconds+rng.Float64()*(p.Seconds-p.HiddenSeconds)/2))),
		"ATHLAKE_CHILD_DIE_IN_PUBLISH=2",
		"ATHLAKE_CHILD_DIE_AFTER_MARKERS=2", // in its commits: no publish
		"",                                  // at a random moment of the whole run
	} {
		s.sb.Plyomat.Advance(24 * time.Hour)
		s.sb.TeamPro.Advance(24 * time.Hour)
		s.sb.Optimo.Advance(24 * time.Hour)
		if point == "" {
			if sent, _ := runChild(t, cfgPath, time.Duration(rng.Int64N(int64(took))), syscall.SIGKILL, env...); sent {
				killed++
			}
			continue
		}
		if killedSync(t, cfgPath, point, env...) {
			killed++
		}
	}
	if killed < 2 {
		t.Errorf("only %d of 4 syncs of a day died: the test did not test crashes", killed)
	}
	runChild(t, cfgPath, 0, nil, env...)
	s.assertIceberg("after killed days")
}

// killedSync runs a sync in a child (environment env added) meant to
// die with SIGKILL at point (an ATHLAKE_CHILD_DIE_* setting), and says
// whether it did.
func killedSync(t *testing.T, cfgPath, point string, env ...string) bool {
	t.Helper()
	var out testlog.Buffer
	cmd := childCmd(cfgPath, &out, append(env, point)...)
	err := cmd.Run()
	if err == nil {
		t.Logf("the sync meant to die (%s) finished", point)
		return false
	}
	if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || st.Signal() != syscall.SIGKILL {
		t.Fatalf("sync failed: %v\n%s", err, out.String())
	}
	return true
}

// lastPublish is the publish of the lake's newest run summary.
func (s *season) lastPublish() *IcebergPublish {
	s.t.Helper()
	ctx := context.Background()
	st, err := openStore(ctx, s.env, s.cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	objs, err := st.List(ctx, load.RunsDir+"/")
	if err != nil || len(objs) == 0 {
		s.t.Fatalf("no run summary: %v", err)
	}
	var last string
	for _, o := range objs {
		last = max(last, o.Key)
	}
	b, _, err := st.Get(ctx, last)
	if err != nil {
		s.t.Fatal(err)
	}
	var sum Summary
	if err := json.Unmarshal(b, &sum); err != nil || sum.Iceberg == nil {
		s.t.Fatalf("%s: no publish (%v)", last, err)
	}
	s.t.Logf("the last run published in %.2fs, %.2fs of it finding the hidden rows", sum.Iceberg.Seconds, sum.Iceberg.HiddenSeconds)
	return sum.Iceberg
}

// catalog opens the season's Iceberg catalog and its lake.
func (s *season) catalog() (*icepub.Catalog, store.Store) {
	s.t.Helper()
	ctx := context.Background()
	st, err := openStore(ctx, s.env, s.cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	cat, err := openCatalog(ctx, s.env, s.cfg, st, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return cat, st
}

// publishedTables counts the Iceberg tables with a current snapshot.
func (s *season) publishedTables() int {
	s.t.Helper()
	ctx := context.Background()
	cat, _ := s.catalog()
	defer cat.Close()
	n := 0
	for _, t := range tables().Tables() {
		if tbl, err := cat.Load(ctx, t.ViewName()); err == nil && tbl.CurrentSnapshot() != nil {
			n++
		}
	}
	return n
}

// TestIcebergS3 publishes a lake of all three vendors on S3 (versitygw):
// the tables' metadata and deletes on S3 beside the lake, the catalog a
// local SQLite file; each table's Iceberg scan (iceberg-go's S3 file IO)
// and DuckDB over the planned files equal its view, after a first sync,
// a day of edits and a compaction; no credential lands in the catalog or
// in any file under _iceberg/.
func TestIcebergS3(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	s := newSeason(t, 18)
	s3Config(s.cfg, srv, bucket, "lake")
	s3Env(s.env, srv)
	s.cfg.Iceberg = &IcebergConfig{}
	if err := s.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s.publishDays(true, nil)

	// Where things are, and no secret in them.
	s.assertMetadataUnder("s3://" + bucket + "/lake/" + IcebergDir)
	_, st := s.catalog()
	local := filepath.Dir(s.cfg.Iceberg.sqlitePath(s.cfg))
	objs, err := st.List(ctx, IcebergDir+"/")
	if err != nil || len(objs) < 50 {
		t.Errorf("%d objects under %s/ (%v): want the tables' metadata", len(objs), IcebergDir, err)
	}
	n := (secretSearch{secrets: []string{srv.SecretKey, srv.AccessKey}, dirs: []string{local}, store: st, prefix: IcebergDir + "/"}).assert(t)
	t.Logf("no credential in the catalog's files nor the objects under %s/: %d in all", IcebergDir, n)
}

// secretSearch looks for secrets where a run may have put them.
type secretSearch struct {
	secrets []string
	pattern *regexp.Regexp // a secret's shape (issued tokens), or nil
	output  string         // the log and stdout
	reports []any          // run summaries and reports, as JSON
	dirs    []string       // local folders: every file under them
	store   store.Store    // and every object under prefix, if set
	prefix  string
}

// assert fails t where a secret is found, and says how many files and
// objects it read (callers check that it looked at enough).
func (q secretSearch) assert(t *testing.T) int {
	t.Helper()
	check := func(what string, b []byte) {
		t.Helper()
		for _, sec := range q.secrets {
			if bytes.Contains(b, []byte(sec)) {
				t.Errorf("%s holds a secret (%d bytes of it)", what, len(sec))
			}
		}
		if q.pattern != nil && q.pattern.Match(b) {
			t.Errorf("%s holds an issued token", what)
		}
	}
	check("the log or output", []byte(q.output))
	for _, sum := range q.reports {
		b, err := json.Marshal(sum)
		if err != nil {
			t.Fatal(err)
		}
		check("a run summary or report", b)
	}
	n := 0
	for _, dir := range q.dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			n++
			check(p, b)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if q.store != nil {
		ctx := context.Background()
		objs, err := q.store.List(ctx, q.prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			b, _, err := q.store.Get(ctx, o.Key)
			if err != nil {
				t.Fatal(err)
			}
			n++
			check(o.Key, b)
		}
	}
	return n
}

// configCase is an iceberg section and the key its error names.
type configCase struct{ yaml, key string }

// assertConfigErrors: each case's section is a ConfigError naming its key
// (exit 2) that shows none of the secrets the cases use (s3cr3t, t0k3n).
func assertConfigErrors(t *testing.T, cases []configCase) {
	t.Helper()
	for _, c := range cases {
		cfg, err := ParseConfig([]byte(c.yaml), func(string) string { return "" })
		if err == nil {
			err = cfg.Validate()
		}
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key || ExitCode(err) != ExitUsage {
			t.Errorf("%q: error %v, want a ConfigError naming %s", c.yaml, err, c.key)
		} else if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "t0k3n") {
			t.Errorf("%q: the error shows a secret: %v", c.yaml, err)
		}
	}
}

// TestIcebergConfig: a wrong iceberg section is a configuration error
// naming its key (exit 2); the defaults put the catalog in the lake.
func TestIcebergConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	assertConfigErrors(t, []configCase{
		{"iceberg:\n  catalog: hive\n", "iceberg.catalog"},
		{"iceberg:\n  region: eu-west-1\n", "iceberg.region"}, // for glue only
		{"iceberg:\n  namespace: a.b\n", "iceberg.namespace"},
		{"iceberg:\n  uri: mysql://h/db\n", "iceberg.uri"},
		{"iceberg:\n  uri: host=pg user=a password=s3cr3t dbname=c\n", "iceberg.uri"},
	})
	// A SQLite file whose path has spaces is a file, not a connection
	// string.
	if cfg, err := ParseConfig([]byte("output: lake\niceberg:\n  uri: My Drive/catalog.db\n"), func(string) string { return "" }); err != nil {
		t.Error(err)
	} else if err := cfg.Validate(); err != nil {
		t.Errorf("a SQLite path with a space: %v", err)
	}
	cfg, err := ParseConfig([]byte("output: lake\niceberg: {}\n"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dir = dir
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if ic := cfg.Iceberg; ic.Catalog != "sql" || ic.Namespace != "athlake" || ic.sqlitePath(cfg) != filepath.Join(dir, "lake", IcebergDir, "catalog.db") {
		t.Errorf("defaults: %+v, SQLite file %s", ic, ic.sqlitePath(cfg))
	}
	// An s3:// lake's catalog is a local file, beside the views database.
	s3cfg, err := ParseConfig([]byte("output: s3://bucket/lake\nduckdb: db/athlake.duckdb\niceberg: {}\n"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	s3cfg.Dir = dir
	if err := s3cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := s3cfg.Iceberg.sqlitePath(s3cfg), filepath.Join(dir, "db", "athlake.duckdb.iceberg", "catalog.db"); got != want {
		t.Errorf("the catalog of an s3:// lake: %s, want %s", got, want)
	}
	// A SQLite file that cannot be opened (a folder) names iceberg.uri.
	cfg.Iceberg.URI = dir
	cfg.Sources = Sources{}
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Log: slog.New(slog.DiscardHandler)}
	_, err = IcebergRegister(context.Background(), env, cfg)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "iceberg.uri" || ExitCode(err) != ExitUsage {
		t.Errorf("unopenable catalog: error %v, want a ConfigError naming iceberg.uri", err)
	}
}

func countFiles(t testing.TB, dir string) (n int) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	return n
}

func dirBytes(t testing.TB, dir string) (n int64) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return err
	})
	return n
}

// assertIceberg compares every table's Iceberg scan with its view.
// publishDays syncs (publishing), syncs a day of edits later (position
// deletes) and, with compact, compacts (a replace): after each, every
// table's Iceberg scan equals its view, and after(when) runs if set. It
// returns the runs' summaries and the compaction's report.
func (s *season) publishDays(compact bool, after func(when string)) []any {
	s.t.Helper()
	ctx := context.Background()
	check := func(when string) {
		s.t.Helper()
		s.assertIceberg(when)
		if after != nil {
			after(when)
		}
	}
	sum, err := Run(ctx, s.env, s.cfg, RunOptions{Command: "sync"})
	if err != nil {
		s.t.Fatal(err)
	}
	if sum.Iceberg == nil || sum.Iceberg.Changed == 0 {
		s.t.Fatalf("the first sync published nothing: %+v", sum.Iceberg)
	}
	s.t.Logf("first sync: %d tables published in %.2fs (%.2fs finding the hidden rows)", sum.Iceberg.Changed, sum.Iceberg.Seconds, sum.Iceberg.HiddenSeconds)
	check("first sync")
	day := s.day()
	deletes := deleteFiles(day.Iceberg)
	s.t.Logf("a day later: %d tables published, %d delete files, in %.2fs (%.2fs finding the hidden rows)", day.Iceberg.Changed, deletes, day.Iceberg.Seconds, day.Iceberg.HiddenSeconds)
	if deletes == 0 {
		s.t.Error("a day of edits hid no row: the test does not exercise the deletes")
	}
	check("a day later")
	reports := []any{sum, day}
	if compact {
		cs, err := Compact(ctx, s.env, s.cfg, CompactOptions{Grace: -1})
		if err != nil {
			s.t.Fatal(err)
		}
		reports = append(reports, cs)
		check("after compaction")
	}
	return reports
}

// assertMetadataUnder: a table's metadata is under the warehouse wh, in
// its namespace's folder.
func (s *season) assertMetadataUnder(wh string) {
	s.t.Helper()
	cat, _ := s.catalog()
	defer cat.Close()
	tbl, err := cat.Load(context.Background(), "plyomat_sets")
	if err != nil {
		s.t.Fatal(err)
	}
	if want := wh + "/athlake/plyomat_sets/metadata/"; !strings.HasPrefix(tbl.MetadataLocation(), want) {
		s.t.Errorf("metadata at %s, want under %s", tbl.MetadataLocation(), want)
	}
}

func (s *season) assertIceberg(when string) {
	s.t.Helper()
	cat, st := s.catalog()
	defer cat.Close()
	ctx := cat.IOContext(context.Background())
	root, err := lakeRoot(st)
	if err != nil {
		s.t.Fatal(err)
	}
	// DuckDB reads an s3:// lake's files staged (no httpfs offline).
	staged := s.t.TempDir()
	local := func(p string) string {
		if !strings.HasPrefix(p, "s3://") {
			return p
		}
		l, err := stage(ctx, st, strings.TrimPrefix(p, root+"/"), staged)
		if err != nil {
			s.t.Fatalf("staging %s: %v", p, err)
		}
		return filepath.ToSlash(l)
	}
	nonEmpty := 0
	for _, t := range tables().Tables() {
		want := viewRows(s.t, s.cfg.DuckDBPath(), t)
		tbl, err := cat.Load(ctx, t.ViewName())
		if err != nil {
			s.t.Fatalf("%s: %s: %v", when, t.ViewName(), err)
		}
		var got [][]string
		if tbl.CurrentSnapshot() != nil {
			at, err := tbl.Scan().ToArrowTable(ctx)
			if err != nil {
				s.t.Fatalf("%s: scanning %s: %v", when, t.ViewName(), err)
			}
			got = arrowRows(s.t, at, t)
			at.Release()
		}
		if len(want) > 0 {
			nonEmpty++
		}
		if d := rowsDiff(sortRows(want), sortRows(got)); d != "" {
			s.t.Errorf("%s: %s: the Iceberg scan differs from the view (-view +iceberg, %d vs %d rows):\n%s", when, t.ViewName(), len(want), len(got), d)
		}
		if tbl.CurrentSnapshot() == nil {
			continue
		}
		// A reader that is not iceberg-go: DuckDB reading exactly the
		// data files and position deletes the snapshot plans.
		tasks, err := tbl.Scan().PlanFiles(ctx)
		if err != nil {
			s.t.Fatalf("%s: planning %s: %v", when, t.ViewName(), err)
		}
		var data, dels []string
		for _, task := range tasks {
			if !slices.Contains(data, task.File.FilePath()) {
				data = append(data, task.File.FilePath())
			}
			for _, df := range task.DeleteFiles {
				if !slices.Contains(dels, df.FilePath()) {
					dels = append(dels, df.FilePath())
				}
			}
		}
		planned := plannedRows(s.t, s.cfg.DuckDBPath(), t, data, dels, local)
		if d := rowsDiff(want, sortRows(planned)); d != "" {
			s.t.Errorf("%s: %s: DuckDB over the planned files differs from the view (-view +planned, %d vs %d rows):\n%s", when, t.ViewName(), len(want), len(planned), d)
		}
	}
	if nonEmpty < 15 {
		s.t.Errorf("%s: only %d tables with rows", when, nonEmpty)
	}
}

// viewRows reads a table's view, its columns in declaration order, as
// views.Query formats them (JSON normalized).
func viewRows(t *testing.T, db string, tb *schemas.Table) [][]string {
	t.Helper()
	var sel []string
	for _, c := range tb.AllColumns() {
		if c.Type == schemas.JSON {
			sel = append(sel, fmt.Sprintf("CAST(%q AS VARCHAR)", c.Name))
		} else {
			sel = append(sel, fmt.Sprintf("%q", c.Name))
		}
	}
	_, rows, err := views.Query(context.Background(), db, fmt.Sprintf("SELECT %s FROM %q", strings.Join(sel, ", "), tb.ViewName()))
	if err != nil {
		t.Fatalf("%s: %v", tb.ViewName(), err)
	}
	return normRows(tb, rows)
}

// normRows normalises the JSON columns of tb's rows, in place.
func normRows(tb *schemas.Table, rows [][]string) [][]string {
	for _, r := range rows {
		for i, c := range tb.AllColumns() {
			if c.Type == schemas.JSON {
				r[i] = normJSON(r[i])
			}
		}
	}
	return rows
}

// plannedRows reads data files less the rows their position deletes name,
// with DuckDB, as viewRows formats them; local gives the local path of
// a file the snapshot names.
func plannedRows(t *testing.T, db string, tb *schemas.Table, data, dels []string, local func(string) string) [][]string {
	t.Helper()
	lit := func(p string) string { return "'" + strings.ReplaceAll(p, "'", "''") + "'" }
	list := func(paths []string) string {
		q := make([]string, len(paths))
		for i, p := range paths {
			q[i] = lit(local(p))
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	// The deletes name the data files as the snapshot does.
	names := make([]string, len(data))
	for i, p := range data {
		names[i] = fmt.Sprintf("(%s, %s)", lit(p), lit(local(p)))
	}
	var sel []string
	for _, c := range tb.AllColumns() {
		switch c.Type {
		case schemas.JSON:
			sel = append(sel, fmt.Sprintf("CAST(d.%q AS VARCHAR)", c.Name))
		default:
			sel = append(sel, fmt.Sprintf("d.%q", c.Name))
		}
	}
	q := fmt.Sprintf("SELECT %s FROM read_parquet(%s, hive_partitioning = false, union_by_name = true, filename = true, file_row_number = true) AS d",
		strings.Join(sel, ", "), list(data))
	if len(dels) > 0 {
		q += fmt.Sprintf(" ANTI JOIN (SELECT n.local AS filename, x.pos FROM read_parquet(%s, hive_partitioning = false) AS x JOIN (VALUES %s) AS n(path, local) ON x.file_path = n.path) AS x ON x.filename = d.filename AND x.pos = d.file_row_number",
			list(dels), strings.Join(names, ", "))
	}
	_, rows, err := views.Query(context.Background(), db, q)
	if err != nil {
		t.Fatalf("%s: %v", tb.ViewName(), err)
	}
	return normRows(tb, rows)
}

// arrowRows formats an Arrow table's rows as viewRows does.
func arrowRows(t *testing.T, at arrow.Table, tb *schemas.Table) [][]string {
	t.Helper()
	cols := tb.AllColumns()
	idx := make([]int, len(cols))
	for i, c := range cols {
		f := at.Schema().FieldIndices(c.Name)
		if len(f) != 1 {
			t.Fatalf("%s: column %s not in the scan (%s)", tb.ViewName(), c.Name, at.Schema())
		}
		idx[i] = f[0]
	}
	var out [][]string
	tr := array.NewTableReader(at, 0)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		for r := 0; r < int(rec.NumRows()); r++ {
			row := make([]string, len(cols))
			for i, c := range cols {
				row[i] = cell(rec.Column(idx[i]), r)
				if c.Type == schemas.JSON {
					row[i] = normJSON(row[i])
				}
			}
			out = append(out, row)
		}
	}
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func cell(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "NULL"
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'f', -1, 64)
	case *array.Boolean:
		return strconv.FormatBool(a.Value(i))
	case *array.Date32:
		return a.Value(i).ToTime().UTC().Format(time.RFC3339Nano)
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return a.Value(i).ToTime(unit).UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("unexpected %s: %v", a.DataType(), a.ValueStr(i))
}

// deleteFiles counts the position delete files a publish wrote.
func deleteFiles(p *IcebergPublish) int {
	n := 0
	for _, r := range p.Tables {
		n += r.DeleteFiles
	}
	return n
}
