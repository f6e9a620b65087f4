package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestMain doubles as the child process of the crash test: with
// ATHLAKE_CHILD_CONFIG set, the test binary runs one sync and exits.
func TestMain(m *testing.M) {
	if p := os.Getenv("ATHLAKE_CHILD_CONFIG"); p != "" {
		os.Exit(childSync(p))
	}
	os.Exit(m.Run())
}

func childSync(path string) int {
	cfg, err := LoadConfig(path, os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	commit, _ := strconv.ParseInt(os.Getenv("ATHLAKE_CHILD_COMMIT_BYTES"), 10, 64)
	env := &Env{Stdout: os.Stdout, Stderr: os.Stderr, Log: slog.New(slog.NewJSONHandler(os.Stderr, nil))}
	if _, err := Run(context.Background(), env, cfg, RunOptions{Command: "sync", CommitBytes: commit}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestKilledSyncsConverge kills syncs with SIGKILL at random moments, then
// lets one finish: the views must equal the sandbox's truth exactly, with no
// key doubled. The vendor's data moves on between attempts, as it would.
func TestKilledSyncsConverge(t *testing.T) {
	t.Parallel()
	h := newHarness(t, 21)
	cfgPath := filepath.Join(h.dir, "athlake.yaml")
	yaml := fmt.Sprintf("output: %s\nduckdb: %s\nsources:\n  plyomat:\n    base_url: %s\n    api_key: ${SANDBOX_KEY}\n",
		h.cfg.Output, h.cfg.DuckDB, h.cfg.Sources.Plyomat.BaseURL)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(21, 21))
	child := func(killAfter time.Duration) (killed bool, out string) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "ATHLAKE_CHILD_CONFIG="+cfgPath, "SANDBOX_KEY="+string(h.cfg.Sources.Plyomat.APIKey.Reveal()), "ATHLAKE_CHILD_COMMIT_BYTES=1")
		var buf syncBuffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if killAfter == 0 {
			if err := <-done; err != nil {
				t.Fatalf("final sync failed: %v\n%s", err, buf.String())
			}
			return false, buf.String()
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("sync failed before it could be killed: %v\n%s", err, buf.String())
			}
			return false, buf.String()
		case <-time.After(killAfter):
			cmd.Process.Kill()
			<-done
			return true, buf.String()
		}
	}
	kills := 0
	for attempt := range 8 {
		// Startup (test binary, DuckDB) takes a while; kill anywhere in it
		// and in the run itself.
		killed, _ := child(time.Duration(50+rng.IntN(1500)) * time.Millisecond)
		if killed {
			kills++
		}
		if attempt%3 == 2 {
			h.sb.Plyomat.Advance(12 * time.Hour)
		}
	}
	child(0)
	t.Logf("%d of 8 runs killed", kills)
	if kills < 4 {
		t.Errorf("only %d runs were killed: the test did not test crashes", kills)
	}
	h.assertExact(expected(h.sb.Plyomat.Truth()))
	// No leftovers a reader could see: temporary files are hidden, and no
	// table holds a key twice.
	for _, q := range []string{
		"SELECT count(*) - count(DISTINCT id) FROM plyomat_sets",
		"SELECT count(*) - count(DISTINCT (set_id, rep_index)) FROM plyomat_reps",
		"SELECT count(*) - count(DISTINCT id) FROM plyomat_sessions",
	} {
		if got := h.query(q); got[0][0] != "0" {
			t.Errorf("%s = %s", q, got[0][0])
		}
	}
}
