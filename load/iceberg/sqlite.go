package iceberg

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	_ "modernc.org/sqlite" // the "sqlite" driver, pure Go
)

// SQLiteOptions open the SQL catalog on a SQLite file.
type SQLiteOptions struct {
	Options
	// Path is the SQLite file, created if missing: a local file, also
	// for an s3:// warehouse.
	Path string
}

// OpenSQLite opens (creating if needed) a SQL catalog kept in a SQLite
// file, with the pure-Go driver (modernc.org/sqlite, through bun's sqlite
// dialect, which iceberg-go's SQL catalog speaks).
func OpenSQLite(ctx context.Context, o SQLiteOptions) (*Catalog, error) {
	props, err := o.properties()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o755); err != nil {
		return nil, err
	}
	// One writer at a time: a busy timeout rather than "database is locked".
	db, err := sql.Open("sqlite", "file:"+o.Path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, err
	}
	cat, err := sqlcat.NewCatalog("athlake", db, sqlcat.SQLite, props)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the SQL catalog %s: %w", o.Path, err)
	}
	return open(ctx, cat, db, props, o.Options)
}
