package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/load"
	icepub "github.com/athlake/athlake/load/iceberg"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/load/store/s3store"
	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/schemas"
)

// IcebergConfig publishes the lake's tables to an Iceberg catalog, one
// table per lake table, "<namespace>.<source>_<table>". Off unless the
// section is there.
type IcebergConfig struct {
	// Catalog is the catalog's kind: sql, rest or glue.
	Catalog string `yaml:"catalog"`
	// URI is, for sql, the catalog's database: a local SQLite file (a
	// path, or sqlite:PATH; default <output>/_iceberg/catalog.db, or for
	// an s3:// output <duckdb>.iceberg/catalog.db, beside the views
	// database: SQLite needs a local file), or a PostgreSQL database,
	// postgres://user:${PGPASS}@host:port/db (postgresql:// too; the
	// password percent-encoded; what it leaves out, the password
	// included, comes from PGPASSWORD, ~/.pgpass and the other PG*
	// variables, as libpq has it); for rest, the catalog's base URL.
	URI string `yaml:"uri"`
	// Namespace holds the tables (default athlake).
	Namespace string `yaml:"namespace"`
	// Warehouse (rest) is the warehouse the catalog is asked for.
	Warehouse string `yaml:"warehouse"`
	// Credential (rest) is an OAuth2 client's "id:secret", exchanged
	// for a token at the catalog's token endpoint; Token a bearer token.
	// Secrets: give them as ${VAR}.
	Credential connector.Secret `yaml:"credential"`
	Token      connector.Secret `yaml:"token"`
	// Region, Endpoint and CatalogID (glue) reach AWS Glue: the
	// region (default the environment's), an endpoint other than AWS's,
	// and the catalog's account id (default the caller's).
	Region    string `yaml:"region"`
	Endpoint  string `yaml:"endpoint"`
	CatalogID string `yaml:"catalog_id"`
}

var (
	namespaceRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// dsnRE is the start of a libpq connection string, "host=…".
	dsnRE = regexp.MustCompile(`^\s*[A-Za-z_]+\s*=`)
)

// IcebergDir is the lake's folder of Iceberg metadata: the catalog's
// SQLite file by default, and each table's metadata, manifests and
// position deletes (its data files are the lake's own).
const IcebergDir = "_iceberg"

// validate fills the defaults and checks the section, naming the key.
func (ic *IcebergConfig) validate(c *Config) error {
	switch ic.Catalog {
	case "":
		ic.Catalog = "sql"
	case "sql", "rest", "glue":
	default:
		return &ConfigError{Key: "iceberg.catalog", Msg: fmt.Sprintf("%q: want sql, rest or glue", ic.Catalog)}
	}
	if ic.Namespace == "" {
		ic.Namespace = "athlake"
	}
	if !namespaceRE.MatchString(ic.Namespace) {
		return &ConfigError{Key: "iceberg.namespace", Msg: fmt.Sprintf("%q: want letters, digits and _", ic.Namespace)}
	}
	if ic.Catalog == "glue" {
		return ic.validateGlue()
	}
	if key := firstSet("iceberg.region", ic.Region, "iceberg.endpoint", ic.Endpoint, "iceberg.catalog_id", ic.CatalogID); key != "" {
		return &ConfigError{Key: key, Msg: "for a glue catalog only"}
	}
	if ic.Catalog == "rest" {
		return ic.validateREST()
	}
	switch u := ic.URI; {
	case ic.postgres():
		if _, err := url.Parse(u); err != nil {
			// Not err: it quotes the URL or the part it could not
			// read, which may be the password's.
			return &ConfigError{Key: "iceberg.uri", Msg: "not a URL: percent-encode the password's special characters (@ / ? # % :), or give it in PGPASSWORD"}
		}
	case u == "":
	case dsnRE.MatchString(u):
		// A libpq connection string ("host=… password=…"): not a
		// file name, and not to be shown.
		return &ConfigError{Key: "iceberg.uri", Msg: "want a SQLite file or a postgres://user@host:port/db URL (not a key=value connection string)"}
	case strings.Contains(u, "://") && !strings.HasPrefix(u, "sqlite://"):
		return &ConfigError{Key: "iceberg.uri", Msg: fmt.Sprintf("%q: want a SQLite file or postgres://user@host:port/db", icepub.RedactURL(u))}
	}
	return nil
}

// firstSet is the first key of the key, value pairs kv whose value is
// set, or "".
func firstSet(kv ...string) string {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			return kv[i]
		}
	}
	return ""
}

