package iceberg

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/apache/iceberg-go/catalog/rest"
)

// RESTOptions open an Iceberg REST catalog (Polaris, Lakekeeper, Nessie,
// Tabular-style). The tables' metadata and delete files still go to
// Options.Warehouse, the location each table is created with.
type RESTOptions struct {
	Options
	// URI is the catalog's base URL (the one before /v1).
	URI string
	// Warehouse is the warehouse the catalog is asked for
	// (GET /v1/config?warehouse=); "" for the catalog's default. Not
	// Options.Warehouse, the folder of the tables' metadata.
	Warehouse string
	// Credential is an OAuth2 client's "id:secret", exchanged for a
	// token at the catalog's token endpoint; Token a bearer token. At
	// most one of them.
	Credential string
	Token      string
}

// Errors OpenREST classifies its failures by.
var (
	// ErrCatalogUnreachable: no catalog answered at the URI (no server,
	// or a server that is not an Iceberg REST catalog).
	ErrCatalogUnreachable = errors.New("the catalog cannot be reached")
	// ErrCatalogCredentials: the catalog rejected the credential or token.
	ErrCatalogCredentials = errors.New("the catalog rejected the credentials")
	// ErrCatalogWarehouse: the catalog refused the warehouse asked for.
	ErrCatalogWarehouse = errors.New("the catalog refused the warehouse")
)

// OpenREST opens a REST catalog and makes sure the namespace exists. Its
// errors wrap ErrCatalogUnreachable or ErrCatalogCredentials when they are
// that, and never hold the credential, the token or a password in the URI.
func OpenREST(ctx context.Context, o RESTOptions) (*Catalog, error) {
	secrets := o.secrets()
	props, err := o.properties()
	if err != nil {
		return nil, err
	}
	// The file IO's properties (an S3 endpoint, path style) go to the
	// client, which gives them to each table's IO; "warehouse" is the
	// REST catalog's own setting.
	io := maps.Clone(props)
	delete(io, "warehouse")
	tr := &probe{base: http.DefaultTransport.(*http.Transport).Clone(), warehouse: o.Warehouse != ""}
	opts := []rest.Option{rest.WithCustomTransport(tr), rest.WithAdditionalProps(io)}
	if o.Warehouse != "" {
		opts = append(opts, rest.WithWarehouseLocation(o.Warehouse))
	}
	switch {
	case o.Credential != "":
		opts = append(opts, rest.WithCredential(o.Credential))
	case o.Token != "":
		opts = append(opts, rest.WithOAuthToken(o.Token))
	}
	cat, err := rest.NewCatalog(ctx, "athlake", o.URI, opts...)
	if err != nil {
		tr.base.CloseIdleConnections()
		return nil, tr.classify(err, secrets)
	}
	c, err := open(ctx, cat, closerFunc(tr.base.CloseIdleConnections), props, o.Options)
	if err != nil {
		return nil, tr.classify(err, secrets)
	}
	return c, nil
}

// secrets are the values no error may show.
func (o RESTOptions) secrets() []string {
	s := []string{o.Token}
	if _, secret, ok := strings.Cut(o.Credential, ":"); ok {
		s = append(s, secret)
	}
	s = append(s, o.Credential)
	if u, err := url.Parse(o.URI); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			s = append(s, p)
		}
	}
	return s
}

type closerFunc func()

func (f closerFunc) Close() error { f(); return nil }

// probe is the REST client's transport, noting what a classification of
// its errors needs: whether a request got no answer, and the status of
// the token endpoint's.
type probe struct {
	base      *http.Transport
	warehouse bool // a warehouse is asked for

	mu           sync.Mutex
	unanswered   bool
	tokenStatus  int
	configStatus int
}

func (p *probe) RoundTrip(r *http.Request) (*http.Response, error) {
	rsp, err := p.base.RoundTrip(r)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case err != nil:
		p.unanswered = true
	case strings.HasSuffix(r.URL.Path, "/oauth/tokens"):
		p.tokenStatus = rsp.StatusCode
	case strings.HasSuffix(r.URL.Path, "/v1/config"):
		p.configStatus = rsp.StatusCode
	}
	return rsp, err
}

// classify wraps err with what it means, its message without secrets.
func (p *probe) classify(err error, secrets []string) error {
	p.mu.Lock()
	unanswered, token, config := p.unanswered, p.tokenStatus, p.configStatus
	p.mu.Unlock()
	kind := ErrCatalogUnreachable
	switch {
	case errors.Is(err, context.Canceled):
		kind = nil
	case unanswered:
	case errors.Is(err, rest.ErrServerError), errors.Is(err, rest.ErrServiceUnavailable):
		// A catalog that is there but failing: a run's error, not the
		// configuration's.
		kind = nil
	case errors.Is(err, rest.ErrUnauthorized), errors.Is(err, rest.ErrForbidden), errors.Is(err, rest.ErrAuthorizationExpired):
		kind = ErrCatalogCredentials
	case errors.Is(err, rest.ErrOAuthError) && (token == http.StatusUnauthorized || token == http.StatusForbidden ||
		token == http.StatusBadRequest && strings.Contains(err.Error(), "_client")):
		// invalid_client, unauthorized_client (RFC 6749 5.2).
		kind = ErrCatalogCredentials
	case p.warehouse && (config == http.StatusBadRequest || config == http.StatusNotFound) && errors.Is(err, rest.ErrRESTError):
		// The warehouse is the config request's one parameter
		// (Polaris: 404, Lakekeeper: 404/400).
		kind = ErrCatalogWarehouse
	case errors.Is(err, rest.ErrRESTError):
		// Answered, but not as a catalog: another server, or a path
		// that is not a catalog's.
	default:
		kind = nil
	}
	r := &redacted{err: err, kind: kind, secrets: secrets}
	if kind == ErrCatalogUnreachable && token != 0 && token != http.StatusOK {
		r.detail = fmt.Sprintf("the token endpoint answered HTTP %d", token)
	}
	return r
}

// redacted is an error whose message hides secrets.
type redacted struct {
	err     error
	kind    error  // nil or one of the ErrCatalog errors
	detail  string // what the error does not say
	secrets []string
}

func (r *redacted) Error() string {
	msg := r.err.Error()
	for _, s := range r.secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	if r.detail != "" {
		msg += " (" + r.detail + ")"
	}
	if r.kind != nil {
		msg = r.kind.Error() + ": " + msg
	}
	return msg
}

func (r *redacted) Unwrap() []error {
	if r.kind == nil {
		return []error{r.err}
	}
	return []error{r.kind, r.err}
}
