package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/athlake/athlake/internal/testlog"
	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/sandbox"
	sbp "github.com/athlake/athlake/sandbox/plyomat"
)

// TestMain doubles as a child process: with ATHLAKE_CHILD_CONFIG set, the
// test binary runs one sync (with ATHLAKE_CHILD_COMPACT, one compaction)
// and exits (crash tests); with
// ATHLAKE_CHILD_TOKEN, it fetches a Team Pro access token (refresh races).
func TestMain(m *testing.M) {
	if p := os.Getenv("ATHLAKE_CHILD_CONFIG"); p != "" {
		os.Exit(childSync(p))
	}
	if p := os.Getenv("ATHLAKE_CHILD_TOKEN"); p != "" {
		os.Exit(childToken(p))
	}
	os.Exit(m.Run())
}

func childSync(path string) int {
	cfg, err := LoadConfig(path, os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return ExitCode(err)
	}
	commit, _ := strconv.ParseInt(os.Getenv("ATHLAKE_CHILD_COMMIT_BYTES"), 10, 64)
	env := &Env{Stdout: os.Stdout, Stderr: os.Stderr, Log: slog.New(slog.NewJSONHandler(os.Stderr, nil))}
	if n, err := strconv.Atoi(os.Getenv("ATHLAKE_CHILD_DIE_AFTER_WRITES")); err == nil {
		env.WrapStore = func(st store.Store) store.Store { return &cutStore{Store: st, limit: n, kill: true} }
	}
	if n, err := strconv.Atoi(os.Getenv("ATHLAKE_CHILD_DIE_AFTER_MARKERS")); err == nil {
		env.WrapStore = func(st store.Store) store.Store {
			return &cutStore{Store: st, limit: n, only: markerPrefix, kill: true}
		}
	}
	if n, err := strconv.Atoi(os.Getenv("ATHLAKE_CHILD_DIE_IN_PUBLISH")); err == nil {
		env.Log = slog.New(newKillHandler(env.Log.Handler(), "published to iceberg", n, 0))
	}
	if d, err := time.ParseDuration(os.Getenv("ATHLAKE_CHILD_DIE_IN_PUBLISH_AFTER")); err == nil {
		env.Log = slog.New(newKillHandler(env.Log.Handler(), "publishing to iceberg", 1, d))
	}
	// As cmd/athlake does: SIGTERM cancels the run, which commits what is
	// complete and saves the state.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	run := func() error {
		_, err := Run(ctx, env, cfg, RunOptions{Command: "sync", CommitBytes: commit})
		return err
	}
	if os.Getenv("ATHLAKE_CHILD_REBUILD") != "" {
		run = func() error {
			_, err := Rebuild(ctx, env, cfg, RebuildOptions{})
			return err
		}
	}
	if os.Getenv("ATHLAKE_CHILD_COMPACT") != "" {
		run = func() error {
			_, err := Compact(ctx, env, cfg, CompactOptions{Grace: -1})
			return err
		}
	}
	// The exit code comes from the mapping cmd/athlake exits with.
	err = run()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return ExitCode(err)
}

// killHandler kills the process with SIGKILL when the n-th record with
// message msg is logged (at any level), or after that much longer: a
// crash at a point of a run that writes outside the store (the Iceberg
// catalog, its metadata). Loggers derived with With share the count.
type killHandler struct {
	slog.Handler
	k *killer
}

type killer struct {
	msg   string
	n     int
	after time.Duration

	mu   sync.Mutex
	seen int
}

func newKillHandler(h slog.Handler, msg string, n int, after time.Duration) *killHandler {
	return &killHandler{Handler: h, k: &killer{msg: msg, n: n, after: after}}
}

