package iceberg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	iceio "github.com/apache/iceberg-go/io"
	_ "github.com/apache/iceberg-go/io/gocloud/s3" // the s3:// file IO
	"github.com/apache/iceberg-go/table"
	"github.com/apache/iceberg-go/utils"
	"github.com/aws/aws-sdk-go-v2/aws"
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
	aws       *aws.Config   // for an s3:// warehouse
	retention time.Duration // Retention; tests shorten it
	now       func() time.Time
}

// SQLiteOptions open the SQL catalog on a SQLite file.
type SQLiteOptions struct {
	// Path is the SQLite file, created if missing: a local file, also
	// for an s3:// warehouse.
	Path string
	// Namespace holds the tables, "<namespace>.<source>_<table>".
	Namespace string
	// Warehouse is the folder of the tables' metadata, manifests and
	// delete files (the data files stay where the lake has them): a local
	// folder, or an s3:// URL reached as S3 says.
	Warehouse string
	// S3 reaches an s3:// warehouse and lake.
	S3 *S3
	// Now is the clock snapshots are published and expired by (nil:
	// time.Now); tests run a season of days in minutes.
	Now func() time.Time
}

// S3 is how the tables' files on S3 are reached: the SDK configuration
// (region and credentials, from the environment's chain) and an
// S3-compatible server's endpoint. Nothing of it is written to the
// catalog or to the tables' metadata: the configuration goes to
// iceberg-go's S3 file IO through each call's context, the endpoint and
// path style through the catalog's properties, which stay in memory.
type S3 struct {
	Config    aws.Config
	Endpoint  string // "" for AWS
	PathStyle bool
}

// OpenSQLite opens (creating if needed) a SQL catalog kept in a SQLite
// file, with the pure-Go driver (modernc.org/sqlite, through bun's sqlite
// dialect, which iceberg-go's SQL catalog speaks).
func OpenSQLite(ctx context.Context, o SQLiteOptions) (*Catalog, error) {
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o755); err != nil {
		return nil, err
	}
	wh := o.Warehouse
	props := ice.Properties{}
	if strings.HasPrefix(wh, "s3://") {
		if o.S3 == nil {
			return nil, fmt.Errorf("warehouse %s: no S3 configuration", wh)
		}
		if o.S3.Endpoint != "" {
			props[iceio.S3EndpointURL] = o.S3.Endpoint
		}
		props[iceio.S3ForceVirtualAddressing] = strconv.FormatBool(!o.S3.PathStyle)
	} else {
		abs, err := filepath.Abs(wh)
		if err != nil {
			return nil, err
		}
		wh = filepath.ToSlash(abs)
	}
	props["warehouse"] = strings.TrimSuffix(wh, "/")
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
	c := &Catalog{cat: cat, db: db, namespace: o.Namespace, warehouse: props["warehouse"], retention: Retention, now: o.Now}
	if c.now == nil {
		c.now = time.Now
	}
	if o.S3 != nil {
		cfg := o.S3.Config.Copy()
		c.aws = &cfg
	}
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

// Load returns a published table. Read it with a context from
// IOContext.
func (c *Catalog) Load(ctx context.Context, viewName string) (*table.Table, error) {
	return c.cat.LoadTable(c.IOContext(ctx), c.Ident(viewName))
}

// IOContext is ctx carrying what the tables' file IO needs: the S3
// configuration of an s3:// warehouse.
func (c *Catalog) IOContext(ctx context.Context) context.Context {
	if c.aws == nil {
		return ctx
	}
	return utils.WithAwsConfig(ctx, c.aws)
}

// location is where a table's metadata and delete files go.
func (c *Catalog) location(viewName string) string {
	return strings.TrimSuffix(c.warehouse, "/") + "/" + c.namespace + "/" + viewName
}
