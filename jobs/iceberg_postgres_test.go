package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/athlake/athlake/internal/testlog"
	"github.com/athlake/athlake/load/iceberg/pgtest"
)

// pgIceberg is an iceberg section publishing to database db of srv in
// namespace ns, its password given as ${ATHLAKE_PGPASS} and expanded
// from getenv, as a config file has it.
func pgIceberg(t *testing.T, srv *pgtest.Server, db, ns, password string) *IcebergConfig {
	t.Helper()
	y := fmt.Sprintf("iceberg:\n  catalog: sql\n  uri: postgres://%s:${ATHLAKE_PGPASS}@%s:%d/%s?sslmode=disable\n  namespace: %s\n", srv.User, srv.Host, srv.Port, db, ns)
	cfg, err := ParseConfig([]byte(y), func(k string) string {
		if k == "ATHLAKE_PGPASS" {
			return password
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Iceberg
}

// TestIcebergPostgres publishes a lake of all three vendors to the SQL
// catalog on a real PostgreSQL server: each table's Iceberg scan (and
// DuckDB over the planned files) equals its view after a sync whose
// publish was refused (a wrong password: exit 2, naming iceberg.uri, in
// a child process as the command runs), the sync that catches up, a day
// of edits (position deletes) and a compaction. A second lake publishing
// to the same database in another namespace sees only its own tables.
// The password is in none of the logs, stdout, the run summaries and the
// files of either lake.
func TestIcebergPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := pgtest.Start(t)
	db := srv.NewDatabase(t)
	wrongPass := "wrong-" + srv.Password
	s := newSeason(t, 21)
	var out testlog.Buffer
	s.env.Stdout, s.env.Stderr = &out, &out
	s.env.Log = slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.cfg.Iceberg = pgIceberg(t, srv, db, "lake_a", srv.Password)
	if err := s.cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	// A sync whose catalog refuses the password, as the command runs it
	// (the password from the environment through the config's ${VAR}):
	// its data is committed, its publish fails with exit 2.
	uri := s.cfg.Iceberg.URI
	s.cfg.Iceberg.URI = strings.Replace(uri, srv.Password, "${ATHLAKE_PGPASS}", 1)
	cfgPath := writeChildConfig(t, t.TempDir(), "athlake.yaml", s.cfg)
	s.cfg.Iceberg.URI = uri
	var child testlog.Buffer
	cmd := childCmd(cfgPath, &child, "ATHLAKE_PGPASS="+wrongPass)
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != ExitUsage || !strings.Contains(child.String(), "config: iceberg.uri: postgres://athlake@") || !strings.Contains(child.String(), "authentication failed") {
		t.Fatalf("a sync with a wrong catalog password: %v, want exit 2 naming iceberg.uri and saying authentication failed:\n%s", err, child.String())
	}
	t.Logf("the refused publish: %s", lastLine(child.String()))
	out.Write([]byte(child.String()))

	// The next sync publishes what the refused one committed, and its
	// own; then a day of edits and a compaction.
	reports := s.publishDays(true, nil)
	if first := reports[0].(*Summary); first.Iceberg.Changed < 15 {
		t.Errorf("the sync after a refused publish published %+v", first.Iceberg)
	}
	p, err := IcebergRegister(ctx, s.env, s.cfg)
	if err != nil || p.Changed != 0 {
		t.Errorf("publishing the compacted lake again: %+v, %v", p, err)
	}
	if want := fmt.Sprintf("published to postgres://athlake@%s:%d/%s?sslmode=disable (namespace lake_a)", srv.Host, srv.Port, db); !strings.Contains(out.String(), want) {
		t.Errorf("register's report does not say %q:\n%s", want, lastLine(out.String()))
	}

	// A second lake, the same database, another namespace.
	s2 := newSeason(t, 22)
	s2.env.Stdout, s2.env.Stderr = &out, &out
	s2.env.Log = s.env.Log
	s2.cfg.Iceberg = pgIceberg(t, srv, db, "lake_b", srv.Password)
	if err := s2.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, s2.env, s2.cfg, RunOptions{Command: "sync"}); err != nil {
		t.Fatal(err)
	}
	// In the catalog: each namespace's tables, each under its own lake.
	perNamespace := map[string]int{}
	for _, r := range catalogRows(t, srv.URL(db)) {
		lake := map[string]*season{"lake_a": s, "lake_b": s2}[r.namespace]
		if lake == nil {
			t.Errorf("a table in namespace %s: %+v", r.namespace, r)
			continue
		}
		perNamespace[r.namespace]++
		root, _ := filepath.Abs(lake.cfg.Output)
		if want := filepath.ToSlash(root) + "/" + IcebergDir + "/" + r.namespace + "/"; !strings.HasPrefix(r.metadata, want) {
			t.Errorf("%s.%s: metadata %s, want under %s", r.namespace, r.table, r.metadata, want)
		}
	}
	n := len(tables().Tables())
	if perNamespace["lake_a"] != n || perNamespace["lake_b"] != n {
		t.Fatalf("tables per namespace: %v, want %d in each", perNamespace, n)
	}
	s2.assertIceberg("the second lake")
	s.assertIceberg("the first lake, after the second published")

	// No password anywhere: logs, stdout, the child's output (in out),
	// and every file of both lakes and their views (run summaries,
	// Iceberg metadata, state).
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, srv.Password) || strings.Contains(line, wrongPass) {
			t.Errorf("the output holds a password: %s", line)
		}
	}
	files := (secretSearch{secrets: []string{srv.Password, wrongPass}, dirs: []string{filepath.Dir(s.cfg.Output), filepath.Dir(s2.cfg.Output)}}).assert(t)
	summaries, _ := filepath.Glob(filepath.Join(s.cfg.Output, "_runs", "*.json"))
	if files < 100 || len(summaries) < 3 || !strings.Contains(out.String(), "published to iceberg") {
		t.Errorf("%d files, %d run summaries, %d bytes of output: the search for the password searched too little", files, len(summaries), len(out.String()))
	}
	t.Logf("no password in %d bytes of output nor in %d files (%d run summaries of the first lake)", len(out.String()), files, len(summaries))
}

