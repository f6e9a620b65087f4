package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/athlake/athlake/jobs"
	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store/storetest"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/sandbox"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr, func(k string) string { return env[k] })
	code := exitCode(err, &stderr)
	return code, stdout.String(), stderr.String()
}

// plyomatConfig writes the config dir/name, whose lake is dir/lake and
// whose only source is the sandbox's Plyomat at base (the key from
// $SANDBOX_KEY) with more lines in its section; it returns the paths of
// the config and the lake.
func plyomatConfig(t *testing.T, dir, name, base, more string) (config, lake string) {
	t.Helper()
	config, lake = filepath.Join(dir, name), filepath.Join(dir, "lake")
	body := fmt.Sprintf("output: %s\nsources:\n  plyomat:\n    base_url: %s%s\n    api_key: ${SANDBOX_KEY}\n%s", lake, base, sandbox.PlyomatPrefix, more)
	if err := os.WriteFile(config, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return config, lake
}

func TestUsageAndConfigErrorsExit2NamingTheKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"sync", "--nope"}, "flag provided but not defined: -nope"},
		{[]string{"sync", "--config", filepath.Join(dir, "missing.yaml")}, "--config"},
		{[]string{"sync", "--config", write("typo.yaml", "outptu: ./x\n")}, `unknown key outptu`},
		{[]string{"sync", "--config", write("nokey.yaml", "sources:\n  plyomat:\n    base_url: http://127.0.0.1:1/v1\n    api_key: ${NOT_SET_ANYWHERE}\n")}, "sources.plyomat.api_key: environment variable NOT_SET_ANYWHERE is not set"},
		{[]string{"sync", "--config", write("badurl.yaml", "sources:\n  plyomat:\n    base_url: ftp://x\n    api_key: k\n")}, "sources.plyomat.base_url"},
		{[]string{"sync", "--config", write("lookback.yaml", "sources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n    lookback: soon\n")}, "not a duration"},
		{[]string{"sync", "--config", write("page.yaml", "sources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n    page_size: 900\n")}, "sources.plyomat.page_size"},
		{[]string{"sync", "--config", write("none.yaml", "output: ./x\n")}, "sources: no source is configured"},
		{[]string{"sync", "--config", write("views.yaml", "views: parquet\nsources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n")}, `views: "parquet": want tables or files`},
		{[]string{"backfill", "--config", write("ok.yaml", "sources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n"), "--since", "last week"}, "--since"},
		{[]string{"sync", "--config", write("ok2.yaml", "sources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n"), "--source", "strava"}, "--source strava: not configured"},
		{[]string{"schemas", "--format", "xml"}, "--format xml"},
		{[]string{"sandbox", "--scale", "huge"}, "--scale"},
		{[]string{"sync", "--log-level", "loud"}, "--log-level"},
		{[]string{"sync", "--config", write("s3bucket.yaml", "output: s3:///lake\nsources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n")}, "output: \"s3:///lake\": the bucket is missing"},
		{[]string{"sync", "--config", write("s3prefix.yaml", "output: s3://b/../x\nsources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n")}, "output: "},
		{[]string{"sync", "--config", write("s3endpoint.yaml", "output: s3://b/lake\ns3:\n  endpoint: 127.0.0.1:9000\nsources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n")}, "s3.endpoint"},
		{[]string{"sync", "--config", write("s3db.yaml", "output: s3://b/lake\nduckdb: s3://b/x.duckdb\nsources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n")}, "duckdb: the views database is a local file"},
		{[]string{"sync", "--config", write("s3token.yaml", "sources:\n  teampro:\n    client_id: c\n    client_secret: s\n    token_file: s3://bucket-only\n")}, "sources.teampro.token_file"},
		{[]string{"sync", "--config", write("s3key.yaml", "output: s3://b/lake\ns3:\n  access_key: AKIA\nsources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n")}, "unknown key access_key"},
		{[]string{"compact", "--config", write("c.yaml", "sources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n"), "--table", "sets"}, "--table sets: no such table"},
		{[]string{"backfill", "--config", write("two.yaml", "sources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n  optimo:\n    base_url: http://x/xml-in\n    token: t\n"), "--athlete", "a1"}, "--athlete: an id belongs to one vendor; name it with --source"},
		{[]string{"sync", "--config", write("src.yaml", "sources:\n  strava:\n    api_key: k\n")}, "sources.strava: line 2: unknown source (known: plyomat, optimo, teampro)"},
		{[]string{"sync", "--config", write("srckey.yaml", "sources:\n  plyomat:\n    base_url: http://x/v1\n    apikey: k\n")}, "sources.plyomat.apikey: line 4: unknown key apikey"},
		{[]string{"sync", "--config", write("srctype.yaml", "sources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n    page_size: lots\n")}, "sources.plyomat: line 5: cannot unmarshal"},
		{[]string{"sync", "--config", write("lb.yaml", "sources:\n  optimo:\n    base_url: http://x/xml-in\n    token: t\n    lookback: 1h\n    overlap: 2h\n")}, "sources.optimo.overlap: the older name of lookback"},
		{[]string{"auth", "strava", "--config", write("a.yaml", "sources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n")}, "auth strava: no such source to authorize (those that need it: teampro)"},
		{[]string{"auth", "teampro", "--config", write("a2.yaml", "sources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n")}, "sources.teampro: not configured"},
		{[]string{"mirror", "--config", write("m.yaml", "sources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n")}, "--to: required"},
		{[]string{"webhooks"}, "usage: athlake webhooks serve"},
		{[]string{"iceberg"}, "usage: athlake iceberg register"},
		{[]string{"iceberg", "register", "--config", write("ice.yaml", "sources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n")}, "iceberg: no iceberg section"},
		{[]string{"iceberg", "register", "--config", write("ice2.yaml", "iceberg:\n  catalog: hive\nsources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n")}, "iceberg.catalog: \"hive\": want sql, rest or glue"},
		{[]string{"webhooks", "serve", "--config", write("wh.yaml", "sources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n")}, "sources.plyomat.webhook_secret: required"},
		{[]string{"webhooks", "serve", "--config", write("wh2.yaml", "sources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n    webhook_secret: ${NOT_SET_WEBHOOK}\n")}, "sources.plyomat.webhook_secret: environment variable NOT_SET_WEBHOOK is not set"},
		{[]string{"webhooks", "serve", "--config", write("wh3.yaml", "sources:\n  optimo:\n    base_url: http://x/xml-in\n    token: t\n")}, "sources.plyomat: not configured"},
		{[]string{"webhooks", "serve", "--addr", "nonsense", "--config", write("wh4.yaml", "sources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n    webhook_secret: whsec_x\n")}, "--addr nonsense"},
		{[]string{"views", "--config", write("v.yaml", "output: s3://b/lake\nsources:\n  plyomat:\n    base_url: http://x/v1\n    api_key: k\n"), "--lake", "s3://b/other"}, "--lake: want a local folder"},
	}
	for _, c := range cases {
		code, _, stderr := runCLI(t, nil, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("athlake %s: exit %d, stderr %q; want exit 2 mentioning %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
		if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
			t.Errorf("athlake %s: stack trace for a user error:\n%s", strings.Join(c.args, " "), stderr)
		}
	}
}

