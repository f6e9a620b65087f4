package jobs

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	icepub "github.com/athlake/athlake/load/iceberg"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/load/store/s3store"
)

var (
	regionRE    = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+-[0-9]+$`)
	catalogIDRE = regexp.MustCompile(`^[0-9]{12}$`)
)

// validateGlue checks a glue catalog's keys (no request: the region and
// credentials the environment gives are checked when it is opened).
func (ic *IcebergConfig) validateGlue() error {
	if key := firstSet("iceberg.uri", ic.URI, "iceberg.warehouse", ic.Warehouse, "iceberg.credential", string(ic.Credential), "iceberg.token", string(ic.Token)); key != "" {
		return &ConfigError{Key: key, Msg: "not used by a glue catalog (its credentials are the AWS SDK's: environment, profile, role)"}
	}
	if ic.Region != "" && !regionRE.MatchString(ic.Region) {
		return &ConfigError{Key: "iceberg.region", Msg: fmt.Sprintf("%q: want an AWS region, like eu-west-1", ic.Region)}
	}
	if e := ic.Endpoint; e != "" {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return &ConfigError{Key: "iceberg.endpoint", Msg: fmt.Sprintf("%q: want an http(s) URL, like https://glue.eu-west-1.amazonaws.com", e)}
		}
	}
	if ic.CatalogID != "" && !catalogIDRE.MatchString(ic.CatalogID) {
		return &ConfigError{Key: "iceberg.catalog_id", Msg: fmt.Sprintf("%q: want an AWS account id, 12 digits", ic.CatalogID)}
	}
	return nil
}

// glueWhere names the Glue catalog in messages.
func (ic *IcebergConfig) glueWhere() string {
	w := "AWS Glue"
	if ic.CatalogID != "" {
		w += " catalog " + ic.CatalogID
	}
	switch {
	case ic.Endpoint != "":
		w += " at " + ic.Endpoint
	case ic.Region != "":
		w += " in " + ic.Region
	}
	return w
}

// openGlue opens the Glue catalog: its region is iceberg.region, else the
// environment's (AWS_REGION, the profile's); its credentials are the
// lake's S3 credentials for an s3:// lake, else the SDK's chain
// (environment, profile, web identity, container or instance role).
// What Glue or the way to it refuses is a ConfigError naming the key to
// fix.
func openGlue(ctx context.Context, env *Env, ic *IcebergConfig, st store.Store, o icepub.Options) (*icepub.Catalog, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithLogger(logging.Nop{}))
	if err != nil {
		return nil, &ConfigError{Key: "iceberg.catalog", Msg: fmt.Sprintf("loading the AWS configuration: %s", firstLine(err))}
	}
	if s3, ok := st.(*s3store.Store); ok {
		// One identity for the lake and its catalog: iceberg-go writes
		// the tables' metadata to S3 with the Glue configuration.
		lake := s3.AWSConfig()
		cfg.Credentials = lake.Credentials
		cfg.RequestChecksumCalculation = lake.RequestChecksumCalculation
		cfg.ResponseChecksumValidation = lake.ResponseChecksumValidation
	}
	if ic.Region != "" {
		cfg.Region = ic.Region
	}
	if env.Glue != nil {
		env.Glue(&cfg)
	}
	if cfg.Region == "" {
		return nil, &ConfigError{Key: "iceberg.region", Msg: "no AWS region for Glue: set iceberg.region, or AWS_REGION, or a region in the AWS profile"}
	}
	if cfg.Credentials == nil {
		return nil, &ConfigError{Key: "iceberg.catalog", Msg: s3store.ErrNoCredentials.Error()}
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, &ConfigError{Key: "iceberg.catalog", Msg: fmt.Sprintf("%s: %v (%s)", ic.glueWhere(), s3store.ErrNoCredentials, firstLine(err))}
	}
	cat, err := icepub.OpenGlue(ctx, icepub.GlueOptions{Options: o, Config: cfg, Endpoint: ic.Endpoint, CatalogID: ic.CatalogID})
	if err != nil {
		return nil, ic.glueError(cfg.Region, err)
	}
	return cat, nil
}

// glueError classifies an error of opening the Glue catalog: refused
// credentials name iceberg.catalog (the catalog chosen is what the
// credentials must be good for: there is no key of their own), a denied
// catalog id iceberg.catalog_id, an endpoint that cannot be reached
// iceberg.endpoint (or iceberg.region, which makes AWS's endpoint).
func (ic *IcebergConfig) glueError(region string, err error) error {
	where := ic.glueWhere()
	if ic.Endpoint == "" && ic.Region == "" {
		where += " in " + region
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException",
			"MissingAuthenticationTokenException", "ExpiredTokenException", "InvalidClientTokenId", "SignatureDoesNotMatch":
			return &ConfigError{Key: "iceberg.catalog", Msg: fmt.Sprintf("%s refused the AWS credentials the SDK found (environment, profile, role): %s", where, ae.ErrorCode())}
		case "AccessDeniedException":
			key := "iceberg.catalog"
			if ic.CatalogID != "" {
				key = "iceberg.catalog_id"
			}
			return &ConfigError{Key: key, Msg: fmt.Sprintf("%s denied access: %s", where, ae.ErrorMessage())}
		}
	}
	var se *smithyhttp.RequestSendError
	if errors.As(err, &se) {
		key := "iceberg.region"
		if ic.Endpoint != "" {
			key = "iceberg.endpoint"
		}
		return &ConfigError{Key: key, Msg: fmt.Sprintf("cannot reach %s: %s", where, firstLine(se.Err))}
	}
	return fmt.Errorf("opening the iceberg catalog, %s: %w", where, err)
}

// firstLine is the first line of an error's message.
func firstLine(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}
