package views

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// S3 says how DuckDB's httpfs reaches an s3:// lake.
type S3 struct {
	Region    string
	Endpoint  string // "" for AWS; else the S3-compatible server's URL
	PathStyle bool
	// Credentials for building the views; they go into a temporary secret
	// that lives only in this process, never into the database file.
	KeyID, Secret, SessionToken string
}

// ErrNoHTTPFS means DuckDB's httpfs extension could not be loaded: views
// over s3:// need it, and DuckDB installs it only with network access.
var ErrNoHTTPFS = errors.New("DuckDB's httpfs extension is not available (it installs on first use with network access); mirror the lake with `athlake mirror --to DIR` and build local views with `athlake views --lake DIR`")

// secretParams are the parts of a CREATE SECRET that are not credentials.
func (s *S3) secretParams() string {
	p := []string{"TYPE s3", "REGION " + literal(s.Region)}
	if s.Endpoint != "" {
		u, err := url.Parse(s.Endpoint)
		if err == nil && u.Host != "" {
			p = append(p, "ENDPOINT "+literal(u.Host), fmt.Sprintf("USE_SSL %t", u.Scheme != "http"))
		}
	}
	if s.PathStyle {
		p = append(p, "URL_STYLE 'path'")
	}
	return strings.Join(p, ", ")
}

// Setup is the SQL a notebook runs once per connection before querying
// views over an s3:// lake: httpfs, and a secret whose credentials come from
// the user's own environment (the AWS credential chain).
func (s *S3) Setup() string {
	return "INSTALL httpfs; LOAD httpfs; CREATE SECRET athlake (" + s.secretParams() + ", PROVIDER credential_chain);"
}

// attach loads httpfs and creates a temporary secret for this connection:
// DuckDB reads the files' schemas while it creates the views.
func (s *S3) attach(ctx context.Context, db *sql.DB) error {
	if s == nil {
		return errors.New("views over s3:// need the S3 settings")
	}
	if _, err := db.ExecContext(ctx, "LOAD httpfs"); err != nil {
		if _, err := db.ExecContext(ctx, "INSTALL httpfs"); err != nil {
			return fmt.Errorf("%w (%s)", ErrNoHTTPFS, firstLine(err))
		}
		if _, err := db.ExecContext(ctx, "LOAD httpfs"); err != nil {
			return fmt.Errorf("%w (%s)", ErrNoHTTPFS, firstLine(err))
		}
	}
	stmt := "CREATE TEMPORARY SECRET athlake_build (" + s.secretParams() +
		", KEY_ID " + literal(s.KeyID) + ", SECRET " + literal(s.Secret)
	if s.SessionToken != "" {
		stmt += ", SESSION_TOKEN " + literal(s.SessionToken)
	}
	if _, err := db.ExecContext(ctx, stmt+")"); err != nil {
		// DuckDB's message could quote the statement: never pass it on.
		return errors.New("creating a temporary DuckDB secret for S3 failed")
	}
	return nil
}

func firstLine(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}
