package jobs

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/internal/testlog"
	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store/s3store"
	"github.com/athlake/athlake/load/store/s3store/s3test"
	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/sandbox"
	sbt "github.com/athlake/athlake/sandbox/teampro"
	"github.com/athlake/athlake/schemas"
)

// s3Config points cfg's output at bucket/prefix on srv.
func s3Config(cfg *Config, srv *s3test.Server, bucket, prefix string) {
	cfg.Output = "s3://" + bucket + "/" + prefix
	cfg.S3 = S3Config{Region: "us-east-1", Endpoint: srv.Endpoint, ForcePathStyle: true}
}

// newS3Harness is a Plyomat harness whose output is the prefix "lake" of a
// new bucket on a real S3-compatible server.
func newS3Harness(t *testing.T, seed int64) (*lake, *s3test.Server, string) {
	t.Helper()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	h := newHarness(t, seed)
	s3Config(h.cfg, srv, bucket, "lake")
	h.s3 = func(o *s3store.Options) { o.Credentials = srv.Credentials() }
	return h, srv, bucket
}

// s3Env gives an Env the server's keys.
func s3Env(env *Env, srv *s3test.Server) *Env {
	env.S3 = func(o *s3store.Options) { o.Credentials = srv.Credentials() }
	return env
}

// mirrorViews mirrors an S3 output to dir and builds views over the copy
// into db: how S3 lakes are read end to end where httpfs cannot install.
func mirrorViews(t *testing.T, env *Env, cfg *Config, dir, db string) *MirrorStats {
	t.Helper()
	ctx := context.Background()
	st, err := Mirror(ctx, env, cfg, MirrorOptions{To: dir})
	if err != nil {
		t.Fatalf("mirror: %v", err)
	}
	local := *cfg
	if err := Views(ctx, env, &local, ViewsOptions{Lake: dir, DB: db}); err != nil {
		t.Fatalf("views --lake: %v", err)
	}
	return st
}

// dumpViews reads every view but the lineage columns, sorted.
func dumpViews(t *testing.T, db string) map[string][][]string {
	return dumpViewsExcept(t, db, "_run_id", "_extracted_at")
}

// dumpViewsExcept reads every view (or table) of a database, its columns in name
// order (the order of a view's columns is not part of the contract) but
// those left out. The floating-point columns of the analysis views
// (athlake_*) are rounded to 6 decimals: they sum floating-point values in
// parallel, and the last bits of a sum depend on the order DuckDB adds in.
func dumpViewsExcept(t *testing.T, db string, except ...string) map[string][][]string {
	t.Helper()
	ctx := context.Background()
	_, names, err := views.Query(ctx, db, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][]string{}
	for _, n := range names {
		_, cols, err := views.Query(ctx, db, "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? AND schema_name = 'main' ORDER BY 1", n[0])
		if err != nil {
			t.Fatal(err)
		}
		var sel []string
		for _, c := range cols {
			switch {
			case slices.Contains(except, c[0]):
			case strings.HasPrefix(n[0], "athlake_") && c[1] == "DOUBLE":
				sel = append(sel, fmt.Sprintf("round(%q, 6) AS %[1]q", c[0]))
			default:
				sel = append(sel, fmt.Sprintf("%q", c[0]))
			}
		}
		_, rows, err := views.Query(ctx, db, fmt.Sprintf(`SELECT %s FROM %q ORDER BY ALL`, strings.Join(sel, ", "), n[0]))
		if err != nil {
			t.Fatalf("%s: %v", n[0], err)
		}
		out[n[0]] = rows
	}
	return out
}

