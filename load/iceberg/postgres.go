package iceberg

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgresOptions open the SQL catalog on a PostgreSQL database.
type PostgresOptions struct {
	Options
	// URL is the database, postgres://user:password@host:port/db
	// (postgresql:// too, with libpq's query settings: sslmode,
	// connect_timeout, …). What it leaves out comes as libpq has it
	// (pgx): PGHOST, PGUSER, PGPASSWORD, … and ~/.pgpass (PGPASSFILE).
	URL string
}

// ErrAuth is a server that refused the user or its password.
var ErrAuth = errors.New("authentication failed")

// connectTimeout bounds a connection attempt whose URL sets no
// connect_timeout: a wrong host is an error, not a hang.
const connectTimeout = 15 * time.Second

// OpenPostgres opens (creating its tables if needed) a SQL catalog kept
// in a PostgreSQL database, with pgx through bun's pg dialect, which
// iceberg-go's SQL catalog speaks: the same two tables (iceberg_tables,
// iceberg_namespace_properties) other engines' JDBC/SQL catalogs read.
// The tables' metadata and delete files go to o.Warehouse. Errors name the
// URL without its password; one the server refused to log in wraps ErrAuth.
func OpenPostgres(ctx context.Context, o PostgresOptions) (*Catalog, error) {
	where := RedactURL(o.URL)
	props, err := o.properties()
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(o.URL)
	if err != nil {
		// pgx's message quotes the URL, its password masked as best it
		// can: say only what was wrong.
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			err = pe.Unwrap()
		}
		return nil, fmt.Errorf("%s: not a PostgreSQL URL: %v", where, err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	db := stdlib.OpenDB(*cfg)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000") {
			return nil, fmt.Errorf("%s: %w: %s", where, ErrAuth, pgErr.Message)
		}
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	cat, err := sqlcat.NewCatalog("athlake", db, sqlcat.Postgres, props)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the SQL catalog %s: %w", where, err)
	}
	return open(ctx, cat, db, props, o.Options)
}

// RedactURL is a database URL as messages may show it: without the
// password of its user info nor password settings in its query.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// Unparsable: where a password starts and ends is unsure.
		scheme, _, _ := strings.Cut(raw, ":")
		return scheme + "://(unparsable URL)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	if q := u.Query(); q.Has("password") || q.Has("sslpassword") {
		q.Del("password")
		q.Del("sslpassword")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
