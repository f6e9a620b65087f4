package icebergrest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
)

// start serves a simulated catalog with a prefix and a warehouse name,
// and records the escaped paths it was asked for.
func start(t *testing.T) (*Server, *httptest.Server, *[]string) {
	t.Helper()
	s, err := New(context.Background(), Options{Dir: t.TempDir(), Warehouse: "lake", Prefix: "wh-7"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.EscapedPath())
		mu.Unlock()
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return s, srv, &paths
}

func client(t *testing.T, uri string, opts ...rest.Option) *rest.Catalog {
	t.Helper()
	cat, err := rest.NewCatalog(context.Background(), "test", uri, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return cat
}

// errorBody is the spec's IcebergErrorResponse.
type errorBody struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    int    `json:"code"`
	} `json:"error"`
}

// raw sends a request with a bearer token (none if ""), returning the
// status and the decoded error body.
func raw(t *testing.T, method, u, tok string) (int, errorBody) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	var e errorBody
	b, _ := io.ReadAll(rsp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &e); err != nil {
			t.Errorf("%s %s: body %q is not JSON: %v", method, u, b, err)
		}
	}
	return rsp.StatusCode, e
}

func TestAuth(t *testing.T) {
	t.Parallel()
	s, srv, _ := start(t)
	ctx := context.Background()

	// A wrong secret: 401 with the OAuth error body, which the client
	// reports as an OAuth error.
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {ClientID}, "client_secret": {"nope"}, "scope": {"catalog"}}
	rsp, err := http.PostForm(srv.URL+"/v1/oauth/tokens", form)
	if err != nil {
		t.Fatal(err)
	}
	var oe map[string]string
	json.NewDecoder(rsp.Body).Decode(&oe)
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusUnauthorized || oe["error"] != "invalid_client" {
		t.Errorf("wrong secret: %d %v, want 401 invalid_client", rsp.StatusCode, oe)
	}
	form.Set("grant_type", "password")
	if rsp, err = http.PostForm(srv.URL+"/v1/oauth/tokens", form); err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(rsp.Body).Decode(&oe)
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusBadRequest || oe["error"] != "unsupported_grant_type" {
		t.Errorf("password grant: %d %v, want 400 unsupported_grant_type", rsp.StatusCode, oe)
	}
	if _, err := rest.NewCatalog(ctx, "test", srv.URL, rest.WithCredential(ClientID+":nope")); !errors.Is(err, rest.ErrOAuthError) || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("client with a wrong secret: %v, want an OAuth invalid_client error", err)
	}

	// No token, or an unknown one: 401 NotAuthorizedException.
	for _, tok := range []string{"", "ice_forged"} {
		code, e := raw(t, http.MethodGet, srv.URL+"/v1/config", tok)
		if code != http.StatusUnauthorized || e.Error.Type != "NotAuthorizedException" || e.Error.Code != 401 {
			t.Errorf("token %q: %d %+v, want 401 NotAuthorizedException", tok, code, e)
		}
	}
	if _, err := rest.NewCatalog(ctx, "test", srv.URL, rest.WithOAuthToken("ice_forged")); !errors.Is(err, rest.ErrUnauthorized) {
		t.Errorf("client with a forged token: %v, want ErrUnauthorized", err)
	}

	// A right credential, an issued token; a token expired.
	client(t, srv.URL, rest.WithCredential(Credential))
	tok := s.Token()
	cat := client(t, srv.URL, rest.WithOAuthToken(tok))
	s.ExpireTokens()
	if _, err := cat.ListNamespaces(ctx, nil); !errors.Is(err, rest.ErrUnauthorized) {
		t.Errorf("an expired token: %v, want ErrUnauthorized", err)
	}

	// Another warehouse than the catalog's.
	if _, err := rest.NewCatalog(ctx, "test", srv.URL, rest.WithCredential(Credential), rest.WithWarehouseLocation("other")); !errors.Is(err, rest.ErrBadRequest) {
		t.Errorf("an unknown warehouse: %v, want ErrBadRequest", err)
	}
}

