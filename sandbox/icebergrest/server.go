// Package icebergrest simulates an Iceberg REST catalog (the Iceberg REST
// OpenAPI spec, as Polaris, Lakekeeper, Nessie or Tabular serve it) for
// what a publisher uses: the config endpoint, the OAuth2 client-credentials
// token endpoint, bearer-token auth, namespaces and tables, and table
// commits whose requirements are checked before their updates apply.
//
// The catalog's state is iceberg-go's own SQL catalog on a SQLite file: a
// request is translated into that catalog's call, which writes the
// tables' metadata files where their locations say (a local folder, or
// S3 reached with Options.IO and Options.AWS), as a real catalog server
// writes them with its own storage credentials.
package icebergrest

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	_ "github.com/apache/iceberg-go/io/gocloud/s3" // the s3:// file IO
	"github.com/apache/iceberg-go/table"
	"github.com/apache/iceberg-go/utils"
	"github.com/aws/aws-sdk-go-v2/aws"
	_ "modernc.org/sqlite" // the "sqlite" driver, pure Go
)

// The OAuth2 client the simulated catalog accepts. It is the sandbox's
// own, not a secret of anyone's.
const (
	ClientID     = "athlake-sandbox"
	ClientSecret = "ice_sandbox_secret_4b7e2a91d3"
	// Credential is the client as a REST client's credential setting.
	Credential = ClientID + ":" + ClientSecret
)

// TokenTTL is how long an issued access token is valid.
const TokenTTL = time.Hour

// Options configure a simulated catalog.
type Options struct {
	// Dir holds the catalog's SQLite file (created if missing).
	Dir string
	// Warehouse is the warehouse a client names (GET /v1/config?warehouse=);
	// another name is refused. "" accepts any, and none.
	Warehouse string
	// Prefix is the path segment after /v1/ of every catalog route, which
	// the config endpoint tells clients as the "prefix" override ("": none).
	Prefix string
	// Location is where the tables of a namespace without a location go,
	// when they are created without one (default Dir/warehouse).
	Location string
	// IO are the catalog's file IO properties (an S3 endpoint, path
	// style), AWS its S3 configuration, for metadata on S3.
	IO  ice.Properties
	AWS *aws.Config
}

// Server is a simulated REST catalog: an http.Handler.
type Server struct {
	opts Options
	cat  *sqlcat.Catalog
	db   *sql.DB
	mux  *http.ServeMux

	commitMu sync.Mutex // one table commit at a time: check, then apply

	mu     sync.Mutex
	tokens map[string]time.Time // access token -> expiry
}

// New opens (creating if needed) the catalog's state in o.Dir.
func New(ctx context.Context, o Options) (*Server, error) {
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	if o.Location == "" {
		abs, err := filepath.Abs(filepath.Join(o.Dir, "warehouse"))
		if err != nil {
			return nil, err
		}
		o.Location = filepath.ToSlash(abs)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(o.Dir, "catalog.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, err
	}
	props := ice.Properties{"warehouse": strings.TrimSuffix(o.Location, "/")}
	for k, v := range o.IO {
		props[k] = v
	}
	cat, err := sqlcat.NewCatalog("icebergrest", db, sqlcat.SQLite, props)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the catalog's SQLite file: %w", err)
	}
	s := &Server{opts: o, cat: cat, db: db, tokens: map[string]time.Time{}}
	s.routes()
	return s, nil
}

// Close closes the catalog's SQLite file.
func (s *Server) Close() error { return errors.Join(s.cat.Close(), s.db.Close()) }

// Token issues an access token, as a catalog's console issues a personal
// token: for clients configured with a token rather than a credential.
func (s *Server) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newToken()
}

func (s *Server) newToken() string {
	b := make([]byte, 24)
	rand.Read(b) // never fails (crypto/rand)
	tok := "ice_" + hex.EncodeToString(b)
	s.tokens[tok] = time.Now().Add(TokenTTL)
	return tok
}

// ExpireTokens makes every token issued so far invalid.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// base is the path of the catalog routes: /v1 and the prefix.
func (s *Server) base() string {
	if s.opts.Prefix == "" {
		return "/v1"
	}
	return "/v1/" + s.opts.Prefix
}