// TestSyncToS3MatchesLocal syncs every source into a real S3-compatible
// server and into a local folder from the same sandbox: the views over the
// mirrored S3 lake equal the local ones, before and after an incremental
// sync, the mirror copies only what changed, no upload is left unfinished,
// and the S3 secret key appears in no log, output or file.
func TestSyncToS3MatchesLocal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	sb := sandbox.New(sandbox.Options{Seed: 5, TeamPro: sbt.Options{Rate: 1000, Burst: 100000}})
	api := httptest.NewServer(sb)
	t.Cleanup(api.Close)
	dir := t.TempDir()
	logs, out := &testlog.Buffer{}, &testlog.Buffer{}
	env := s3Env(&Env{Stdout: out, Stderr: logs, Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, srv)

	newLocal := func(name string) *Config {
		cfg := SandboxConfig(api.URL, filepath.Join(dir, name))
		cfg.Sources.teampro().Rate, cfg.Sources.teampro().Burst = 1000, 100000
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := Authorize(ctx, env, cfg, "teampro", connector.AuthOptions{Open: FollowRedirects}); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	local := newLocal("local")
	// The S3 job keeps its Team Pro token on S3 too (a pod without a disk).
	remote := SandboxConfig(api.URL, filepath.Join(dir, "s3"))
	remote.Sources.teampro().Rate, remote.Sources.teampro().Burst = 1000, 100000
	remote.Sources.teampro().TokenFile = "s3://" + bucket + "/secrets/teampro-token.json"
	s3Config(remote, srv, bucket, "team/lake")
	if err := remote.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := Authorize(ctx, env, remote, "teampro", connector.AuthOptions{Open: FollowRedirects}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.Store(t, bucket, "secrets").Get(ctx, "teampro-token.json"); err != nil {
		t.Fatalf("token not on S3: %v", err)
	}

	sync := func(cfg *Config) (*Summary, time.Duration) {
		t.Helper()
		start := time.Now()
		sum, err := Run(ctx, env, cfg, RunOptions{Command: "sync"})
		if err != nil {
			t.Fatalf("sync to %s: %v", cfg.Output, err)
		}
		return sum, time.Since(start)
	}
	sumL, tookL := sync(local)
	sumS, tookS := sync(remote)
	if sumS.Rows["teampro_samples"] == 0 || sumS.Rows["plyomat_reps"] == 0 || sumS.Rows["optimo_workouts"] == 0 {
		t.Fatalf("an S3 sync that synced little proves nothing: %v", sumS.Rows)
	}
	// The S3 sync's views database (its tables staged from S3, no httpfs
	// needed) equals the local one.
	assertSameViews(t, dumpViews(t, local.DuckDBPath()), dumpViews(t, remote.DuckDBPath()))
	objs, err := srv.Store(t, bucket, "team/lake").List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("local: %v, %d files; S3: %v, %d files, %d objects", tookL.Round(time.Millisecond), sumL.Files, tookS.Round(time.Millisecond), sumS.Files, len(objs))

	mdir, mdb := filepath.Join(dir, "mirror"), filepath.Join(dir, "mirror.duckdb")
	first := mirrorViews(t, env, remote, mdir, mdb)
	want := dumpViews(t, local.DuckDBPath())
	assertSameViews(t, want, dumpViews(t, mdb))

	// An incremental sync of both after the vendors' data moved on.
	sb.Plyomat.Advance(36 * time.Hour)
	sb.Optimo.Advance(36 * time.Hour)
	sync(local)
	sync(remote)
	second := mirrorViews(t, env, remote, mdir, mdb)
	want2 := dumpViews(t, local.DuckDBPath())
	assertSameViews(t, want2, dumpViews(t, mdb))
	if second.Copied == 0 || second.Unchanged < first.Copied || second.Copied >= first.Copied {
		t.Errorf("second mirror copied %d, kept %d (first copied %d): want only what changed", second.Copied, second.Unchanged, first.Copied)
	}
	if third := mirrorViews(t, env, remote, mdir, mdb); third.Copied != 0 || third.Deleted != 0 {
		t.Errorf("a mirror of an unchanged lake copied %d, deleted %d", third.Copied, third.Deleted)
	}

	// Compaction on S3 (files staged locally, committed by marker), then
	// the deletion of what it replaced: the mirror follows, the views
	// stay those of the local lake compacted alike.
	for range 2 {
		for _, cfg := range []*Config{local, remote} {
			if _, err := Compact(ctx, env, cfg, CompactOptions{Grace: -1}); err != nil {
				t.Fatalf("compacting %s: %v", cfg.Output, err)
			}
		}
	}
	compacted := mirrorViews(t, env, remote, mdir, mdb)
	if compacted.Copied == 0 || compacted.Deleted == 0 {
		t.Errorf("the mirror of a compacted lake copied %d and deleted %d files: it did not follow", compacted.Copied, compacted.Deleted)
	}
	assertSameViews(t, dumpViews(t, local.DuckDBPath()), dumpViews(t, mdb))
	assertSameViews(t, want2, dumpViews(t, mdb))

	if up := srv.Uploads(t, bucket); len(up) != 0 {
		t.Errorf("unfinished multipart uploads: %v", up)
	}
	assertSecretNowhere(t, srv.SecretKey, []string{logs.String(), out.String()}, dir)
}

func assertSameViews(t *testing.T, want, got map[string][][]string) {
	t.Helper()
	if len(want) < 20 {
		t.Fatalf("only %d views", len(want))
	}
	for name, rows := range want {
		if d := rowsDiff(rows, got[name]); d != "" {
			t.Errorf("view %s over the copy differs (-lake +copy, %d vs %d rows):\n%s", name, len(rows), len(got[name]), d)
		}
	}
}

// assertSecretNowhere checks texts and every file under dir.
func assertSecretNowhere(t *testing.T, secret string, texts []string, dir string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(s, secret) {
			t.Errorf("the S3 secret key is in the output or logs")
		}
	}
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("the S3 secret key is in %s", p)
		}
		return nil
	})
	if n == 0 {
		t.Error("no files to check")
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestS3LockedOutputExits75 plays the second of two schedulers started at
// once: a lock held from another pod refuses the run at once, naming the
// holder, and writes nothing.
func TestS3LockedOutputExits75(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, srv, bucket := newS3Harness(t, 3)
	st := srv.Store(t, bucket, "lake")
	other := pipeline.Holder{RunID: "20261201T090000.000Z-abcdef", Command: "sync", Host: "airflow-worker-7", PID: 1}
	if _, err := (&load.Lock{Store: st}).Acquire(ctx, other); err != nil {
		t.Fatal(err)
	}
	_, err := Run(ctx, s3Env(h.env(), srv), h.cfg, RunOptions{Command: "sync"})
	var locked *pipeline.LockedError
	if !errors.As(err, &locked) || !strings.Contains(err.Error(), "airflow-worker-7") {
		t.Fatalf("err = %v, want a LockedError naming the holder", err)
	}
	if code := ExitCode(err); code != ExitStopped {
		t.Errorf("a refused run exits %d, want 75 (err = %v)", code, err)
	}
	objs, _ := st.List(ctx, "")
	if len(objs) != 1 || objs[0].Key != load.LockKey {
		t.Fatalf("a refused run wrote %v", objs)
	}
	// status reads the S3 output and names the holder.
	var out bytes.Buffer
	env := s3Env(h.env(), srv)
	env.Stdout = &out
	if err := Status(ctx, env, h.cfg); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"output: s3://" + bucket + "/lake", "never synced", "files: 0 committed", "lock: output is locked by run 20261201T090000.000Z-abcdef (sync, pid 1 on airflow-worker-7"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
}

// TestS3WithoutConditionalWrites: a server that ignores If-None-Match is
// refused before anything is written, naming the setting.
func TestS3WithoutConditionalWrites(t *testing.T) {
	t.Parallel()
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"same"`)
	}))
	t.Cleanup(fake.Close)
	h := newHarness(t, 3)
	h.cfg.Output = "s3://bucket/lake"
	h.cfg.S3 = S3Config{Region: "us-east-1", Endpoint: fake.URL, ForcePathStyle: true}
	env := h.env()
	env.S3 = func(o *s3store.Options) {
		o.Credentials = (&s3test.Server{AccessKey: "k", SecretKey: "s"}).Credentials()
	}
	_, err := Run(context.Background(), env, h.cfg, RunOptions{Command: "sync"})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "s3.endpoint" || !errors.Is(err, s3store.ErrNoConditionalWrites) && !strings.Contains(err.Error(), "conditional writes") {
		t.Fatalf("err = %v, want a config error on s3.endpoint about conditional writes", err)
	}
}

// TestS3KilledSyncsConverge kills syncs to S3 with SIGKILL at random
// moments (the children find their keys through the SDK's default chain,
// in the environment), then lets one finish: the views over the mirrored
// lake equal the sandbox's truth, no key doubled and no upload left; the
// killed runs' uncommitted files are not mirrored, and cleaning them up
// changes nothing.
func TestS3KilledSyncsConverge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h, srv, bucket := newS3Harness(t, 24)
	killAndFinish(t, h.dir, h.cfg, 24, 6, func(attempt int, finished bool) {
		if finished || attempt%3 == 2 {
			h.sb.Plyomat.Advance(12 * time.Hour)
		}
	}, srv.Env()...)

	env := s3Env(h.env(), srv)
	mdir := filepath.Join(h.dir, "mirror")
	mirrorViews(t, env, h.cfg, mdir, h.cfg.DuckDB)
	want := expected(h.sb.Plyomat.Truth())
	h.assertExact(want)
	for _, q := range []string{
		"SELECT count(*) - count(DISTINCT id) FROM plyomat_sets",
		"SELECT count(*) - count(DISTINCT (set_id, rep_index)) FROM plyomat_reps",
	} {
		if got := h.query(q); got[0][0] != "0" {
			t.Errorf("%s = %s", q, got[0][0])
		}
	}
	if up := srv.Uploads(t, bucket); len(up) != 0 {
		t.Errorf("unfinished uploads: %v", up)
	}

	st := srv.Store(t, bucket, "lake")
	c, err := load.ListCommitted(ctx, st, schemas.All())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range c.Uncommitted {
		if fileExists(filepath.Join(mdir, o.Key)) {
			t.Errorf("uncommitted %s was mirrored", o.Key)
		}
	}
	files, _, err := load.Recover(ctx, st, schemas.All(), time.Now().Add(time.Hour))
	if err != nil || files != len(c.Uncommitted) {
		t.Fatalf("Recover removed %d of %d uncommitted files: %v", files, len(c.Uncommitted), err)
	}
	t.Logf("%d uncommitted files of killed runs cleaned up", files)
	mirrorViews(t, env, h.cfg, mdir, h.cfg.DuckDB)
	h.assertExact(want)
}

// TestS3ConcurrentSyncs starts two syncs of one S3 output at the same
// moment, as two schedulers might. The vendor answers nobody until one of
// them has exited, so whichever takes the lock holds it meanwhile: the other
// must exit 75 at once, naming the holder; then the holder finishes and the
// lake is exact.
func TestS3ConcurrentSyncs(t *testing.T) {
	t.Parallel()
	h, srv, _ := newS3Harness(t, 25)
	gate := make(chan struct{})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-gate
		h.sb.ServeHTTP(w, r)
	}))
	t.Cleanup(api.Close)
	var opened sync.Once
	open := func() { opened.Do(func() { close(gate) }) }
	t.Cleanup(open) // runs before api.Close
	h.cfg.Sources.plyomat().BaseURL = api.URL + sandbox.PlyomatPrefix
	cfgPath := writeChildConfig(t, h.dir, "athlake.yaml", h.cfg)

	var outs [2]testlog.Buffer
	exited := make(chan int, 2)
	for i := range outs {
		c := childCmd(cfgPath, &outs[i], srv.Env()...)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			c.Wait()
			exited <- i<<8 | c.ProcessState.ExitCode()
		}()
	}
	var first int
	select {
	case first = <-exited:
	case <-time.After(2 * time.Minute):
		t.Fatal("both syncs still run after 2 minutes: neither was refused the lock")
	}
	open()
	second := <-exited
	if code, i := first&0xff, first>>8; code != 75 || !strings.Contains(outs[i].String(), "output is locked by run ") {
		t.Errorf("the sync refused first exited %d, want 75 naming the holder:\n%s", code, outs[i].String())
	}
	if code, i := second&0xff, second>>8; code != 0 {
		t.Fatalf("the lock holder exited %d:\n%s", code, outs[i].String())
	}
	mirrorViews(t, s3Env(h.env(), srv), h.cfg, filepath.Join(h.dir, "mirror"), h.cfg.DuckDB)
	h.assertExact(expected(h.sb.Plyomat.Truth()))
}

var benchScale = flag.String("bench.scale", "small", "sandbox scale of BenchmarkSyncOutput: small (the demo's), medium or large")

// BenchmarkSyncOutput is a backfill of the three sources (Team Pro's rate
// limit lifted) into a local folder and into S3 (versitygw on loopback),
// each into a new, empty output. The demo's scale:
//
//	go test ./jobs -run '^$' -bench SyncOutput -benchtime 5x
//
// and larger ones with -args -bench.scale=medium.
func BenchmarkSyncOutput(b *testing.B) {
	ctx := context.Background()
	scale, err := sandbox.ParseScale(*benchScale)
	if err != nil {
		b.Fatal(err)
	}
	srv := s3test.Start(b)
	bucket := srv.NewBucket(b)
	sb := sandbox.New(sandbox.Options{Seed: 1, Scale: scale, TeamPro: sbt.Options{Rate: 1000, Burst: 1 << 30}})
	api := httptest.NewServer(sb)
	b.Cleanup(api.Close)
	dir := b.TempDir()
	env := s3Env(&Env{Stdout: io.Discard, Stderr: io.Discard, Log: slog.New(slog.DiscardHandler)}, srv)
	base := SandboxConfig(api.URL, dir)
	base.Sources.teampro().Rate, base.Sources.teampro().Burst = 1000, 1<<30
	if err := base.Validate(); err != nil {
		b.Fatal(err)
	}
	if err := Authorize(ctx, env, base, "teampro", connector.AuthOptions{Open: FollowRedirects}); err != nil {
		b.Fatal(err)
	}
	for _, kind := range []string{"local", "s3"} {
		b.Run(kind, func(b *testing.B) {
			var objects, large, bytes int64
			for i := range b.N {
				cfg := *base
				cfg.DuckDB = filepath.Join(dir, fmt.Sprintf("%s-%d.duckdb", kind, i))
				cfg.Output = filepath.Join(dir, fmt.Sprintf("%s-%d", kind, i))
				if kind == "s3" {
					s3Config(&cfg, srv, bucket, fmt.Sprintf("lake-%d", i))
				}
				sum, err := Run(ctx, env, &cfg, RunOptions{Command: "sync"})
				if err != nil {
					b.Fatal(err)
				}
				st, _ := openStore(ctx, env, &cfg)
				objs, _ := st.List(ctx, "")
				objects += int64(len(objs))
				for _, o := range objs {
					if o.Size > s3store.DefaultPartSize {
						large++ // written as a multipart upload to S3
					}
				}
				bytes += sum.Bytes
			}
			b.ReportMetric(float64(objects)/float64(b.N), "objects/op")
			b.ReportMetric(float64(large)/float64(b.N), "multipart/op")
			b.ReportMetric(float64(bytes)/float64(b.N)/1e6, "MB/op")
		})
	}
}

// TestS3ConfigErrors: a missing bucket and refused credentials are
// configuration errors naming the output, before anything is written, and
// the secret key is in no message.
func TestS3ConfigErrors(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	for name, c := range map[string]struct {
		bucket, secret, want string
	}{
		"missing bucket": {"no-such-bucket", srv.SecretKey, "the bucket does not exist"},
		"wrong secret":   {bucket, srv.SecretKey + "x", "access denied"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, 3)
			s3Config(h.cfg, srv, c.bucket, "lake")
			env := h.env()
			env.S3 = func(o *s3store.Options) {
				o.Credentials = (&s3test.Server{AccessKey: srv.AccessKey, SecretKey: c.secret}).Credentials()
			}
			_, err := Run(context.Background(), env, h.cfg, RunOptions{Command: "sync"})
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != "output" || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want a config error on output saying %q", err, c.want)
			}
			if strings.Contains(err.Error(), srv.SecretKey) || strings.Contains(h.logs.String(), srv.SecretKey) {
				t.Fatal("the secret key is in the error or the log")
			}
		})
	}
	if objs, _ := srv.Store(t, bucket, "").List(context.Background(), ""); len(objs) != 0 {
		t.Fatalf("refused runs wrote %v", objs)
	}
}
