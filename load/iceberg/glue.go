package iceberg

import (
	"context"
	"fmt"

	gluecat "github.com/apache/iceberg-go/catalog/glue"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/aws/aws-sdk-go-v2/aws"
)

// GlueOptions open the AWS Glue Data Catalog.
type GlueOptions struct {
	Options
	// Config signs the Glue requests: its region and credentials. For an
	// s3:// warehouse iceberg-go also reads and writes the tables' files
	// with its credentials (the region and endpoint stay S3's).
	Config aws.Config
	// Endpoint is a Glue endpoint other than the region's ("" for AWS's):
	// it applies to Glue only, not to S3.
	Endpoint string
	// CatalogID is the account id of the catalog ("" for the caller's).
	CatalogID string
}

// OpenGlue opens the Glue Data Catalog with iceberg-go's Glue catalog:
// the namespace is a Glue database, each table a Glue table of type
// ICEBERG whose metadata_location parameter names its current metadata
// file, updated with Glue's VersionId lock. It makes a request (the
// namespace is created if missing): a Glue error comes back wrapped,
// for the caller to classify.
func OpenGlue(ctx context.Context, o GlueOptions) (*Catalog, error) {
	props, err := o.properties()
	if err != nil {
		return nil, err
	}
	cfg := o.Config.Copy()
	if o.Endpoint != "" {
		// A service-scoped endpoint: BaseEndpoint would send the
		// tables' S3 requests to Glue too. First, as the SDK takes the
		// first source that gives one: before AWS_ENDPOINT_URL_GLUE
		// and a profile's services section.
		cfg.ConfigSources = append([]any{glueEndpoint(o.Endpoint)}, cfg.ConfigSources...)
	}
	awsProps := gluecat.AwsProperties{}
	for k, v := range props {
		awsProps[k] = v
	}
	if o.S3 != nil {
		// iceberg-go reaches the tables' files with the Glue
		// configuration: S3's region, not Glue's.
		awsProps[iceio.S3Region] = o.S3.Config.Region
	}
	if o.CatalogID != "" {
		awsProps[gluecat.CatalogIdKey] = o.CatalogID
	}
	cat, err := gluecat.NewCatalog(gluecat.WithAwsConfig(cfg), gluecat.WithAwsProperties(awsProps))
	if err != nil {
		return nil, fmt.Errorf("opening the Glue catalog: %w", err)
	}
	return open(ctx, cat, nil, props, o.Options)
}

// glueEndpoint is a configuration source that gives Glue's client (and
// no other service's) its endpoint, as AWS_ENDPOINT_URL_GLUE would.
type glueEndpoint string

func (e glueEndpoint) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	if sdkID == "Glue" {
		return string(e), true, nil
	}
	return "", false, nil
}