// endpoints are the routes the config endpoint advertises: those served.
func (s *Server) endpoints() []string {
	p := "/v1/{prefix}"
	return []string{
		"GET " + p + "/namespaces",
		"POST " + p + "/namespaces",
		"GET " + p + "/namespaces/{namespace}",
		"HEAD " + p + "/namespaces/{namespace}",
		"DELETE " + p + "/namespaces/{namespace}",
		"POST " + p + "/namespaces/{namespace}/properties",
		"GET " + p + "/namespaces/{namespace}/tables",
		"POST " + p + "/namespaces/{namespace}/tables",
		"GET " + p + "/namespaces/{namespace}/tables/{table}",
		"HEAD " + p + "/namespaces/{namespace}/tables/{table}",
		"POST " + p + "/namespaces/{namespace}/tables/{table}",
		"DELETE " + p + "/namespaces/{namespace}/tables/{table}",
	}
}

func (s *Server) routes() {
	m := http.NewServeMux()
	b := s.base()
	m.HandleFunc("POST /v1/oauth/tokens", s.token)
	m.Handle("GET /v1/config", s.auth(s.config))
	m.Handle("GET "+b+"/namespaces", s.auth(s.listNamespaces))
	m.Handle("POST "+b+"/namespaces", s.auth(s.createNamespace))
	m.Handle("GET "+b+"/namespaces/{namespace}", s.auth(s.loadNamespace))
	m.Handle("HEAD "+b+"/namespaces/{namespace}", s.auth(s.namespaceExists))
	m.Handle("DELETE "+b+"/namespaces/{namespace}", s.auth(s.dropNamespace))
	m.Handle("POST "+b+"/namespaces/{namespace}/properties", s.auth(s.updateNamespace))
	m.Handle("GET "+b+"/namespaces/{namespace}/tables", s.auth(s.listTables))
	m.Handle("POST "+b+"/namespaces/{namespace}/tables", s.auth(s.createTable))
	m.Handle("GET "+b+"/namespaces/{namespace}/tables/{table}", s.auth(s.loadTable))
	m.Handle("HEAD "+b+"/namespaces/{namespace}/tables/{table}", s.auth(s.tableExists))
	m.Handle("POST "+b+"/namespaces/{namespace}/tables/{table}", s.auth(s.commitTable))
	m.Handle("DELETE "+b+"/namespaces/{namespace}/tables/{table}", s.auth(s.dropTable))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "NoSuchEndpointException", "no route "+r.Method+" "+r.URL.Path)
	})
	s.mux = m
}

// ServeHTTP serves the catalog.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Error types of the spec's error model.
const (
	errBadRequest        = "BadRequestException"
	errNotAuthorized     = "NotAuthorizedException"
	errNoSuchNamespace   = "NoSuchNamespaceException"
	errNoSuchTable       = "NoSuchTableException"
	errAlreadyExists     = "AlreadyExistsException"
	errNamespaceNotEmpty = "NamespaceNotEmptyException"
	errCommitFailed      = "CommitFailedException"
	errServiceFailure    = "ServiceFailureException"
)

// writeError writes the spec's IcebergErrorResponse (no body for HEAD).
func writeError(w http.ResponseWriter, r *http.Request, code int, typ, msg string) {
	if r.Method == http.MethodHead {
		w.WriteHeader(code)
		return
	}
	type model struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    int    `json:"code"`
	}
	writeJSON(w, code, struct {
		Error model `json:"error"`
	}{model{msg, typ, code}})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":{"message":"encoding the response","type":"ServiceFailureException","code":500}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	w.Write(b)
}

// writeCatalogError maps a catalog error to the spec's status and type.
func writeCatalogError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, catalog.ErrNoSuchTable):
		writeError(w, r, http.StatusNotFound, errNoSuchTable, err.Error())
	case errors.Is(err, catalog.ErrNoSuchNamespace):
		writeError(w, r, http.StatusNotFound, errNoSuchNamespace, err.Error())
	case errors.Is(err, catalog.ErrTableAlreadyExists), errors.Is(err, catalog.ErrNamespaceAlreadyExists):
		writeError(w, r, http.StatusConflict, errAlreadyExists, err.Error())
	case errors.Is(err, catalog.ErrNamespaceNotEmpty):
		writeError(w, r, http.StatusConflict, errNamespaceNotEmpty, err.Error())
	case errors.Is(err, table.ErrCommitFailed):
		writeError(w, r, http.StatusConflict, errCommitFailed, err.Error())
	default:
		writeError(w, r, http.StatusInternalServerError, errServiceFailure, err.Error())
	}
}

