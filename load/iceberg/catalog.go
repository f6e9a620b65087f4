package iceberg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	"github.com/apache/iceberg-go/table"
	_ "modernc.org/sqlite" // the "sqlite" driver, pure Go
)

// Catalog is where a lake's Iceberg tables are published: an Iceberg
// catalog, one namespace in it, and the folder the tables' metadata and
// delete files go to.
type Catalog struct {
	cat       catalog.Catalog
	db        *sql.DB
	namespace string
	warehouse string
	retention time.Duration // Retention; tests shorten it
}

// SQLiteOptions open the SQL catalog on a SQLite file.
type SQLiteOptions struct {
	// Path is the SQLite file, created if missing.
	Path string
	// Namespace holds the tables, "<namespace>.<source>_<table>".
	Namespace string
	// Warehouse is the local folder of the tables' metadata, manifests
	// and delete files (the data files stay where the lake has them).
	Warehouse string
}

// OpenSQLite opens (creating if needed) a SQL catalog kept in a SQLite
// file, with the pure-Go driver (modernc.org/sqlite, through bun's sqlite
// dialect, which iceberg-go's SQL catalog speaks).
func OpenSQLite(ctx context.Context, o SQLiteOptions) (*Catalog, error) {
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o755); err != nil {
		return nil, err
	}
	wh, err := filepath.Abs(o.Warehouse)
	if err != nil {
		return nil, err
	}
	// One writer at a time: a busy timeout rather than "database is locked".
	db, err := sql.Open("sqlite", "file:"+o.Path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, err
	}
	cat, err := sqlcat.NewCatalog("athlake", db, sqlcat.SQLite, ice.Properties{"warehouse": filepath.ToSlash(wh)})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the SQL catalog %s: %w", o.Path, err)
	}
	c := &Catalog{cat: cat, db: db, namespace: o.Namespace, warehouse: filepath.ToSlash(wh), retention: Retention}
	if err := c.ensureNamespace(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close releases the catalog.
func (c *Catalog) Close() error {
	var err error
	if cl, ok := c.cat.(catalog.Closer); ok {
		err = cl.Close()
	}
	if c.db != nil {
		err = errors.Join(err, c.db.Close())
	}
	return err
}

func (c *Catalog) ensureNamespace(ctx context.Context) error {
	ns := catalog.ToIdentifier(c.namespace)
	ok, err := c.cat.CheckNamespaceExists(ctx, ns)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", c.namespace, err)
	}
	if ok {
		return nil
	}
	if err := c.cat.CreateNamespace(ctx, ns, nil); err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		return fmt.Errorf("creating namespace %s: %w", c.namespace, err)
	}
	return nil
}

// Ident is the Iceberg identifier of a lake table: <namespace>.<view name>.
func (c *Catalog) Ident(viewName string) table.Identifier {
	return catalog.ToIdentifier(c.namespace, viewName)
}

// Load returns a published table.
func (c *Catalog) Load(ctx context.Context, viewName string) (*table.Table, error) {
	return c.cat.LoadTable(ctx, c.Ident(viewName))
}

// location is where a table's metadata and delete files go.
func (c *Catalog) location(viewName string) string {
	return strings.TrimSuffix(c.warehouse, "/") + "/" + c.namespace + "/" + viewName
}