// TestIcebergPostgresKilledSyncs: syncs publishing to a catalog on a
// real PostgreSQL server killed with SIGKILL after some tables' catalog
// commits and at a random moment of them (a connection dropped inside a
// transaction, which the server rolls back), then one that finishes:
// every table's Iceberg scan equals its view.
func TestIcebergPostgresKilledSyncs(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t)
	s := newSeason(t, 23)
	s.cfg.Iceberg = pgIceberg(t, srv, srv.NewDatabase(t), "athlake", srv.Password)
	if err := s.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	uri := s.cfg.Iceberg.URI
	s.cfg.Iceberg.URI = strings.Replace(uri, srv.Password, "${ATHLAKE_PGPASS}", 1)
	cfgPath := writeChildConfig(t, t.TempDir(), "athlake.yaml", s.cfg)
	s.cfg.Iceberg.URI = uri
	env := "ATHLAKE_PGPASS=" + srv.Password
	if !killedSync(t, cfgPath, "ATHLAKE_CHILD_DIE_IN_PUBLISH=4", env) {
		t.Fatal("the first sync did not die in its publish")
	}
	if n := s.publishedTables(); n != 4 {
		t.Errorf("after a publish killed at its 4th table: %d tables with a snapshot", n)
	}
	runChild(t, cfgPath, 0, nil, env)
	s.assertIceberg("after a killed first publish")
	p := s.lastPublish()
	rng := rand.New(rand.NewPCG(23, 23))
	s.sb.Plyomat.Advance(24 * time.Hour)
	s.sb.TeamPro.Advance(24 * time.Hour)
	s.sb.Optimo.Advance(24 * time.Hour)
	point := fmt.Sprintf("ATHLAKE_CHILD_DIE_IN_PUBLISH_AFTER=%dms", int(1000*(p.HiddenSeconds+rng.Float64()*(p.Seconds-p.HiddenSeconds)/2)))
	if !killedSync(t, cfgPath, point, env) {
		// It finished first: another day, killed after two tables.
		s.sb.Plyomat.Advance(24 * time.Hour)
		s.sb.TeamPro.Advance(24 * time.Hour)
		s.sb.Optimo.Advance(24 * time.Hour)
		if !killedSync(t, cfgPath, "ATHLAKE_CHILD_DIE_IN_PUBLISH=2", env) {
			t.Fatal("no sync of a day died in its catalog commits: the test did not test crashes")
		}
	}
	runChild(t, cfgPath, 0, nil, env)
	s.assertIceberg("after a killed day")
}

