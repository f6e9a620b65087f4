package jobs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go/catalog/rest"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/internal/testlog"
	"github.com/athlake/athlake/load/store/s3store/s3test"
	"github.com/athlake/athlake/sandbox/icebergrest"
)

// restCatalog serves a simulated Iceberg REST catalog (a prefix, a
// warehouse named "lake") and returns it with its URL.
func restCatalog(t *testing.T, o icebergrest.Options) (*icebergrest.Server, string) {
	t.Helper()
	o.Dir, o.Warehouse, o.Prefix = t.TempDir(), "lake", "wh-athlake"
	s, err := icebergrest.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

// TestIcebergREST publishes a lake of all three vendors to an Iceberg
// REST catalog (the sandbox's simulator, iceberg-go's REST client,
// OAuth2 client credentials): every table's Iceberg scan, and DuckDB over
// its planned files, equal its view after a first sync, a day of edits
// and a compaction; the tables' metadata is in the lake's _iceberg
// folder; a sync with a rejected credential exits 2 naming
// iceberg.credential; no secret or token is in the log, stdout, the
// summary or any file of the lake and the views database.
func TestIcebergREST(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newSeason(t, 19)
	var logs, stdout testlog.Buffer
	s.env.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.env.Stdout, s.env.Stderr = &stdout, &stdout
	_, uri := restCatalog(t, icebergrest.Options{})
	s.cfg.Iceberg = &IcebergConfig{Catalog: "rest", URI: uri, Warehouse: "lake", Credential: icebergrest.Credential}
	if err := s.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	sums := s.publishDays(true, nil)
	p, err := IcebergRegister(ctx, s.env, s.cfg)
	if err != nil || p.Changed != 0 {
		t.Errorf("publishing the compacted lake again: %+v, %v", p, err)
	}
	if !strings.Contains(stdout.String(), "published to "+uri+" (warehouse lake)") {
		t.Errorf("register's line does not name the catalog:\n%s", stdout.String())
	}

	// The tables are the REST catalog's (a client of its own sees them,
	// under the namespace), their metadata in the lake's _iceberg folder.
	cl, err := rest.NewCatalog(ctx, "check", uri, rest.WithCredential(icebergrest.Credential), rest.WithWarehouseLocation("lake"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n := 0
	for id, err := range cl.ListTables(ctx, []string{"athlake"}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n == 1 {
			tbl, err := cl.LoadTable(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.ToSlash(filepath.Join(abs(t, s.cfg.Output), IcebergDir, "athlake")) + "/"; !strings.HasPrefix(tbl.MetadataLocation(), want) {
				t.Errorf("%v: metadata at %s, want under %s", id, tbl.MetadataLocation(), want)
			}
		}
	}
	if want := len(tables().Tables()); n != want {
		t.Errorf("the REST catalog lists %d tables in athlake, want %d", n, want)
	}

	// A rejected credential: the sync's publish fails, exit 2 naming
	// iceberg.credential, no secret in the error.
	const wrongSecret = "wrong_secret_8d1f60"
	s.cfg.Iceberg.Credential = connector.Secret(icebergrest.ClientID + ":" + wrongSecret)
	s.sb.Plyomat.Advance(time.Hour)
	sum, err := Run(ctx, s.env, s.cfg, RunOptions{Command: "sync"})
	sums = append(sums, sum)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "iceberg.credential" || ExitCode(err) != ExitUsage {
		t.Errorf("a sync with a wrong secret: %v (exit %d), want a ConfigError naming iceberg.credential", err, ExitCode(err))
	}
	if err != nil && strings.Contains(err.Error(), wrongSecret) {
		t.Errorf("the error shows the secret: %v", err)
	}
	if err != nil {
		t.Logf("a wrong secret: %v", err)
	}

	// No secret anywhere.
	q := secretSearch{
		secrets: []string{icebergrest.ClientSecret, wrongSecret}, pattern: regexp.MustCompile(`ice_[0-9a-f]{48}`),
		output: logs.String() + stdout.String(), reports: sums, dirs: []string{s.cfg.Output, filepath.Dir(s.cfg.DuckDBPath())},
	}
	files := q.assert(t)
	if logs.String() == "" || files < 100 {
		t.Errorf("%d bytes of log, %d files: the secret check checks little", len(logs.String()), files)
	}
	t.Logf("no secret nor token in %d bytes of log, %d of stdout, the summaries, %d files", len(logs.String()), len(stdout.String()), files)
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestIcebergRESTConfig: a rest section that is wrong, or a catalog that
// cannot be reached or refuses the credentials, is a configuration error
// naming its key (exit 2) that shows no secret.
func TestIcebergRESTConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	assertConfigErrors(t, []configCase{
		{"iceberg:\n  catalog: rest\n", "iceberg.uri"},
		{"iceberg:\n  catalog: rest\n  uri: ftp://h/cat\n", "iceberg.uri"},
		{"iceberg:\n  catalog: rest\n  uri: catalog.example.com\n", "iceberg.uri"},
		{"iceberg:\n  catalog: rest\n  uri: https://h\n  credential: id:s3cr3t\n  token: t0k3n\n", "iceberg.token"},
		{"iceberg:\n  catalog: rest\n  uri: https://h\n  credential: s3cr3t\n", "iceberg.credential"},
		{"iceberg:\n  catalog: rest\n  uri: https://h\n  region: eu-west-1\n", "iceberg.region"}, // glue's
	})

	// Catalogs that cannot be reached or that refuse: publishing an
	// empty lake.
	srv, uri := restCatalog(t, icebergrest.Options{})
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	notCatalog := httptest.NewServer(http.NotFoundHandler())
	defer notCatalog.Close()
	withUser := strings.Replace(gone.URL, "http://", "http://user:pw_in_url_51c@", 1)
	const secret = "wrong_secret_3a9c"
	for _, c := range []struct {
		name, key string
		ic        IcebergConfig
	}{
		{"no server", "iceberg.uri", IcebergConfig{URI: gone.URL, Credential: icebergrest.Credential}},
		{"no server, a password in the URL", "iceberg.uri", IcebergConfig{URI: withUser, Credential: connector.Secret("id:" + secret)}},
		{"not a catalog", "iceberg.uri", IcebergConfig{URI: notCatalog.URL, Credential: connector.Secret("id:" + secret)}},
		{"a wrong secret", "iceberg.credential", IcebergConfig{URI: uri, Credential: connector.Secret(icebergrest.ClientID + ":" + secret)}},
		{"no credential", "iceberg.credential", IcebergConfig{URI: uri}},
		{"a wrong token", "iceberg.token", IcebergConfig{URI: uri, Token: secret}},
		{"another warehouse", "iceberg.warehouse", IcebergConfig{URI: uri, Warehouse: "other", Token: connector.Secret(srv.Token())}},
	} {
		var logs, stdout testlog.Buffer
		env := &Env{Stdout: &stdout, Stderr: &stdout, Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
		cfg, err := ParseConfig([]byte("output: lake\n"), func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		cfg.Dir = t.TempDir()
		cfg.Sources = Sources{}
		ic := c.ic
		ic.Catalog = "rest"
		cfg.Iceberg = &ic
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		_, err = IcebergRegister(ctx, env, cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != c.key || ExitCode(err) != ExitUsage {
			t.Errorf("%s: error %v, want a ConfigError naming %s", c.name, err, c.key)
		}
		for _, sec := range []string{secret, "pw_in_url_51c"} {
			if strings.Contains(err.Error()+logs.String()+stdout.String(), sec) {
				t.Errorf("%s: the error, log or output shows a secret: %v", c.name, err)
			}
		}
		t.Logf("%s: %v", c.name, err)
	}

	// The right token.
	cfg, err := ParseConfig([]byte("output: lake\n"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dir, cfg.Sources = t.TempDir(), Sources{}
	cfg.Iceberg = &IcebergConfig{Catalog: "rest", URI: uri, Token: connector.Secret(srv.Token())}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Log: slog.New(slog.DiscardHandler)}
	if _, err := IcebergRegister(ctx, env, cfg); err != nil {
		t.Errorf("publishing with an issued token: %v", err)
	}
}

// TestIcebergRESTS3 publishes a lake on S3 (versitygw) to the REST
// catalog, which writes the tables' metadata to S3 with its own S3
// configuration, as a catalog server does: every table's Iceberg scan
// equals its view after a first sync and a day of edits.
func TestIcebergRESTS3(t *testing.T) {
	t.Parallel()
	s3srv := s3test.Start(t)
	bucket := s3srv.NewBucket(t)
	s := newSeason(t, 20)
	s3Config(s.cfg, s3srv, bucket, "lake")
	s3Env(s.env, s3srv)
	_, uri := restCatalog(t, icebergrest.Options{
		IO:  map[string]string{iceio.S3EndpointURL: s3srv.Endpoint, iceio.S3ForceVirtualAddressing: "false", iceio.S3Region: "us-east-1"},
		AWS: &aws.Config{Region: "us-east-1", Credentials: s3srv.Credentials()},
	})
	s.cfg.Iceberg = &IcebergConfig{Catalog: "rest", URI: uri, Credential: icebergrest.Credential}
	if err := s.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s.publishDays(false, nil)
	s.assertMetadataUnder("s3://" + bucket + "/lake/" + IcebergDir)
}
