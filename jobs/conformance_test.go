package jobs

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/internal/testlog"
	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/load/store/s3store"
	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/sandbox"
)

// The source conformance suite, in the manner of rclone's fstests: every
// source of the registry passes TestConformance against its simulator, so
// the guarantees of PRODUCT.md (exact views, resumable and crash-safe runs,
// hostile ids, rejects, secrets) are proved once for all of them. What is
// truly one vendor's (OAuth2 tokens, quotas, samples, paging and pass
// edges) stays in that vendor's own tests.

// simOptions say which simulator a subtest needs.
type simOptions struct {
	// Hostile serves ids hostile to paths, URLs and quoting.
	Hostile bool
	// Crash sizes the data for the SIGKILL test (several pages a list).
	Crash bool
}

// simulator is one source's simulator, served by httptest, as the suite
// drives it: a small value per vendor (see simulators).
type simulator struct {
	sb *sandbox.Sandbox
	// section is the source's config section for the simulator, tuned.
	section connector.Config
	// run tunes every in-process run (a fake clock).
	run RunOptions
	// queries select, per table, the columns want renders, from its view.
	queries map[string]string
	// normalize, if set, makes a view's rows comparable (JSON text).
	normalize func(q string, rows [][]string) [][]string
	// want renders the simulator's truth as the rows each view must hold.
	want func() map[string][][]string
	// advance moves the vendor's data on: new and edited records.
	advance func()
	// faults injects transient faults that retries absorb (off: none).
	faults func(on bool)
	// faultWaits is how many rate-limit waits the faults cause at least.
	faultWaits int64
	// broken breaks a list page for good (off: repaired); the error must
	// contain endpoint, and the failed run must leave the views of tables
	// (nil: every table) and the states of streams as they were.
	broken func(on bool) (endpoint string, tables, streams []string)
	// hostile checks, after a sync of a simulator made with Hostile, that
	// each hostile id came through in each of its roles.
	hostile func(t *testing.T, l *lake)
	// wrongType makes one record wrong-typed on the wire (in the simulator
	// or through l.transport); after a sync, rejects are the lines of
	// _rejects/ expected ("table key reason"), want the views.
	wrongType func(l *lake) (rejects func() []string, want func() map[string][][]string)
	// secrets are the credentials the simulator accepts and hands out;
	// keep are the files allowed to hold them (the token store).
	secrets func() []string
	keep    []string
	// badSecret, if set, configures a wrong credential and returns it and
	// the key the error must name.
	badSecret func() (secret, key string)
	// kills is how many runs the SIGKILL test kills.
	kills int
	// commitBytes, if set, is the commit size of the runs that stop at
	// each checkpoint (the default gives a small simulator too few).
	commitBytes int64
}

// lake is a source's simulator on a real loopback listener and a lake in
// a temp dir with only that source; the vendors' own tests use it too.
type lake struct {
	t    *testing.T
	name string
	sim  *simulator
	sb   *sandbox.Sandbox
	dir  string
	cfg  *Config
	logs *testlog.Buffer
	out  *testlog.Buffer
	// transport, if set, carries the vendor requests (tests alter them).
	transport http.RoundTripper
	// s3, if set, configures the client of an s3:// output (its keys).
	s3 func(*s3store.Options)
}

// newLake starts the simulator of source name (made by simulators[name]).
func newLake(t *testing.T, name string, seed int64, o simOptions) *lake {
	t.Helper()
	mk, ok := simulators[name]
	if !ok {
		t.Fatalf("source %s has no simulator adapter", name)
	}
	dir := t.TempDir()
	return openLake(t, name, dir, mk(t, dir, seed, o))
}

// openLake configures a lake in dir over sim and authorizes the section
// if it needs it, through its real flow.
func openLake(t *testing.T, name, dir string, sim *simulator) *lake {
	t.Helper()
	l := &lake{t: t, name: name, sim: sim, sb: sim.sb, dir: dir, logs: &testlog.Buffer{}, out: &testlog.Buffer{}}
	l.cfg = &Config{
		Output:  filepath.Join(dir, "lake"),
		DuckDB:  filepath.Join(dir, "athlake.duckdb"),
		Sources: Sources{name: sim.section},
	}
	if err := l.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, ok := sim.section.(connector.Authorizer); ok {
		if err := Authorize(context.Background(), l.env(), l.cfg, name, connector.AuthOptions{Open: FollowRedirects}); err != nil {
			t.Fatalf("authorizing %s: %v", name, err)
		}
	}
	return l
}

