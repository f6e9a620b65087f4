package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/athlake/athlake/internal/testlog"
	"github.com/athlake/athlake/load/iceberg/pgtest"
	"github.com/athlake/athlake/load/store/s3store/s3test"
	sbglue "github.com/athlake/athlake/sandbox/glue"
)

const (
	glueKeyID  = "AKIAGLUETEST"
	glueSecret = "glue-secret-9f8e7d6c5b4a"
	glueRegion = "eu-west-1"
)

// startGlue serves the Glue simulator, which accepts the key pair given,
// signed for glueRegion; it returns the simulator and its URL.
func startGlue(t *testing.T, keyID, secret string) (*sbglue.Server, string) {
	t.Helper()
	sim := sbglue.New(sbglue.Options{AccessKey: keyID, SecretKey: secret, Region: glueRegion, PageSize: 5})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv.URL
}

// glueKeys makes env reach Glue with the key pair given.
func glueKeys(env *Env, keyID, secret string) {
	env.Glue = func(c *aws.Config) { c.Credentials = credentials.NewStaticCredentialsProvider(keyID, secret, "") }
}

// captureOutput sends env's log (at Debug), stdout and stderr to one
// buffer.
func captureOutput(env *Env) *testlog.Buffer {
	var out testlog.Buffer
	env.Stdout, env.Stderr = &out, &out
	env.Log = slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return &out
}

// TestIcebergGlue publishes a local lake of all three vendors to Glue
// (the simulator): each table a Glue table of type ICEBERG whose
// metadata_location is the table's current metadata in the lake's
// _iceberg folder; each table's Iceberg scan equals its view after a
// sync, a day of edits (position deletes) and a compaction; the AWS
// secret is in no log, output, summary or file.
func TestIcebergGlue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newSeason(t, 21)
	sim, url := startGlue(t, glueKeyID, glueSecret)
	glueKeys(s.env, glueKeyID, glueSecret)
	out := captureOutput(s.env)
	s.cfg.Iceberg = &IcebergConfig{Catalog: "glue", Region: glueRegion, Endpoint: url}
	if err := s.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	wh := filepath.ToSlash(filepath.Join(s.cfg.Output, IcebergDir))
	reports := s.publishDays(true, func(string) { s.assertGlueTables(sim, wh) })
	p, err := IcebergRegister(ctx, s.env, s.cfg)
	if err != nil || p.Changed != 0 {
		t.Errorf("publishing the compacted lake again: %v changed, %v", p, err)
	}
	if !strings.Contains(out.String(), "tables published to AWS Glue at "+url) {
		t.Errorf("register's report does not name the catalog:\n%s", out.String())
	}
	calls := sim.Calls()
	t.Logf("Glue calls: %v", calls)
	if calls["UpdateTable"] == 0 || calls["CreateTable"] < len(tables().Tables()) {
		t.Errorf("Glue calls %v: want a CreateTable a table and UpdateTables", calls)
	}
	if n := (secretSearch{secrets: []string{glueSecret}, output: out.String(), reports: reports, dirs: []string{s.cfg.Output, filepath.Dir(s.cfg.DuckDBPath())}}).assert(t); n < 50 || len(out.String()) == 0 {
		t.Errorf("%d files and %d bytes of output looked at: the search saw too little", n, len(out.String()))
	}
}

// TestIcebergGlueS3 is TestIcebergGlue on an S3 lake (versitygw), as
// Glue tables live: the metadata and deletes on S3 beside the lake,
// written with the lake's credentials, which Glue accepts too (one AWS
// identity).
func TestIcebergGlueS3(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	s := newSeason(t, 22)
	s3Config(s.cfg, srv, bucket, "lake")
	s3Env(s.env, srv)
	sim, url := startGlue(t, srv.AccessKey, srv.SecretKey)
	out := captureOutput(s.env)
	s.cfg.Iceberg = &IcebergConfig{Catalog: "glue", Region: glueRegion, Endpoint: url, CatalogID: "123456789012"}
	if err := s.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	wh := "s3://" + bucket + "/lake/" + IcebergDir
	reports := s.publishDays(true, func(string) { s.assertGlueTables(sim, wh) })
	_, st := s.catalog()
	objs, err := st.List(ctx, IcebergDir+"/")
	if err != nil || len(objs) < 50 {
		t.Errorf("%d objects under %s/ (%v): want the tables' metadata", len(objs), IcebergDir, err)
	}
	if n := (secretSearch{secrets: []string{srv.SecretKey}, output: out.String(), reports: reports, dirs: []string{filepath.Dir(s.cfg.DuckDBPath())}, store: st}).assert(t); n < 50 || len(out.String()) == 0 {
		t.Errorf("%d files and objects, %d bytes of output looked at: the search saw too little", n, len(out.String()))
	}
}

