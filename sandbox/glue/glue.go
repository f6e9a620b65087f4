// Package glue simulates the AWS Glue Data Catalog API as the
// aws-sdk-go-v2 Glue client speaks it — the AWS JSON 1.1 protocol
// (POST /, X-Amz-Target: AWSGlue.<Operation>, application/x-amz-json-1.1)
// — for the operations iceberg-go's Glue catalog calls: databases
// (create, get, list, update, delete) and tables (create, get, list in
// pages, update with VersionId optimistic concurrency, delete). Requests
// must be SigV4-signed with the simulator's key pair, as Glue checks them;
// errors have Glue's shape, {"__type": ..., "Message": ...} with HTTP 400.
package glue

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/athlake/athlake/sandbox/internal/httpw"
)

// Options configure a Server.
type Options struct {
	// AccessKey and SecretKey are the one key pair requests must be
	// signed with.
	AccessKey, SecretKey string
	// AccountID is the catalog's id (default 123456789012): a request
	// naming another CatalogId is denied.
	AccountID string
	// Region, if set, is the only region a signature may be scoped to.
	Region string
	// PageSize bounds GetTables and GetDatabases pages (default 100,
	// Glue's maximum); tests lower it to see the pagination.
	PageSize int
	// Hook, if set, runs before each operation is applied, outside the
	// simulator's lock (tests commit concurrently from it).
	Hook func(op string, body []byte)
	// Now is the clock of CreateTime and UpdateTime (default time.Now).
	Now func() time.Time
}

// Server is a Glue Data Catalog in memory; it is an http.Handler.
type Server struct {
	o Options

	mu    sync.Mutex
	dbs   map[string]*database
	calls map[string]int
}

type database struct {
	input  map[string]json.RawMessage // DatabaseInput as sent
	create time.Time
	tables map[string]*glueTable
}

type glueTable struct {
	input          map[string]json.RawMessage // TableInput as last sent
	create, update time.Time
	version        int
	archived       int // versions kept for GetTableVersions (not served)
}

// New returns an empty catalog.
func New(o Options) *Server {
	if o.AccountID == "" {
		o.AccountID = "123456789012"
	}
	if o.PageSize <= 0 || o.PageSize > 100 {
		o.PageSize = 100
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Server{o: o, dbs: map[string]*database{}, calls: map[string]int{}}
}

// Calls counts the operations served (signed and authorised), by name.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// TableParameters returns a table's Parameters and VersionId, as GetTable
// would (ok false: no such table).
func (s *Server) TableParameters(db, name string) (params map[string]string, version string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dbs[strings.ToLower(db)]
	if d == nil {
		return nil, "", false
	}
	t := d.tables[strings.ToLower(name)]
	if t == nil {
		return nil, "", false
	}
	json.Unmarshal(t.input["Parameters"], &params)
	return params, strconv.Itoa(t.version), true
}

// Archived counts the versions of a table UpdateTable archived (those
// not sent with SkipArchive).
func (s *Server) Archived(db, name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.dbs[strings.ToLower(db)]; d != nil {
		if t := d.tables[strings.ToLower(name)]; t != nil {
			return t.archived
		}
	}
	return 0
}

// Tables lists a database's table names, sorted.
func (s *Server) Tables(db string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dbs[strings.ToLower(db)]
	if d == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(d.tables))
}

// apiError is a Glue error: its __type and message, sent with status.
type apiError struct {
	status int
	typ    string
	msg    string
	lower  bool // the auth layer spells it "message"
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func errorf(typ, format string, a ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: typ, msg: fmt.Sprintf(format, a...)}
}

// ServeHTTP serves one Glue request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		return
	}
	out, aerr := s.serve(r, body)
	h := map[string]string{
		"Content-Type":     "application/x-amz-json-1.1",
		"X-Amzn-Requestid": requestID(),
	}
	if aerr != nil {
		key := "Message"
		if aerr.lower {
			key = "message"
		}
		b, _ := json.Marshal(map[string]string{"__type": aerr.typ, key: aerr.msg})
		httpw.Write(w, time.Now(), aerr.status, h, b)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		aerr := errorf("InternalServiceException", "%v", err)
		b, _ = json.Marshal(map[string]string{"__type": aerr.typ, "Message": aerr.msg})
		httpw.Write(w, time.Now(), http.StatusInternalServerError, h, b)
		return
	}
	httpw.Write(w, time.Now(), http.StatusOK, h, b)
}

func requestID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// operations are the served operations' handlers.
var operations = map[string]func(s *Server, in request) (any, *apiError){
	"CreateDatabase": (*Server).createDatabase,
	"GetDatabase":    (*Server).getDatabase,
	"GetDatabases":   (*Server).getDatabases,
	"UpdateDatabase": (*Server).updateDatabase,
	"DeleteDatabase": (*Server).deleteDatabase,
	"CreateTable":    (*Server).createTable,
	"GetTable":       (*Server).getTable,
	"GetTables":      (*Server).getTables,
	"UpdateTable":    (*Server).updateTable,
	"DeleteTable":    (*Server).deleteTable,
}