// validateREST checks a rest catalog's settings, naming no secret.
func (ic *IcebergConfig) validateREST() error {
	if ic.URI == "" {
		return &ConfigError{Key: "iceberg.uri", Msg: "required for the rest catalog: its base URL (http:// or https://)"}
	}
	u, err := url.Parse(ic.URI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &ConfigError{Key: "iceberg.uri", Msg: fmt.Sprintf("%s: want the catalog's http:// or https:// base URL", icepub.RedactURL(ic.URI))}
	}
	if ic.Credential != "" && ic.Token != "" {
		return &ConfigError{Key: "iceberg.token", Msg: "give credential or token, not both"}
	}
	if ic.Credential != "" && !strings.Contains(ic.Credential.Reveal(), ":") {
		return &ConfigError{Key: "iceberg.credential", Msg: "want an OAuth2 client's client_id:client_secret"}
	}
	return nil
}

// postgres says whether the catalog's database is PostgreSQL.
func (ic *IcebergConfig) postgres() bool {
	return strings.HasPrefix(ic.URI, "postgres://") || strings.HasPrefix(ic.URI, "postgresql://")
}

// sqlitePath is the SQLite file of the catalog.
func (ic *IcebergConfig) sqlitePath(c *Config) string {
	u := strings.TrimPrefix(strings.TrimPrefix(ic.URI, "sqlite://"), "sqlite:")
	switch {
	case u != "":
		return c.path(u)
	case c.IsS3():
		return filepath.Join(c.DuckDBPath()+".iceberg", "catalog.db")
	}
	return filepath.Join(c.path(c.Output), IcebergDir, "catalog.db")
}

// lakeRoot is where the lake's files are, as the Iceberg tables name
// them: an absolute local folder (slash-separated) or s3://bucket/prefix.
func lakeRoot(st store.Store) (string, error) {
	if u := st.URL(); strings.HasPrefix(u, "s3://") {
		return strings.TrimSuffix(u, "/"), nil
	}
	abs, err := filepath.Abs(st.URL())
	return filepath.ToSlash(abs), err
}

// openCatalog opens the configured catalog of the lake in st, which
// publishes and expires snapshots by now (nil: time.Now); the
// tables' metadata goes under the lake's _iceberg folder (for an s3://
// lake, on S3, reached as the store reaches it).
func openCatalog(ctx context.Context, env *Env, cfg *Config, st store.Store, now func() time.Time) (*icepub.Catalog, error) {
	ic := cfg.Iceberg
	root, err := lakeRoot(st)
	if err != nil {
		return nil, err
	}
	o := icepub.Options{Namespace: ic.Namespace, Warehouse: root + "/" + IcebergDir, Now: now}
	if strings.HasPrefix(root, "s3://") {
		s3, ok := st.(*s3store.Store)
		if !ok {
			return nil, fmt.Errorf("publishing %s to iceberg: the store does not say how to reach S3", root)
		}
		o.S3 = &icepub.S3{Config: s3.AWSConfig(), Endpoint: s3.Endpoint(), PathStyle: s3.PathStyle()}
	}
	var cat *icepub.Catalog
	switch {
	case ic.Catalog == "rest":
		cat, err = icepub.OpenREST(ctx, icepub.RESTOptions{
			Options: o, URI: ic.URI, Warehouse: ic.Warehouse,
			Credential: ic.Credential.Reveal(), Token: ic.Token.Reveal(),
		})
		switch {
		case errors.Is(err, icepub.ErrCatalogCredentials):
			key := "iceberg.credential"
			if ic.Token != "" {
				key = "iceberg.token"
			}
			return nil, &ConfigError{Key: key, Msg: fmt.Sprintf("%s: %v", ic.where(cfg), err)}
		case errors.Is(err, icepub.ErrCatalogWarehouse):
			return nil, &ConfigError{Key: "iceberg.warehouse", Msg: fmt.Sprintf("%s: %v", ic.where(cfg), err)}
		case errors.Is(err, icepub.ErrCatalogUnreachable):
			return nil, &ConfigError{Key: "iceberg.uri", Msg: fmt.Sprintf("%s: %v", ic.where(cfg), err)}
		case err != nil:
			return nil, fmt.Errorf("opening the iceberg catalog %s: %w", ic.where(cfg), err)
		}
		return cat, nil
	case ic.Catalog == "glue":
		return openGlue(ctx, env, ic, st, o)
	case ic.postgres(): // sql, on PostgreSQL
		cat, err = icepub.OpenPostgres(ctx, icepub.PostgresOptions{Options: o, URL: ic.URI})
	default: // sql, on SQLite
		cat, err = icepub.OpenSQLite(ctx, icepub.SQLiteOptions{Options: o, Path: ic.sqlitePath(cfg)})
	}
	if err != nil {
		return nil, &ConfigError{Key: "iceberg.uri", Msg: err.Error()}
	}
	return cat, nil
}