func (h *killHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *killHandler) Handle(ctx context.Context, r slog.Record) error {
	if k := h.k; r.Message == k.msg {
		k.mu.Lock()
		if k.seen++; k.seen == k.n {
			time.AfterFunc(k.after, func() { syscall.Kill(os.Getpid(), syscall.SIGKILL) })
		}
		k.mu.Unlock()
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h *killHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &killHandler{Handler: h.Handler.WithAttrs(attrs), k: h.k}
}

func (h *killHandler) WithGroup(name string) slog.Handler {
	return &killHandler{Handler: h.Handler.WithGroup(name), k: h.k}
}

// markerPrefix starts the keys of commit markers.
const markerPrefix = "_commits/"

// errStopped is a write refused by a cutStore that stopped the run.
var errStopped = errors.New("injected: the process died")

// cutStore cuts a run short at an exact point: once limit writes (object,
// Put or Delete) of keys starting with only are done, the process kills
// itself with SIGKILL (kill), or every later write fails, as if it had
// died (in process: cheaper than a child). The run lock is let through,
// as if the dead holder's lease had been taken over. n counts the writes
// (limit 0: it only counts).
type cutStore struct {
	store.Store
	only  string
	limit int
	kill  bool

	mu         sync.Mutex
	started, n int
}

// check says whether a write of key may begin (begin: it counts; a
// writer's Commit begins it): none of only's past the limit (runs write
// concurrently), nothing once the limit's are done.
func (c *cutStore) check(key string, begin bool) error {
	if c.kill || c.limit == 0 || key == load.LockKey {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	counts := strings.HasPrefix(key, c.only)
	if counts && c.started >= c.limit || c.n >= c.limit {
		return errStopped
	}
	if begin && counts {
		c.started++
	}
	return nil
}

// wrote counts a write done.
func (c *cutStore) wrote(key string, err error) {
	if err != nil || !strings.HasPrefix(key, c.only) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n++; c.kill && c.n == c.limit {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // never returns
	}
}

func (c *cutStore) Put(ctx context.Context, key string, data []byte) error {
	if err := c.check(key, true); err != nil {
		return err
	}
	err := c.Store.Put(ctx, key, data)
	c.wrote(key, err)
	return err
}

func (c *cutStore) PutIf(ctx context.Context, key string, data []byte, ifVersion string) (string, error) {
	if err := c.check(key, true); err != nil {
		return "", err
	}
	v, err := c.Store.PutIf(ctx, key, data, ifVersion)
	c.wrote(key, err)
	return v, err
}

func (c *cutStore) Delete(ctx context.Context, key string) error {
	if err := c.check(key, true); err != nil {
		return err
	}
	err := c.Store.Delete(ctx, key)
	c.wrote(key, err)
	return err
}

func (c *cutStore) Create(ctx context.Context, key string) (store.Writer, error) {
	if err := c.check(key, false); err != nil {
		return nil, err
	}
	w, err := c.Store.Create(ctx, key)
	if err != nil {
		return nil, err
	}
	return &cutWriter{Writer: w, c: c, key: key}, nil
}

type cutWriter struct {
	store.Writer
	c   *cutStore
	key string
}

func (w *cutWriter) Commit() error {
	if err := w.c.check(w.key, true); err != nil {
		return err
	}
	err := w.Writer.Commit()
	w.c.wrote(w.key, err)
	return err
}

// TestSIGTERMStopsCleanly: a terminated sync commits what is complete,
// saves its state and exits 75; the next run finishes exactly.
func TestSIGTERMStopsCleanly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 22)
	// Slow the vendor down so the signal lands mid-run.
	h.sb.Plyomat.SetFaults(sbp.Faults{HTTP: sandbox.HTTPFaults{Storm429: 2, RetryAfter: 3}})
	cfgPath := writeChildConfig(t, h.dir, "athlake.yaml", h.cfg)
	killed, out := runChild(t, cfgPath, 2500*time.Millisecond, syscall.SIGTERM)
	if !killed {
		t.Fatalf("the sync ended before SIGTERM:\n%s", out)
	}
	if !strings.HasSuffix(out, "\nexit 75") {
		t.Errorf("terminated sync did not exit 75:\n%s", out)
	}
	// The streams that finished saved their state; the two held up by the
	// 429s were cut short and saved none.
	st := h.readState()
	if len(st) == 0 || len(st) > 5 {
		t.Errorf("state of %d streams saved by the terminated run, want some but not all 7:\n%s", len(st), out)
	}
	runChild(t, cfgPath, 0, nil)
	h.assertExact(expected(h.sb.Plyomat.Truth()))
}