// serve serves sb (behind wrap, if given) on a loopback listener for the
// test's lifetime and returns its URL.
func serve(t *testing.T, sb *sandbox.Sandbox, wrap ...func(http.Handler) http.Handler) string {
	var hd http.Handler = sb
	for _, w := range wrap {
		hd = w(hd)
	}
	srv := httptest.NewServer(hd)
	t.Cleanup(srv.Close)
	return srv.URL
}

func (l *lake) env() *Env {
	return &Env{
		Stdout: l.out, Stderr: l.logs, Transport: l.transport, S3: l.s3,
		Log: slog.New(slog.NewJSONHandler(l.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// run syncs (or o.Command) with the simulator's tuning, short timeouts
// and backoff.
func (l *lake) run(o RunOptions) (*Summary, error) {
	return l.runEnv(l.env(), o)
}

func (l *lake) runEnv(env *Env, o RunOptions) (*Summary, error) {
	o.Command = cmp.Or(o.Command, "sync")
	if o.Clock == nil {
		o.Clock, o.Sleep = l.sim.run.Clock, l.sim.run.Sleep
	}
	o.Timeout = cmp.Or(o.Timeout, l.sim.run.Timeout, 5*time.Second)
	o.Backoff = cmp.Or(o.Backoff, 5*time.Millisecond)
	return Run(context.Background(), env, l.cfg, o)
}

func (l *lake) sync() *Summary {
	l.t.Helper()
	return l.syncWith(RunOptions{})
}

// syncWith runs, and fails the test if the run fails.
func (l *lake) syncWith(o RunOptions) *Summary {
	l.t.Helper()
	sum, err := l.run(o)
	if err != nil {
		l.t.Fatalf("%s: %v", cmp.Or(o.Command, "sync"), err)
	}
	return sum
}

func (l *lake) query(q string) [][]string {
	l.t.Helper()
	_, rows, err := views.Query(context.Background(), l.cfg.DuckDB, q)
	if err != nil {
		l.t.Fatalf("%s: %v", q, err)
	}
	return rows
}

// actual reads every view the simulator's queries name.
func (l *lake) actual() map[string][][]string {
	m := map[string][][]string{}
	for table, q := range l.sim.queries {
		m[table] = sortRows(l.viewRows(q))
	}
	return m
}

// viewRows runs a query of the simulator's, normalized.
func (l *lake) viewRows(q string) [][]string {
	l.t.Helper()
	rows := l.query(q)
	if l.sim.normalize != nil {
		rows = l.sim.normalize(q, rows)
	}
	return rows
}

// assertExact compares every view with want, value by value.
func (l *lake) assertExact(want map[string][][]string) {
	l.t.Helper()
	assertViews(l.t, l.viewRows, l.name+"_", l.sim.queries, want)
}

// assertNoKeyDoubled checks every table of the source by its primary key.
func (l *lake) assertNoKeyDoubled() {
	l.t.Helper()
	c, _ := lookup(l.name)
	for _, tb := range c.Tables() {
		if len(tb.Key) == 0 {
			continue
		}
		cols := make([]string, len(tb.Key))
		for i, k := range tb.Key {
			cols[i] = `"` + k + `"`
		}
		q := fmt.Sprintf("SELECT count(*) - count(DISTINCT (%s)) FROM %s", strings.Join(cols, ", "), tb.ViewName())
		if got := l.query(q); got[0][0] != "0" {
			l.t.Errorf("%s: %s keys doubled", tb.ViewName(), got[0][0])
		}
	}
}

// readState reads the source's stream states from the lake.
func (l *lake) readState() map[string][]byte {
	l.t.Helper()
	return readStates(l.t, l.cfg.Output, l.name)
}

func readStates(t *testing.T, output, source string) map[string][]byte {
	t.Helper()
	st, err := store.NewLocal(output)
	if err != nil {
		t.Fatal(err)
	}
	m, err := (&load.StateStore{Store: st}).Load(context.Background(), source)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sqlString quotes s as an SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// assertTrue runs queries that must each answer true.
func (l *lake) assertTrue(queries ...string) {
	l.t.Helper()
	for _, q := range queries {
		if got := l.query(q); len(got) != 1 || got[0][0] != "true" {
			l.t.Errorf("%s = %v, want true", q, got)
		}
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	for _, c := range registry {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			if _, ok := simulators[c.Name]; !ok {
				t.Fatalf("source %s has no simulator adapter: every registered source must pass the conformance suite", c.Name)
			}
			for _, tc := range conformance {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.test(t, c.Name)
				})
			}
		})
	}
}

// conformance are the suite's subtests; seeds differ between subtests.
var conformance = []struct {
	name string
	test func(t *testing.T, source string)
}{
	{"BackfillIncrementalUnchanged", testBackfillIncrementalUnchanged},
	{"TransientFaults", testTransientFaults},
	{"BrokenPage", testBrokenPage},
	{"Killed", testKilled},
	{"ResumeFromEveryCheckpoint", testResumeFromEveryCheckpoint},
	{"HostileIDs", testHostileIDs},
	{"WrongTypeRejectedAlone", testWrongType},
	{"SecretsNeverWritten", testSecrets},
	{"Rebuild", testRebuild},
}

// testBackfillIncrementalUnchanged: a backfill is exact; after the vendor
// moves on, an incremental sync is exact; a sync that finds nothing new
// writes no data file and changes no view. (How few requests an
// incremental sync makes is each vendor's own test.)
func testBackfillIncrementalUnchanged(t *testing.T, source string) {
	l := newLake(t, source, 101, simOptions{})
	sum := l.sync()
	l.assertExact(l.sim.want())
	var rows int64
	for _, n := range sum.Rows {
		rows += n
	}
	backfill := sum.Requests[source].Requests
	if sum.Status != "ok" || rows == 0 || sum.Rejects != 0 || sum.Files == 0 || backfill == 0 {
		t.Errorf("backfill summary = %+v", sum)
	}

	l.sim.advance()
	want := l.sim.want()
	sum = l.sync()
	l.assertExact(want)
	if sum.Requests[source].Requests == 0 || sum.Files == 0 {
		t.Errorf("incremental sync summary = %+v", sum)
	}

	files, _ := parquetFiles(t, l.cfg.Output)
	sum = l.sync()
	if sum.Files != 0 {
		t.Errorf("a sync that found nothing new wrote %d files (rows %v)", sum.Files, sum.Rows)
	}
	if n, _ := parquetFiles(t, l.cfg.Output); n != files {
		t.Errorf("Parquet files: %d -> %d after a sync that found nothing new", files, n)
	}
	l.assertExact(want)
}

// testTransientFaults: 5xx, resets, stalls, 429s and malformed pages that
// retries absorb leave the views exact, and the retries are counted.
func testTransientFaults(t *testing.T, source string) {
	l := newLake(t, source, 102, simOptions{})
	l.sim.faults(true)
	sum, err := l.run(RunOptions{Run: connector.Run{Timeout: 500 * time.Millisecond}})
	if err != nil {
		t.Fatalf("sync under faults: %v", err)
	}
	l.assertExact(l.sim.want())
	if st := sum.Requests[source]; st.Retries == 0 || st.RateLimitWaits < l.sim.faultWaits {
		t.Errorf("retries and rate-limit waits counted: %+v, want some and %d waits", st, l.sim.faultWaits)
	}
}

// testBrokenPage: a list page broken for good fails the run (exit 1, the
// error naming the endpoint); the views it covers are as committed before;
// repaired, the next run is exact.
func testBrokenPage(t *testing.T, source string) {
	l := newLake(t, source, 103, simOptions{})
	l.sync()
	before, states := l.actual(), l.readState()
	l.sim.advance()
	endpoint, tables, streams := l.sim.broken(true)
	sum, err := l.run(RunOptions{})
	if err == nil {
		t.Fatal("sync with a permanently broken page succeeded")
	}
	if ExitCode(err) != ExitFailed {
		t.Errorf("exit %d, want %d: %v", ExitCode(err), ExitFailed, err)
	}
	if !strings.Contains(err.Error(), endpoint) {
		t.Errorf("error does not name %s: %v", endpoint, err)
	}
	if sum == nil || sum.Status != "failed" {
		t.Errorf("summary = %+v", sum)
	}
	if tables == nil {
		tables = slices.Collect(maps.Keys(l.sim.queries))
	}
	after := l.readState()
	for _, st := range streams {
		if string(after[st]) != string(states[st]) {
			t.Errorf("state of %s moved on failure: %s -> %s", st, states[st], after[st])
		}
	}
	got := l.actual()
	for _, tb := range tables {
		if d := diffRows(before[tb], got[tb]); d != "" {
			t.Errorf("%s view changed by the failed run:\n%s", tb, d)
		}
	}
	l.sim.broken(false)
	l.sync()
	l.assertExact(l.sim.want())
}

// testKilled: syncs killed with SIGKILL at random moments, the vendor
// moving on between them, converge: once one finishes, the views are exact
// with no key doubled.
func testKilled(t *testing.T, source string) {
	l := newLake(t, source, 104, simOptions{Crash: true})
	killAndFinish(t, l.dir, l.cfg, 104, l.sim.kills, func(attempt int, finished bool) {
		if finished || attempt%3 == 2 {
			l.sim.advance()
		}
	})
	l.assertExact(l.sim.want())
	l.assertNoKeyDoubled()
}

// testResumeFromEveryCheckpoint: for every commit marker N of a whole run,
// a run that stops right after its N-th marker (every later write of its
// fails, as if it died) and then a run to completion give the exact views,
// no key doubled.
func testResumeFromEveryCheckpoint(t *testing.T, source string) {
	l := newLake(t, source, 105, simOptions{})
	want := l.sim.want()
	// Count the markers of a whole run (in a scratch lake).
	count := &cutStore{only: markerPrefix}
	scratch := *l
	scratch.cfg = &Config{Output: filepath.Join(l.dir, "whole"), DuckDB: filepath.Join(l.dir, "whole.duckdb"), Sources: l.cfg.Sources}
	env := scratch.env()
	env.WrapStore = func(st store.Store) store.Store { count.Store = st; return count }
	if _, err := scratch.runEnv(env, RunOptions{CommitBytes: l.sim.commitBytes}); err != nil {
		t.Fatal(err)
	}
	markers := count.n
	t.Logf("a whole run writes %d commit markers", markers)
	if markers < 3 {
		t.Fatalf("a whole run writes %d commit markers: too few checkpoints to test", markers)
	}
	for n := 1; n <= markers; n++ {
		t.Run(fmt.Sprint("marker", n), func(t *testing.T) {
			t.Parallel()
			r := *l
			r.t = t
			r.cfg = &Config{Output: filepath.Join(l.dir, fmt.Sprint("at", n)), DuckDB: filepath.Join(l.dir, fmt.Sprint("at", n, ".duckdb")), Sources: l.cfg.Sources}
			fail := &cutStore{only: markerPrefix, limit: n}
			env := r.env()
			env.WrapStore = func(st store.Store) store.Store { fail.Store = st; return fail }
			if _, err := r.runEnv(env, RunOptions{CommitBytes: l.sim.commitBytes}); err == nil && n < markers {
				t.Errorf("the run did not fail after its marker %d of %d", n, markers)
			}
			if fail.n != n {
				t.Fatalf("the run wrote %d markers, want %d", fail.n, n)
			}
			if _, err := r.run(RunOptions{CommitBytes: l.sim.commitBytes}); err != nil {
				t.Fatalf("the run after the one stopped at marker %d: %v", n, err)
			}
			r.assertExact(want)
			r.assertNoKeyDoubled()
		})
	}
}

// testHostileIDs: ids hostile to paths, URLs, XML and quoting sync
// exactly, before and after the vendor moves on, each in all its roles,
// and every file stays inside the lake where the layout puts it.
func testHostileIDs(t *testing.T, source string) {
	l := newLake(t, source, 106, simOptions{Hostile: true})
	sum := l.sync()
	l.assertExact(l.sim.want())
	l.sim.hostile(t, l)
	for _, a := range sum.Anomalies {
		if strings.Contains(a, "not found") {
			t.Errorf("anomaly: %s", a)
		}
	}
	l.sim.advance()
	l.sync()
	l.assertExact(l.sim.want())
	assertInsideLake(t, l.cfg, source)
}

// assertInsideLake checks that every file under the lake's parent folder is
// the database, a file the source keeps (its token), or a file of the lake
// where the layout puts it, in a folder of one of the source's tables.
func assertInsideLake(t *testing.T, cfg *Config, source string) {
	t.Helper()
	c, _ := lookup(source)
	var names []string
	for _, tb := range c.Tables() {
		names = append(names, tb.Name)
	}
	lake := cfg.Output
	good := regexp.MustCompile(`^(` + source + `/(` + strings.Join(names, "|") + `)/((date=[0-9]{4}-[0-9]{2}-[0-9]{2}|month=[0-9]{4}-[0-9]{2}|[a-z]+=__HIVE_DEFAULT_PARTITION__)/)?[0-9TZ.:-]+-[0-9a-f]{6}-[a-z_]+-[0-9]{4}\.parquet|_(raw|state|runs|rejects|commits)/.+)$`)
	n := 0
	filepath.WalkDir(filepath.Dir(lake), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		rel, _ := filepath.Rel(lake, p)
		switch {
		case strings.HasPrefix(rel, ".."):
			if p != cfg.DuckDBPath() && !strings.HasPrefix(filepath.Base(p), source+"-token.json") {
				t.Errorf("file outside the lake: %s", p)
			}
		case !good.MatchString(filepath.ToSlash(rel)):
			t.Errorf("unexpected file in the lake: %s", rel)
		default:
			n++
		}
		return nil
	})
	if n == 0 {
		t.Error("no file in the lake: the check proves nothing")
	}
}

// testWrongType: one record of a wrong type on the wire is rejected alone,
// in _rejects/ with its key and the reason; every other row is exact.
func testWrongType(t *testing.T, source string) {
	l := newLake(t, source, 107, simOptions{})
	rejects, want := l.sim.wrongType(l)
	sum := l.sync()
	wantRejects := rejects()
	if sum.Rejects != len(wantRejects) || sum.Status != "ok" {
		t.Errorf("rejects = %d, status %s; want %d, ok", sum.Rejects, sum.Status, len(wantRejects))
	}
	l.assertExact(want())
	got := readRejects(t, l.cfg.Output)
	if d := diffRows(sortRows(rowsOf(wantRejects)), sortRows(rowsOf(got))); d != "" {
		t.Errorf("rejects (-want +got):\n%s", d)
	}
}

func rowsOf(lines []string) [][]string {
	rows := make([][]string, len(lines))
	for i, s := range lines {
		rows[i] = []string{s}
	}
	return rows
}

// readRejects reads _rejects/ as "table key reason" lines.
func readRejects(t *testing.T, output string) []string {
	var lines []string
	err := filepath.WalkDir(filepath.Join(output, load.RejectsDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fh, err := os.Open(p)
		if err != nil {
			return err
		}
		defer fh.Close()
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var r struct{ Table, Key, Reason string }
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				return err
			}
			lines = append(lines, r.Table+" "+r.Key+" "+r.Reason)
		}
		return sc.Err()
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return lines
}

// testSecrets: no credential the simulator accepts or hands out appears in
// any file but the token store (the lake, the database), in the logs
// (debug included) or in the output; nor does a wrong one, whose error
// names the key to fix.
func testSecrets(t *testing.T, source string) {
	l := newLake(t, source, 108, simOptions{})
	l.sim.faults(true)
	if _, err := l.run(RunOptions{Run: connector.Run{Timeout: 500 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	l.sim.faults(false)
	secrets := l.sim.secrets()
	var errText string
	if l.sim.badSecret != nil {
		secret, key := l.sim.badSecret()
		secrets = append(secrets, secret)
		_, err := l.run(RunOptions{})
		var cfgErr *ConfigError
		if !errors.As(err, &cfgErr) || cfgErr.Key != "sources."+source+"."+key {
			t.Errorf("bad credential: err = %v, want a ConfigError naming sources.%s.%s", err, source, key)
		}
		if err != nil {
			errText = err.Error()
		}
	}
	if len(secrets) == 0 {
		t.Fatal("no secrets to look for")
	}
	var files int
	filepath.WalkDir(l.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || slices.Contains(l.sim.keep, p) {
			return err
		}
		files++
		b, _ := os.ReadFile(p)
		for _, secret := range secrets {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("secret found in %s", p)
			}
		}
		return nil
	})
	for _, secret := range secrets {
		if strings.Contains(l.logs.String(), secret) || strings.Contains(l.out.String(), secret) || strings.Contains(errText, secret) {
			t.Errorf("secret %q in logs, output or error", secret)
		}
	}
	if files < 5 || !strings.Contains(l.logs.String(), `"level":"DEBUG"`) {
		t.Errorf("%d files, debug logs captured: %t: the check above proves little", files, strings.Contains(l.logs.String(), `"level":"DEBUG"`))
	}
}

// bodyRewriter rewrites, once, the first response body rewrite changes
// (rewrite returns nil to leave a body alone).
type bodyRewriter struct {
	next    http.RoundTripper
	mu      sync.Mutex
	done    bool
	rewrite func(r *http.Request, body []byte) []byte
}

func (b *bodyRewriter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := b.next.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if nb := b.rewrite(r, body); nb != nil {
		body, b.done = nb, true
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}