// catalogRow is a table in the SQL catalog's iceberg_tables.
type catalogRow struct{ namespace, table, metadata string }

func catalogRows(t *testing.T, url string) []catalogRow {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, "SELECT table_namespace, table_name, metadata_location FROM iceberg_tables WHERE catalog_name = 'athlake'")
	if err != nil {
		t.Fatal(err)
	}
	var out []catalogRow
	for rows.Next() {
		var r catalogRow
		if err := rows.Scan(&r.namespace, &r.table, &r.metadata); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestIcebergPostgresConfig: a Postgres catalog that cannot be reached
// or logged into is a configuration error naming iceberg.uri (exit 2) —
// a wrong password saying authentication failed — and neither the error
// nor anything printed holds the password.
func TestIcebergPostgresConfig(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t)
	db := srv.NewDatabase(t)
	closed := pgtest.FreePort(t)
	for _, c := range []struct {
		name     string
		ic       *IcebergConfig
		password string
		want     string
	}{
		{"wrong port", pgIceberg(t, &pgtest.Server{User: srv.User, Host: srv.Host, Port: closed}, db, "athlake", srv.Password), srv.Password, "connection refused"},
		// Another loopback address, where nothing listens (no name
		// lookup: the test sends nothing off the machine).
		{"wrong host", pgIceberg(t, &pgtest.Server{User: srv.User, Host: "127.0.0.2", Port: srv.Port}, db, "athlake", srv.Password), srv.Password, "127.0.0.2:" + fmt.Sprint(srv.Port) + ": connect: connection refused"},
		{"wrong password", pgIceberg(t, srv, db, "athlake", "wrong-"+srv.Password), "wrong-" + srv.Password, "authentication failed"},
		{"wrong database", pgIceberg(t, srv, "nodb", "athlake", srv.Password), srv.Password, `database "nodb" does not exist`},
	} {
		dir := t.TempDir()
		cfg := &Config{Output: "lake", Dir: dir, Iceberg: c.ic, Sources: Sources{}}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var out testlog.Buffer
		env := &Env{Stdout: &out, Stderr: &out, Log: slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))}
		_, err := IcebergRegister(context.Background(), env, cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != "iceberg.uri" || ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a ConfigError naming iceberg.uri that says %q", c.name, err, c.want)
			continue
		}
		t.Logf("%s: %v", c.name, err)
		if strings.Contains(err.Error(), c.password) || strings.Contains(out.String(), c.password) {
			t.Errorf("%s: the password is in the error or the output: %v\n%s", c.name, err, out.String())
		}
	}
	// A URL that is no URL is caught by Validate, no part of the
	// password quoted (a / ends the host: "s3" would be the port; a %
	// starts an escape).
	for _, pw := range []string{"s3/cret", "s3%cret"} {
		cfg, err := ParseConfig([]byte("iceberg:\n  uri: postgres://athlake:${PW}@host/db\n"), func(string) string { return pw })
		if err == nil {
			err = cfg.Validate()
		}
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != "iceberg.uri" || strings.Contains(err.Error(), "s3") || strings.Contains(err.Error(), "cret") {
			t.Errorf("a password %q that breaks the URL: %v, want a ConfigError naming iceberg.uri without the password", pw, err)
		}
	}
}

// lastLine is s's last non-empty line.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