// assertGlueTables checks every lake table's Glue table: type ICEBERG,
// metadata_location the metadata iceberg-go loads, under the warehouse.
func (s *season) assertGlueTables(sim *sbglue.Server, warehouse string) {
	s.t.Helper()
	cat, _ := s.catalog()
	defer cat.Close()
	if n := len(sim.Tables("athlake")); n != len(tables().Tables()) {
		s.t.Errorf("Glue holds %d tables in athlake, want %d", n, len(tables().Tables()))
	}
	for _, t := range tables().Tables() {
		params, _, ok := sim.TableParameters("athlake", t.ViewName())
		if !ok {
			s.t.Errorf("no Glue table %s", t.ViewName())
			continue
		}
		tbl, err := cat.Load(context.Background(), t.ViewName())
		if err != nil {
			s.t.Fatal(err)
		}
		loc := params["metadata_location"]
		if params["table_type"] != "ICEBERG" || loc != tbl.MetadataLocation() || !strings.HasPrefix(loc, warehouse+"/athlake/"+t.ViewName()+"/metadata/") {
			s.t.Errorf("Glue table %s: parameters %v, want type ICEBERG and %s under %s", t.ViewName(), params, tbl.MetadataLocation(), warehouse)
		}
	}
}

// TestIcebergGlueConfig: a wrong glue section, and a Glue that refuses
// the credentials, the catalog id, or cannot be reached, are
// configuration errors naming the key (exit 2) that hold no secret; with
// no region anywhere, iceberg.region. It sets the process's AWS
// environment, so it does not run in parallel.
func TestIcebergGlueConfig(t *testing.T) {
	assertConfigErrors(t, []configCase{
		{"iceberg:\n  catalog: glue\n  uri: x.db\n", "iceberg.uri"},
		{"iceberg:\n  catalog: glue\n  region: the moon\n", "iceberg.region"},
		{"iceberg:\n  catalog: glue\n  endpoint: glue.example.com\n", "iceberg.endpoint"},
		{"iceberg:\n  catalog: glue\n  endpoint: ftp://glue.example.com\n", "iceberg.endpoint"},
		{"iceberg:\n  catalog: glue\n  catalog_id: \"1234\"\n", "iceberg.catalog_id"},
		{"iceberg:\n  catalog: sql\n  region: eu-west-1\n", "iceberg.region"},
	})

	// The AWS environment of a machine with none: no keys, no region,
	// no profile, no instance role.
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_GLUE": "",
		"AWS_CONFIG_FILE": filepath.Join(t.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
	} {
		t.Setenv(k, v)
	}
	const sim = "SIMULATOR" // each case's own simulator
	closed := fmt.Sprintf("http://127.0.0.1:%d", pgtest.FreePort(t))
	ok := &IcebergConfig{Catalog: "glue", Region: glueRegion, Endpoint: sim}
	for _, c := range []struct {
		name          string
		ic            IcebergConfig
		keyID, secret string
		env           map[string]string
		key           string
	}{
		{name: "the right keys", ic: *ok, keyID: glueKeyID, secret: glueSecret},
		{name: "another key id", ic: *ok, keyID: "AKIAOTHER", secret: glueSecret, key: "iceberg.catalog"},
		{name: "another secret", ic: *ok, keyID: glueKeyID, secret: "wrong-secret-value", key: "iceberg.catalog"},
		{name: "keys of the environment", ic: *ok, env: map[string]string{"AWS_ACCESS_KEY_ID": glueKeyID, "AWS_SECRET_ACCESS_KEY": glueSecret}},
		{name: "no keys anywhere", ic: *ok, key: "iceberg.catalog"},
		{name: "another account's catalog", ic: IcebergConfig{Catalog: "glue", Region: glueRegion, Endpoint: sim, CatalogID: "210987654321"}, keyID: glueKeyID, secret: glueSecret, key: "iceberg.catalog_id"},
		{name: "an endpoint nothing listens on", ic: IcebergConfig{Catalog: "glue", Region: glueRegion, Endpoint: closed}, keyID: glueKeyID, secret: glueSecret, key: "iceberg.endpoint"},
		{name: "no region anywhere", ic: IcebergConfig{Catalog: "glue", Endpoint: sim}, keyID: glueKeyID, secret: glueSecret, key: "iceberg.region"},
		{name: "the environment's region", ic: IcebergConfig{Catalog: "glue", Endpoint: sim}, keyID: glueKeyID, secret: glueSecret, env: map[string]string{"AWS_REGION": glueRegion}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			dir := t.TempDir()
			cfg, err := ParseConfig([]byte("output: lake\n"), func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			cfg.Dir = dir
			ic := c.ic
			if ic.Endpoint == sim {
				_, ic.Endpoint = startGlue(t, glueKeyID, glueSecret)
			}
			cfg.Iceberg = &ic
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			cfg.Sources = Sources{}
			env := &Env{Stdout: io.Discard, Stderr: io.Discard, Log: slog.New(slog.DiscardHandler)}
			out := captureOutput(env)
			if c.keyID != "" {
				glueKeys(env, c.keyID, c.secret)
			}
			_, err = IcebergRegister(context.Background(), env, cfg)
			var ce *ConfigError
			switch {
			case c.key == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case c.key != "" && (!errors.As(err, &ce) || ce.Key != c.key || ExitCode(err) != ExitUsage):
				t.Errorf("error %v, want a ConfigError naming %s", err, c.key)
			case err != nil:
				t.Logf("%v", err)
			}
			for _, sec := range []string{glueSecret, c.secret} {
				if sec != "" && (err != nil && strings.Contains(err.Error(), sec) || strings.Contains(out.String(), sec)) {
					t.Errorf("the error or output holds the secret: %v\n%s", err, out.String())
				}
			}
		})
	}
}