func TestNamespacesAndTables(t *testing.T) {
	t.Parallel()
	s, srv, paths := start(t)
	ctx := context.Background()
	cat := client(t, srv.URL, rest.WithCredential(Credential), rest.WithWarehouseLocation("lake"))

	// Namespaces, one of two levels.
	ns := table.Identifier{"sports", "lake"}
	for _, n := range []table.Identifier{{"sports"}, ns} {
		if err := cat.CreateNamespace(ctx, n, ice.Properties{"owner": "athlake"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cat.CreateNamespace(ctx, ns, nil); !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		t.Errorf("creating it again: %v, want ErrNamespaceAlreadyExists", err)
	}
	if ok, err := cat.CheckNamespaceExists(ctx, ns); !ok || err != nil {
		t.Errorf("exists: %v %v", ok, err)
	}
	if ok, err := cat.CheckNamespaceExists(ctx, table.Identifier{"nope"}); ok || err != nil {
		t.Errorf("a missing namespace exists: %v %v", ok, err)
	}
	if props, err := cat.LoadNamespaceProperties(ctx, ns); err != nil || props["owner"] != "athlake" {
		t.Errorf("properties %v, %v", props, err)
	}
	if _, err := cat.LoadNamespaceProperties(ctx, table.Identifier{"nope"}); !errors.Is(err, catalog.ErrNoSuchNamespace) {
		t.Errorf("loading a missing namespace: %v", err)
	}
	top, err := cat.ListNamespaces(ctx, nil)
	if err != nil || len(top) != 1 || !slices.Equal(top[0], table.Identifier{"sports"}) {
		t.Errorf("top namespaces %v, %v", top, err)
	}
	if sub, err := cat.ListNamespaces(ctx, table.Identifier{"sports"}); err != nil || len(sub) != 1 || !slices.Equal(sub[0], ns) {
		t.Errorf("namespaces under sports: %v, %v", sub, err)
	}

	// A partitioned table.
	sc := ice.NewSchema(0,
		ice.NestedField{ID: 1, Name: "id", Type: ice.PrimitiveTypes.String, Required: true},
		ice.NestedField{ID: 2, Name: "day", Type: ice.PrimitiveTypes.Date, Required: false},
		ice.NestedField{ID: 3, Name: "value", Type: ice.PrimitiveTypes.Float64, Required: false},
	)
	spec := ice.NewPartitionSpec(ice.PartitionField{SourceIDs: []int{2}, FieldID: 1000, Name: "day_month", Transform: ice.MonthTransform{}})
	id := append(slices.Clone(ns), "sets")
	loc := "file://" + t.TempDir() + "/sets"
	tbl, err := cat.CreateTable(ctx, id, sc, catalog.WithPartitionSpec(&spec), catalog.WithLocation(loc),
		catalog.WithProperties(ice.Properties{"format-version": "2"}))
	if err != nil {
		t.Fatal(err)
	}
	gotSpec := tbl.Spec()
	if tbl.Location() != loc || gotSpec.NumFields() != 1 || tbl.Metadata().Version() != 2 {
		t.Errorf("created at %s with %d partition fields, format %d", tbl.Location(), gotSpec.NumFields(), tbl.Metadata().Version())
	}
	if _, err := cat.CreateTable(ctx, id, sc); !errors.Is(err, catalog.ErrTableAlreadyExists) {
		t.Errorf("creating it again: %v, want ErrTableAlreadyExists", err)
	}
	if _, err := cat.CreateTable(ctx, table.Identifier{"nope", "t"}, sc); !errors.Is(err, catalog.ErrNoSuchNamespace) {
		t.Errorf("creating in a missing namespace: %v, want ErrNoSuchNamespace", err)
	}
	if ok, err := cat.CheckTableExists(ctx, id); !ok || err != nil {
		t.Errorf("exists: %v %v", ok, err)
	}
	if ok, err := cat.CheckTableExists(ctx, append(slices.Clone(ns), "nope")); ok || err != nil {
		t.Errorf("a missing table exists: %v %v", ok, err)
	}
	if _, err := cat.LoadTable(ctx, append(slices.Clone(ns), "nope")); !errors.Is(err, catalog.ErrNoSuchTable) {
		t.Errorf("loading a missing table: %v", err)
	}
	var listed []table.Identifier
	for id, err := range cat.ListTables(ctx, ns) {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, id)
	}
	if len(listed) != 1 || !slices.Equal(listed[0], id) {
		t.Errorf("tables %v", listed)
	}

	// Data appended: a snapshot through a commit, read back.
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	asc, err := table.SchemaToArrowSchema(tbl.Schema(), nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(mem, asc)
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"a", "b"}, nil)
	b.Field(1).(*array.Date32Builder).AppendValues([]arrow.Date32{20000, 20040}, nil)
	b.Field(2).(*array.Float64Builder).AppendValues([]float64{1.5, 2.5}, nil)
	rec := b.NewRecordBatch()
	b.Release()
	at := array.NewTableFromRecords(asc, []arrow.RecordBatch{rec})
	rec.Release()
	if tbl, err = tbl.AppendTable(ctx, at, 100, nil); err != nil {
		t.Fatal(err)
	}
	at.Release()
	tbl, err = cat.LoadTable(ctx, id)
	if err != nil || tbl.CurrentSnapshot() == nil {
		t.Fatalf("after the append: %v", err)
	}
	got, err := tbl.Scan().ToArrowTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.NumRows() != 2 {
		t.Errorf("%d rows read back, want 2", got.NumRows())
	}
	got.Release()

	// Requirements: a commit on a stale snapshot, or another table's
	// UUID, fails with 409 CommitFailedException and changes nothing.
	snap := tbl.CurrentSnapshot().SnapshotID
	stale := snap - 1
	for name, req := range map[string]table.Requirement{
		"stale snapshot": table.AssertRefSnapshotID("main", &stale),
		"no snapshot":    table.AssertRefSnapshotID("main", nil),
		"other uuid":     table.AssertTableUUID(uuid.New()),
		"schema id":      table.AssertCurrentSchemaID(7),
		"create":         table.AssertCreate(),
	} {
		_, _, err := cat.CommitTable(ctx, id, []table.Requirement{req}, []table.Update{table.NewSetPropertiesUpdate(ice.Properties{"x": name})})
		if !errors.Is(err, table.ErrCommitFailed) || !strings.Contains(err.Error(), "CommitFailedException") {
			t.Errorf("%s: %v, want a 409 CommitFailedException", name, err)
		}
	}
	meta, _, err := cat.CommitTable(ctx, id, []table.Requirement{table.AssertRefSnapshotID("main", &snap), table.AssertTableUUID(tbl.Metadata().TableUUID())},
		[]table.Update{table.NewSetPropertiesUpdate(ice.Properties{"x": "ok"})})
	if err != nil || meta.Properties()["x"] != "ok" {
		t.Errorf("a commit meeting its requirements: %v, properties %v", err, meta.Properties())
	}
	if tbl, _ = cat.LoadTable(ctx, id); tbl.Properties()["x"] != "ok" {
		t.Errorf("after the commits: x=%q, want ok (only the commit that met its requirements applied)", tbl.Properties()["x"])
	}
	if _, _, err := cat.CommitTable(ctx, append(slices.Clone(ns), "nope"), nil, []table.Update{table.NewSetPropertiesUpdate(ice.Properties{"x": "y"})}); !errors.Is(err, catalog.ErrNoSuchTable) {
		t.Errorf("committing to a missing table: %v, want ErrNoSuchTable", err)
	}

	// The wire: the prefix from the config, a two-level namespace
	// joined by %1F, the spec's error bodies.
	if !slices.Contains(*paths, "GET /v1/wh-7/namespaces/sports%1Flake/tables/sets") {
		t.Errorf("no load of sports.lake.sets under the prefix with %%1F in %v", *paths)
	}
	tok := s.Token()
	for _, c := range []struct {
		method, path, typ string
		code              int
	}{
		{"GET", "/v1/wh-7/namespaces/sports%1Flake/tables/nope", "NoSuchTableException", 404},
		{"GET", "/v1/wh-7/namespaces/nope", "NoSuchNamespaceException", 404},
		{"DELETE", "/v1/wh-7/namespaces/sports%1Flake", "NamespaceNotEmptyException", 409},
		{"GET", "/v1/namespaces/sports%1Flake/tables/sets", "NoSuchEndpointException", 404}, // without the prefix
	} {
		code, e := raw(t, c.method, srv.URL+c.path, tok)
		if code != c.code || e.Error.Type != c.typ || e.Error.Code != c.code || e.Error.Message == "" {
			t.Errorf("%s %s: %d %+v, want %d %s", c.method, c.path, code, e, c.code, c.typ)
		}
	}

	// Drops.
	if err := cat.DropNamespace(ctx, ns); !errors.Is(err, catalog.ErrNamespaceNotEmpty) {
		t.Errorf("dropping a namespace with a table: %v, want ErrNamespaceNotEmpty", err)
	}
	if err := cat.DropTable(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := cat.DropTable(ctx, id); !errors.Is(err, catalog.ErrNoSuchTable) {
		t.Errorf("dropping it again: %v, want ErrNoSuchTable", err)
	}
	if err := cat.DropNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if ok, _ := cat.CheckNamespaceExists(ctx, ns); ok {
		t.Error("a dropped namespace exists")
	}
}

// TestPaging: lists come in the client's page size, all of them.
func TestPaging(t *testing.T) {
	t.Parallel()
	_, srv, paths := start(t)
	ctx := context.Background()
	cat := client(t, srv.URL, rest.WithCredential(Credential))
	var want []string
	for i := range 7 {
		n := string(rune('a' + i))
		want = append(want, n)
		if err := cat.CreateNamespace(ctx, table.Identifier{n}, nil); err != nil {
			t.Fatal(err)
		}
	}
	got, err := cat.ListNamespaces(cat.SetPageSize(ctx, 3), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, id := range got {
		names = append(names, id[0])
	}
	if !slices.Equal(names, want) {
		t.Errorf("namespaces %v, want %v", names, want)
	}
	pages := 0
	for _, p := range *paths {
		if strings.HasPrefix(p, "GET /v1/wh-7/namespaces") {
			pages++
		}
	}
	if pages != 3 {
		t.Errorf("%d pages of 3 for 7 namespaces, want 3", pages)
	}
}