// killAndFinish times one whole sync (into a scratch lake), then runs
// syncs of cfg in child processes, each killed with SIGKILL at a random
// moment from start-up to the middle of a whole run, until kills runs were
// killed (at most three times as many runs), calling between after each;
// then one last run to completion.
//
// A run that finishes before its kill counts as a run, not a kill, and its
// own duration becomes the whole run the next kill is drawn from: later
// runs have less to do than the first, and a machine under load runs them
// at another pace than the calibration. between is told (finished), so it
// can give the next run new data to work on.
func killAndFinish(t *testing.T, dir string, cfg *Config, seed uint64, kills int, between func(run int, finished bool), env ...string) {
	t.Helper()
	calib := *cfg
	calib.Output, calib.DuckDB = filepath.Join(dir, "calib"), filepath.Join(dir, "calib.duckdb")
	start := time.Now()
	runChild(t, writeChildConfig(t, dir, "calib.yaml", &calib), 0, nil, env...)
	whole := time.Since(start)
	cfgPath := writeChildConfig(t, dir, "athlake.yaml", cfg)
	rng := rand.New(rand.NewPCG(seed, seed))
	killed, runs := 0, 0
	for ; killed < kills && runs < 3*kills; runs++ {
		start := time.Now()
		k, _ := runChild(t, cfgPath, whole/50+time.Duration(rng.Int64N(int64(whole)/2)), os.Kill, env...)
		if k {
			killed++
		} else {
			whole = time.Since(start)
		}
		between(runs, !k)
	}
	runChild(t, cfgPath, 0, nil, env...)
	t.Logf("%d of %d runs killed (a whole run takes %v)", killed, runs, whole)
	if killed < kills {
		t.Errorf("only %d runs were killed: the test did not test crashes", killed)
	}
}

func writeChildConfig(t *testing.T, dir, name string, cfg *Config) string {
	t.Helper()
	p := filepath.Join(dir, name)
	yaml := fmt.Sprintf("output: %s\nduckdb: %s\n", cfg.Output, cfg.DuckDB)
	if cfg.IsS3() {
		yaml += fmt.Sprintf("s3:\n  region: %s\n  endpoint: %s\n  force_path_style: %t\n", cfg.S3.Region, cfg.S3.Endpoint, cfg.S3.ForcePathStyle)
	}
	if ic := cfg.Iceberg; ic != nil {
		yaml += fmt.Sprintf("iceberg:\n  catalog: %q\n  uri: %q\n  namespace: %q\n", ic.Catalog, ic.URI, ic.Namespace)
	}
	yaml += "sources:\n"
	if c := cfg.Sources.plyomat(); c != nil {
		yaml += fmt.Sprintf("  plyomat:\n    base_url: %s\n    api_key: ${SANDBOX_KEY}\n", c.BaseURL)
	}
	if c := cfg.Sources.optimo(); c != nil {
		yaml += fmt.Sprintf("  optimo:\n    base_url: %s\n    token: ${SANDBOX_OP_TOKEN}\n    timezone: %s\n    daily_request_budget: %d\n",
			c.BaseURL, c.Timezone, c.DailyRequestBudget)
	}
	if c := cfg.Sources.teampro(); c != nil {
		yaml += fmt.Sprintf("  teampro:\n    base_url: %s\n    auth_url: %s\n    token_url: %s\n    client_id: %s\n    client_secret: ${SANDBOX_TP_SECRET}\n    token_file: %s\n    rate: %g\n    burst: %d\n    lookback: %s\n",
			c.BaseURL, c.AuthURL, c.TokenURL, c.ClientID, c.TokenFile, c.Rate, c.Burst, time.Duration(c.Lookback))
	}
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// childCmd is a sync in a child process (see TestMain), with env added to
// its environment.
func childCmd(cfgPath string, out *testlog.Buffer, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ATHLAKE_CHILD_CONFIG="+cfgPath, "SANDBOX_KEY="+sandbox.PlyomatKey,
		"SANDBOX_TP_SECRET="+sandbox.TeamProClientSecret, "SANDBOX_OP_TOKEN="+sandbox.OptimoAdminToken, "ATHLAKE_CHILD_COMMIT_BYTES=1")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = out, out
	return cmd
}

// runChild runs one sync in a child process and sends it sig after
// killAfter (0: let it finish, which must succeed). It reports whether the
// signal was sent, and the child's output with its exit status.
func runChild(t *testing.T, cfgPath string, killAfter time.Duration, sig os.Signal, env ...string) (bool, string) {
	t.Helper()
	var buf testlog.Buffer
	cmd := childCmd(cfgPath, &buf, env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var timer <-chan time.Time
	if killAfter > 0 {
		timer = time.After(killAfter)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sync failed: %v\n%s", err, buf.String())
		}
		return false, buf.String()
	case <-timer:
		cmd.Process.Signal(sig)
		<-done
		return true, fmt.Sprintf("%s\nexit %d", buf.String(), cmd.ProcessState.ExitCode())
	}
}