// request is the union of the served operations' inputs.
type request struct {
	CatalogId     *string
	Name          *string
	DatabaseName  *string
	DatabaseInput map[string]json.RawMessage
	TableInput    map[string]json.RawMessage
	VersionId     *string
	SkipArchive   *bool
	NextToken     *string
	MaxResults    *int
	Expression    *string
}

func (s *Server) serve(r *http.Request, body []byte) (any, *apiError) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return nil, &apiError{status: http.StatusNotFound, typ: "UnknownOperationException", msg: r.Method + " " + r.URL.Path}
	}
	if err := s.authenticate(r, body); err != nil {
		return nil, err
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "AWSGlue.")
	fn := operations[op]
	if !ok || fn == nil {
		return nil, errorf("UnknownOperationException", "%q is not an operation this simulator serves", target)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		return nil, errorf("SerializationException", "Content-Type %q: want application/x-amz-json-1.1", ct)
	}
	var in request
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, errorf("SerializationException", "%v", err)
	}
	if in.CatalogId != nil && *in.CatalogId != s.o.AccountID {
		return nil, errorf("AccessDeniedException", "User is not authorized to perform: glue:%s on resource: arn:aws:glue:%s:%s:catalog", op, s.region(), *in.CatalogId)
	}
	if s.o.Hook != nil {
		s.o.Hook(op, body)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	return fn(s, in)
}

func (s *Server) region() string {
	if s.o.Region == "" {
		return "us-east-1"
	}
	return s.o.Region
}

// lookupDB returns the database named in, or Glue's EntityNotFoundException.
func (s *Server) lookupDB(name *string) (*database, string, *apiError) {
	if name == nil || *name == "" {
		return nil, "", errorf("InvalidInputException", "DatabaseName is required")
	}
	n := strings.ToLower(*name)
	d := s.dbs[n]
	if d == nil {
		return nil, n, errorf("EntityNotFoundException", "Database %s not found.", n)
	}
	return d, n, nil
}

func inputName(in map[string]json.RawMessage, what string) (string, *apiError) {
	var n string
	if err := json.Unmarshal(in["Name"], &n); err != nil || n == "" {
		return "", errorf("InvalidInputException", "%s.Name is required", what)
	}
	if len(n) > 255 {
		return "", errorf("InvalidInputException", "%s.Name is longer than 255 characters", what)
	}
	return strings.ToLower(n), nil
}

func epoch(t time.Time) json.Number {
	return json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64))
}

func (s *Server) createDatabase(in request) (any, *apiError) {
	if in.DatabaseInput == nil {
		return nil, errorf("InvalidInputException", "DatabaseInput is required")
	}
	n, err := inputName(in.DatabaseInput, "DatabaseInput")
	if err != nil {
		return nil, err
	}
	if s.dbs[n] != nil {
		return nil, errorf("AlreadyExistsException", "Database already exists.")
	}
	s.dbs[n] = &database{input: in.DatabaseInput, create: s.o.Now(), tables: map[string]*glueTable{}}
	return struct{}{}, nil
}

func (s *Server) databaseOut(name string, d *database) map[string]any {
	out := map[string]any{}
	for k, v := range d.input {
		out[k] = v
	}
	out["Name"] = name
	out["CreateTime"] = epoch(d.create)
	out["CatalogId"] = s.o.AccountID
	return out
}

func (s *Server) getDatabase(in request) (any, *apiError) {
	d, n, err := s.lookupDB(in.Name)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Database": s.databaseOut(n, d)}, nil
}

func (s *Server) getDatabases(in request) (any, *apiError) {
	names := slices.Sorted(maps.Keys(s.dbs))
	page, next, err := s.page(names, in)
	if err != nil {
		return nil, err
	}
	list := []any{}
	for _, n := range page {
		list = append(list, s.databaseOut(n, s.dbs[n]))
	}
	return pageOut("DatabaseList", list, next), nil
}

func (s *Server) updateDatabase(in request) (any, *apiError) {
	d, _, err := s.lookupDB(in.Name)
	if err != nil {
		return nil, err
	}
	if in.DatabaseInput == nil {
		return nil, errorf("InvalidInputException", "DatabaseInput is required")
	}
	d.input = in.DatabaseInput
	return struct{}{}, nil
}

// deleteDatabase drops the database and, as Glue does, its tables.
func (s *Server) deleteDatabase(in request) (any, *apiError) {
	_, n, err := s.lookupDB(in.Name)
	if err != nil {
		return nil, err
	}
	delete(s.dbs, n)
	return struct{}{}, nil
}