func TestSchemasCommand(t *testing.T) {
	t.Parallel()
	code, out, _ := runCLI(t, nil, "schemas", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var tables []struct {
		View    string   `json:"view"`
		Key     []string `json:"primary_key"`
		Columns []struct{ Name, Type string }
	}
	if err := json.Unmarshal([]byte(out), &tables); err != nil {
		t.Fatal(err)
	}
	views := map[string]int{}
	for _, tb := range tables {
		views[tb.View] = len(tb.Columns)
	}
	for _, v := range []string{"plyomat_athletes", "plyomat_sets", "plyomat_reps", "plyomat_org_members", "athlake_daily_jumps", "athlake_teampro_session_load", "athlake_daily_load"} {
		if views[v] < 4 {
			t.Errorf("schemas lacks %s (or its columns): %v", v, views)
		}
	}
	code, md, _ := runCLI(t, nil, "schemas")
	if code != 0 || !strings.Contains(md, "## plyomat_reps") || !strings.Contains(md, "| jump_height_cm | DOUBLE |") ||
		!strings.Contains(md, "## athlake_daily_load") || !strings.Contains(md, "| edwards_trimp | DOUBLE | AU |") {
		t.Errorf("markdown schemas: exit %d\n%s", code, md)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	code, out, _ := runCLI(t, nil, "--help")
	if code != 0 || !strings.Contains(out, "athlake sync") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
	if code, _, _ := runCLI(t, nil); code != 2 {
		t.Errorf("no command: exit %d, want 2", code)
	}
}

// TestExitCodesComeFromJobs: the process exits with exitCode's code, and
// exitCode takes it from jobs.ExitCode, the mapping the jobs tests' child
// processes exit with too.
func TestExitCodesComeFromJobs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errHelp, 0},
		{&jobs.UsageError{Msg: "--since"}, 2},
		{fmt.Errorf("load: %w", &jobs.ConfigError{Key: "output", Msg: "bad"}), 2},
		{&pipeline.LockedError{Holder: pipeline.Holder{RunID: "r"}}, 75},
		{pipeline.StopEarly("optimo: daily request budget spent"), 75},
		{fmt.Errorf("sets: %w", context.Canceled), 75},
		{fmt.Errorf("lease: %w", pipeline.ErrLockLost), 75},
		{errors.Join(pipeline.StopEarly("quota"), errors.New("teampro: 500")), 1},
		{errors.New("plyomat: 503"), 1},
	}
	for _, c := range cases {
		got := exitCode(c.err, io.Discard)
		if got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
		if c.err != errHelp && got != jobs.ExitCode(c.err) {
			t.Errorf("exitCode(%v) = %d, jobs.ExitCode says %d", c.err, got, jobs.ExitCode(c.err))
		}
	}
}

// TestLockedOutputExits75 runs sync on an output whose lock another run
// holds: the command exits 75 naming the holder.
func TestLockedOutputExits75(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lake := filepath.Join(dir, "lake")
	st := storetest.NewLocal(t, lake)
	holder := pipeline.Holder{RunID: "20261201T090000.000Z-abcdef", Command: "sync", Host: "airflow-worker-7", PID: 1}
	if _, err := (&load.Lock{Store: st}).Acquire(context.Background(), holder); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "athlake.yaml")
	body := "output: " + lake + "\nsources:\n  plyomat:\n    base_url: http://127.0.0.1:1/v1\n    api_key: k\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, nil, "sync", "--config", cfg)
	if code != 75 || !strings.Contains(stderr, "airflow-worker-7") {
		t.Errorf("sync of a locked output: exit %d, stderr %q; want 75 naming the holder", code, stderr)
	}
}
