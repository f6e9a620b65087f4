package iceberg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	iceio "github.com/apache/iceberg-go/io"
	_ "github.com/apache/iceberg-go/io/gocloud/s3" // the s3:// file IO
	"github.com/apache/iceberg-go/table"
	"github.com/apache/iceberg-go/utils"
	"github.com/aws/aws-sdk-go-v2/aws"
)

// Catalog is where a lake's Iceberg tables are published: an Iceberg
// catalog, one namespace in it, and the folder the tables' metadata and
// delete files go to.
type Catalog struct {
	cat       catalog.Catalog
	closer    io.Closer // what the catalog runs on, if anything
	namespace string
	warehouse string
	aws       *aws.Config   // for an s3:// warehouse
	retention time.Duration // Retention; tests shorten it
	now       func() time.Time
	// beforeCommit, if set, runs as Publish is about to commit (tests:
	// another publisher's commit in between).
	beforeCommit func()
}

// Options are what every kind of catalog takes.
type Options struct {
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

// properties are the catalog properties of o: the warehouse (absolute,
// slash-separated if local) and how its file IO reaches S3.
func (o Options) properties() (ice.Properties, error) {
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
	return props, nil
}

// open wraps an opened catalog of any kind, whose properties came from
// o.properties; closer (may be nil) is closed after it.
func open(ctx context.Context, cat catalog.Catalog, closer io.Closer, props ice.Properties, o Options) (*Catalog, error) {
	c := &Catalog{cat: cat, closer: closer, namespace: o.Namespace, warehouse: props["warehouse"], retention: Retention, now: o.Now}
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
	if c.closer != nil {
		err = errors.Join(err, c.closer.Close())
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