// where is the catalog as a message names it, without secrets.
func (ic *IcebergConfig) where(c *Config) string {
	switch {
	case ic.Catalog == "rest":
		if ic.Warehouse != "" {
			return icepub.RedactURL(ic.URI) + " (warehouse " + ic.Warehouse + ")"
		}
		return icepub.RedactURL(ic.URI)
	case ic.Catalog == "glue":
		return ic.glueWhere()
	case ic.postgres():
		return icepub.RedactURL(ic.URI)
	default: // sql
		return ic.sqlitePath(c)
	}
}

// IcebergPublish is what publishing the lake to Iceberg did.
type IcebergPublish struct {
	Tables  []icepub.Result `json:"tables"`
	Changed int             `json:"changed"`
	Seconds float64         `json:"seconds"`
	// HiddenSeconds is the part of Seconds DuckDB took to find the rows
	// the views do not show.
	HiddenSeconds float64 `json:"hidden_seconds"`
}

// IcebergRegister publishes an existing lake to the configured catalog
// (`athlake iceberg register`).
func IcebergRegister(ctx context.Context, env *Env, cfg *Config) (*IcebergPublish, error) {
	if cfg.Iceberg == nil {
		return nil, &ConfigError{Key: "iceberg", Msg: "no iceberg section: nothing to publish to"}
	}
	st, err := openStore(ctx, env, cfg)
	if err != nil {
		return nil, err
	}
	p, err := publishIceberg(ctx, env, cfg, st, tables(), nil, env.Log)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(env.Stdout, "%d of %d tables published to %s (namespace %s) in %.1fs\n",
		p.Changed, len(p.Tables), cfg.Iceberg.where(cfg), cfg.Iceberg.Namespace, p.Seconds)
	return p, nil
}

// publishIceberg makes every table's Iceberg table hold the lake's
// committed state as its view shows it: the view's files, and position
// deletes for the rows the view does not show. c is the lake as listed
// (nil: listed now).
func publishIceberg(ctx context.Context, env *Env, cfg *Config, st store.Store, reg *schemas.Registry, c *load.Committed, log *slog.Logger) (*IcebergPublish, error) {
	start := time.Now()
	log.Debug("publishing to iceberg", "tables", len(reg.Tables()))
	var err error
	if c == nil {
		if c, err = load.ListCommitted(ctx, st, reg); err != nil {
			return nil, err
		}
	}
	files := viewFiles(c, reg)
	fileList := func(t *schemas.Table) ([]string, []string) {
		if f := files[t.ID()]; f != nil {
			return f.base, f.delta
		}
		return nil, nil
	}
	in := views.HiddenInput{
		Lake: st.URL(), Tables: orderedTables(reg), Files: fileList, Work: cfg.DuckDBPath() + ".hidden",
		MemoryLimit: cfg.Memory().Views, Threads: cfg.Memory().DuckDBThreads,
	}
	if cfg.IsS3() {
		// DuckDB reads local files (no httpfs offline): those it reads
		// are staged, a statement's at a time.
		in.Stage = func(ctx context.Context, key, dir string) (string, error) { return stage(ctx, st, key, dir) }
	}
	hidden, err := views.Hidden(ctx, in)
	if err != nil {
		return nil, err
	}
	hiddenSeconds := time.Since(start).Seconds()
	root, err := lakeRoot(st)
	if err != nil {
		return nil, err
	}
	cat, err := openCatalog(ctx, env, cfg, st, env.now)
	if err != nil {
		return nil, err
	}
	defer cat.Close()
	sizes := map[string]int64{}
	for _, o := range c.Objects {
		sizes[o.Key] = o.Size
	}
	frontier := c.Frontier()
	out := &IcebergPublish{HiddenSeconds: hiddenSeconds}
	for _, t := range reg.Tables() {
		base, delta := fileList(t)
		r, err := cat.Publish(ctx, root, icepub.Want{Table: t, Files: append(append([]string{}, base...), delta...), Hidden: hidden[t.ID()], Sizes: sizes, Frontier: frontier})
		if err != nil {
			return out, err
		}
		if r.ExpireError != "" {
			log.Warn("iceberg snapshots not expired: the next publish tries again", "table", r.Table, "error", r.ExpireError)
		}
		if r.Behind {
			log.Info("iceberg table left as it is: it holds a newer state of the lake, published beside this run", "table", r.Table)
		}
		if r.Changed {
			out.Changed++
			log.Debug("published to iceberg", "table", r.Table, "snapshot", r.Snapshot, "added", r.Added, "removed", r.Removed, "delete_files", r.DeleteFiles)
		}
		out.Tables = append(out.Tables, r)
	}
	out.Seconds = time.Since(start).Seconds()
	return out, nil
}