func (s *Server) createTable(in request) (any, *apiError) {
	d, _, err := s.lookupDB(in.DatabaseName)
	if err != nil {
		return nil, err
	}
	if in.TableInput == nil {
		return nil, errorf("InvalidInputException", "TableInput is required")
	}
	n, err := inputName(in.TableInput, "TableInput")
	if err != nil {
		return nil, err
	}
	if d.tables[n] != nil {
		return nil, errorf("AlreadyExistsException", "Table already exists.")
	}
	now := s.o.Now()
	d.tables[n] = &glueTable{input: in.TableInput, create: now, update: now}
	return struct{}{}, nil
}

func (s *Server) tableOut(db, name string, t *glueTable) map[string]any {
	out := map[string]any{}
	for k, v := range t.input {
		out[k] = v
	}
	out["Name"] = name
	out["DatabaseName"] = db
	out["CreateTime"] = epoch(t.create)
	out["UpdateTime"] = epoch(t.update)
	out["VersionId"] = strconv.Itoa(t.version)
	out["CatalogId"] = s.o.AccountID
	out["IsRegisteredWithLakeFormation"] = false
	return out
}

func (s *Server) lookupTable(in request) (*database, string, *glueTable, string, *apiError) {
	d, dn, err := s.lookupDB(in.DatabaseName)
	if err != nil {
		return nil, "", nil, "", err
	}
	if in.Name == nil || *in.Name == "" {
		return nil, "", nil, "", errorf("InvalidInputException", "Name is required")
	}
	n := strings.ToLower(*in.Name)
	t := d.tables[n]
	if t == nil {
		return nil, "", nil, "", errorf("EntityNotFoundException", "Table %s not found.", n)
	}
	return d, dn, t, n, nil
}

func (s *Server) getTable(in request) (any, *apiError) {
	_, dn, t, n, err := s.lookupTable(in)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Table": s.tableOut(dn, n, t)}, nil
}

func (s *Server) getTables(in request) (any, *apiError) {
	d, dn, err := s.lookupDB(in.DatabaseName)
	if err != nil {
		return nil, err
	}
	if in.Expression != nil && *in.Expression != "" {
		return nil, errorf("InvalidInputException", "Expression: not supported by the simulator")
	}
	page, next, err := s.page(slices.Sorted(maps.Keys(d.tables)), in)
	if err != nil {
		return nil, err
	}
	list := []any{}
	for _, n := range page {
		list = append(list, s.tableOut(dn, n, d.tables[n]))
	}
	return pageOut("TableList", list, next), nil
}

// updateTable replaces the table's definition. A VersionId other than
// the current one is a ConcurrentModificationException: Glue's
// optimistic lock, which iceberg-go's commits rely on.
func (s *Server) updateTable(in request) (any, *apiError) {
	if in.TableInput == nil {
		return nil, errorf("InvalidInputException", "TableInput is required")
	}
	n, err := inputName(in.TableInput, "TableInput")
	if err != nil {
		return nil, err
	}
	in.Name = &n
	_, _, t, _, err := s.lookupTable(in)
	if err != nil {
		return nil, err
	}
	if in.VersionId != nil && *in.VersionId != strconv.Itoa(t.version) {
		return nil, errorf("ConcurrentModificationException", "Update table failed due to concurrent modifications.")
	}
	t.input = in.TableInput
	t.update = s.o.Now()
	if in.SkipArchive == nil || !*in.SkipArchive {
		t.archived++
	}
	t.version++
	return struct{}{}, nil
}

func (s *Server) deleteTable(in request) (any, *apiError) {
	d, _, _, n, err := s.lookupTable(in)
	if err != nil {
		return nil, err
	}
	delete(d.tables, n)
	return struct{}{}, nil
}

// page cuts the sorted names after the request's NextToken (the last
// name of the page before, opaque to clients) to MaxResults.
func (s *Server) page(names []string, in request) ([]string, *string, *apiError) {
	size := s.o.PageSize
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, nil, errorf("InvalidInputException", "MaxResults must be between 1 and 100")
		}
		size = min(size, *in.MaxResults)
	}
	start := 0
	if in.NextToken != nil && *in.NextToken != "" {
		after, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		if err != nil {
			return nil, nil, errorf("InvalidInputException", "NextToken is invalid")
		}
		start, _ = slices.BinarySearch(names, string(after)+"\x00")
	}
	end := min(start+size, len(names))
	var next *string
	if end < len(names) {
		tok := base64.RawURLEncoding.EncodeToString([]byte(names[end-1]))
		next = &tok
	}
	return names[start:end], next, nil
}

func pageOut(key string, list []any, next *string) map[string]any {
	out := map[string]any{key: list}
	if next != nil {
		out["NextToken"] = *next
	}
	return out
}