// auth lets requests with a valid bearer token through.
func (s *Server) auth(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		exp, known := s.tokens[tok]
		s.mu.Unlock()
		if !ok || !known || time.Now().After(exp) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="icebergrest"`)
			writeError(w, r, http.StatusUnauthorized, errNotAuthorized, "missing, unknown or expired bearer token")
			return
		}
		ctx := r.Context()
		if s.opts.AWS != nil {
			ctx = utils.WithAwsConfig(ctx, s.opts.AWS)
		}
		h(w, r.WithContext(ctx))
	})
}

// token is the OAuth2 token endpoint (RFC 6749 client credentials, as the
// spec's /v1/oauth/tokens), with the spec's OAuthError body on failure.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	oauthError := func(code int, typ, desc string) {
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, code, map[string]string{"error": typ, "error_description": desc})
	}
	if err := r.ParseForm(); err != nil {
		oauthError(http.StatusBadRequest, "invalid_request", "the body is not a form")
		return
	}
	if g := r.PostForm.Get("grant_type"); g != "client_credentials" {
		oauthError(http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q: only client_credentials", g))
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if subtle.ConstantTimeCompare([]byte(id), []byte(ClientID))&subtle.ConstantTimeCompare([]byte(secret), []byte(ClientSecret)) != 1 {
		oauthError(http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	}
	s.mu.Lock()
	tok := s.newToken()
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":      tok,
		"token_type":        "bearer",
		"expires_in":        int(TokenTTL.Seconds()),
		"issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
	})
}

// config is GET /v1/config: the prefix as an override, the endpoints served.
func (s *Server) config(w http.ResponseWriter, r *http.Request) {
	if wh := r.URL.Query().Get("warehouse"); wh != "" && s.opts.Warehouse != "" && wh != s.opts.Warehouse {
		writeError(w, r, http.StatusBadRequest, errBadRequest, fmt.Sprintf("no warehouse %q", wh))
		return
	}
	overrides := map[string]string{}
	if s.opts.Prefix != "" {
		overrides["prefix"] = s.opts.Prefix
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"defaults":  map[string]string{},
		"overrides": overrides,
		"endpoints": s.endpoints(),
	})
}

// namespaceSep separates a multi-level namespace's parts in a path
// segment or query parameter (the spec's default, %1F encoded).
const namespaceSep = "\x1f"

// namespace is the {namespace} path parameter, decoded.
func namespace(r *http.Request) table.Identifier {
	return strings.Split(r.PathValue("namespace"), namespaceSep)
}

func ident(r *http.Request) table.Identifier {
	return append(namespace(r), r.PathValue("table"))
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeError(w, r, http.StatusBadRequest, errBadRequest, "malformed request body: "+err.Error())
		return false
	}
	return true
}

// page cuts a sorted list at the request's pageToken (an offset) and
// pageSize, returning the next page's token ("" on the last page).
func page[T any](w http.ResponseWriter, r *http.Request, all []T) ([]T, string, bool) {
	q := r.URL.Query()
	from, size := 0, len(all)
	if t := q.Get("pageToken"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 || n > len(all) {
			writeError(w, r, http.StatusBadRequest, errBadRequest, fmt.Sprintf("pageToken %q", t))
			return nil, "", false
		}
		from = n
	}
	if p := q.Get("pageSize"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			writeError(w, r, http.StatusBadRequest, errBadRequest, fmt.Sprintf("pageSize %q", p))
			return nil, "", false
		}
		size = n
	}
	to := min(from+size, len(all))
	next := ""
	if to < len(all) {
		next = strconv.Itoa(to)
	}
	return all[from:to], next, true
}

func (s *Server) listNamespaces(w http.ResponseWriter, r *http.Request) {
	var parent table.Identifier
	if p := r.URL.Query().Get("parent"); p != "" {
		parent = strings.Split(p, namespaceSep)
	}
	found, err := s.cat.ListNamespaces(r.Context(), parent)
	if err != nil {
		writeCatalogError(w, r, err)
		return
	}
	// The parent's children only (the SQL catalog lists the parent and
	// every level below it too).
	var all []table.Identifier
	for _, ns := range found {
		if len(ns) == len(parent)+1 && slices.Equal(ns[:len(parent)], parent) && !slices.ContainsFunc(all, func(id table.Identifier) bool { return slices.Equal(id, ns) }) {
			all = append(all, ns)
		}
	}
	slices.SortFunc(all, func(a, b table.Identifier) int { return slices.Compare(a, b) })
	got, next, ok := page(w, r, all)
	if !ok {
		return
	}
	if got == nil {
		got = []table.Identifier{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"namespaces": got, "next-page-token": nullable(next)})
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) createNamespace(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Namespace  table.Identifier `json:"namespace"`
		Properties ice.Properties   `json:"properties"`
	}
	if !decode(w, r, &req) {
		return
	}
	if len(req.Namespace) == 0 || slices.Contains(req.Namespace, "") {
		writeError(w, r, http.StatusBadRequest, errBadRequest, "namespace: want one or more non-empty levels")
		return
	}
	if err := s.cat.CreateNamespace(r.Context(), req.Namespace, req.Properties); err != nil {
		writeCatalogError(w, r, err)
		return
	}
	props, err := s.cat.LoadNamespaceProperties(r.Context(), req.Namespace)
	if err != nil {
		writeCatalogError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"namespace": req.Namespace, "properties": props})
}

func (s *Server) loadNamespace(w http.ResponseWriter, r *http.Request) {
	ns := namespace(r)
	props, err := s.cat.LoadNamespaceProperties(r.Context(), ns)
	if err != nil {
		writeCatalogError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"namespace": ns, "properties": props})
}

func (s *Server) namespaceExists(w http.ResponseWriter, r *http.Request) {
	ok, err := s.cat.CheckNamespaceExists(r.Context(), namespace(r))
	writeExists(w, r, ok, err)
}

// writeExists answers a HEAD: 204 if it exists, 404 if not.
func writeExists(w http.ResponseWriter, r *http.Request, ok bool, err error) {
	switch {
	case err != nil:
		writeCatalogError(w, r, err)
	case !ok:
		w.WriteHeader(http.StatusNotFound)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) dropNamespace(w http.ResponseWriter, r *http.Request) {
	if err := s.cat.DropNamespace(r.Context(), namespace(r)); err != nil {
		writeCatalogError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) updateNamespace(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Removals []string       `json:"removals"`
		Updates  ice.Properties `json:"updates"`
	}
	if !decode(w, r, &req) {
		return
	}
	sum, err := s.cat.UpdateNamespaceProperties(r.Context(), namespace(r), req.Removals, req.Updates)
	if err != nil {
		writeCatalogError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

func (s *Server) listTables(w http.ResponseWriter, r *http.Request) {
	type identifier struct {
		Namespace []string `json:"namespace"`
		Name      string   `json:"name"`
	}
	all := []identifier{}
	for id, err := range s.cat.ListTables(r.Context(), namespace(r)) {
		if err != nil {
			writeCatalogError(w, r, err)
			return
		}
		all = append(all, identifier{Namespace: catalog.NamespaceFromIdent(id), Name: catalog.TableNameFromIdent(id)})
	}
	slices.SortFunc(all, func(a, b identifier) int { return strings.Compare(a.Name, b.Name) })
	got, next, ok := page(w, r, all)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"identifiers": got, "next-page-token": nullable(next)})
}

// loadResult is the spec's LoadTableResult (and, without config,
// CommitTableResponse).
type loadResult struct {
	MetadataLocation string         `json:"metadata-location"`
	Metadata         table.Metadata `json:"metadata"`
	Config           ice.Properties `json:"config,omitempty"`
}

func (s *Server) createTable(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name          string                    `json:"name"`
		Schema        *ice.Schema               `json:"schema"`
		Location      string                    `json:"location"`
		PartitionSpec *ice.UnboundPartitionSpec `json:"partition-spec"`
		WriteOrder    *table.UnboundSortOrder   `json:"write-order"`
		StageCreate   bool                      `json:"stage-create"`
		Properties    ice.Properties            `json:"properties"`
	}
	if !decode(w, r, &req) {
		return
	}
	switch {
	case req.Name == "" || req.Schema == nil:
		writeError(w, r, http.StatusBadRequest, errBadRequest, "name and schema are required")
		return
	case req.StageCreate:
		writeError(w, r, http.StatusBadRequest, errBadRequest, "stage-create is not supported by this catalog")
		return
	}
	// Bound through the request's schema, as table.NewMetadata does
	// for any catalog (the spec's source ids are the request's).
	var opts []catalog.CreateTableOpt
	if req.Location != "" {
		opts = append(opts, catalog.WithLocation(req.Location))
	}
	if req.PartitionSpec != nil {
		opts = append(opts, catalog.WithPartitionSpec(&req.PartitionSpec.PartitionSpec))
	}
	if req.WriteOrder != nil {
		opts = append(opts, catalog.WithSortOrder(req.WriteOrder.SortOrder))
	}
	if req.Properties != nil {
		opts = append(opts, catalog.WithProperties(req.Properties))
	}
	id := append(namespace(r), req.Name)
	tbl, err := s.cat.CreateTable(r.Context(), id, req.Schema, opts...)
	if err != nil {
		writeCatalogError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, loadResult{MetadataLocation: tbl.MetadataLocation(), Metadata: tbl.Metadata(), Config: ice.Properties{}})
}

func (s *Server) loadTable(w http.ResponseWriter, r *http.Request) {
	if m := r.URL.Query().Get("snapshots"); m != "" && m != "all" && m != "refs" {
		writeError(w, r, http.StatusBadRequest, errBadRequest, fmt.Sprintf("snapshots %q: want all or refs", m))
		return
	}
	// snapshots=refs may return every snapshot (the spec lets it).
	tbl, err := s.cat.LoadTable(r.Context(), ident(r))
	if err != nil {
		writeCatalogError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, loadResult{MetadataLocation: tbl.MetadataLocation(), Metadata: tbl.Metadata(), Config: ice.Properties{}})
}

func (s *Server) tableExists(w http.ResponseWriter, r *http.Request) {
	ok, err := s.cat.CheckTableExists(r.Context(), ident(r))
	writeExists(w, r, ok, err)
}

func (s *Server) dropTable(w http.ResponseWriter, r *http.Request) {
	drop := s.cat.DropTable
	if r.URL.Query().Get("purgeRequested") == "true" {
		drop = s.cat.PurgeTable
	}
	if err := drop(r.Context(), ident(r)); err != nil {
		writeCatalogError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// commitTable is the spec's updateTable: the requirements are checked
// against the table's current metadata (a failed one is 409
// CommitFailedException: the client reloads and retries), then the
// updates applied and a new metadata file written.
func (s *Server) commitTable(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Identifier *struct {
			Namespace []string `json:"namespace"`
			Name      string   `json:"name"`
		} `json:"identifier"`
		Requirements table.Requirements `json:"requirements"`
		Updates      table.Updates      `json:"updates"`
	}
	if !decode(w, r, &req) {
		return
	}
	id := ident(r)
	if in := req.Identifier; in != nil && !slices.Equal(append(slices.Clone(in.Namespace), in.Name), id) {
		writeError(w, r, http.StatusBadRequest, errBadRequest, fmt.Sprintf("identifier %v does not match the path's %v", append(in.Namespace, in.Name), id))
		return
	}
	ctx := r.Context()
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	var current table.Metadata
	tbl, err := s.cat.LoadTable(ctx, id)
	switch {
	case err == nil:
		current = tbl.Metadata()
	case errors.Is(err, catalog.ErrNoSuchTable) && !slices.ContainsFunc(req.Requirements, isAssertCreate):
		writeCatalogError(w, r, err)
		return
	case !errors.Is(err, catalog.ErrNoSuchTable):
		writeCatalogError(w, r, err)
		return
	}
	for _, q := range req.Requirements {
		if err := q.Validate(current); err != nil {
			writeError(w, r, http.StatusConflict, errCommitFailed, err.Error())
			return
		}
	}
	meta, loc, err := s.cat.CommitTable(ctx, id, req.Requirements, req.Updates)
	if err != nil {
		writeCatalogError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, loadResult{MetadataLocation: loc, Metadata: meta})
}

func isAssertCreate(q table.Requirement) bool { return q.GetType() == "assert-create" }

var _ http.Handler = (*Server)(nil)
