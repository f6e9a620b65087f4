package glue_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icecat "github.com/apache/iceberg-go/catalog/glue"
	"github.com/apache/iceberg-go/table"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsglue "github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/google/go-cmp/cmp"

	"github.com/athlake/athlake/sandbox/glue"
)

const (
	keyID  = "AKIASIMULATOR"
	secret = "glue-secret-0123456789"
)

// start serves a simulator; cfg reaches it signed with keyID and secret.
func start(t *testing.T, o glue.Options) (*glue.Server, aws.Config) {
	t.Helper()
	o.AccessKey, o.SecretKey = keyID, secret
	sim := glue.New(o)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, awsConfig(srv.URL, keyID, secret)
}

func awsConfig(endpoint, id, key string) aws.Config {
	return aws.Config{
		Region:           "eu-west-1",
		Credentials:      credentials.NewStaticCredentialsProvider(id, key, ""),
		BaseEndpoint:     aws.String(endpoint),
		RetryMaxAttempts: 1,
	}
}

// TestClient drives the simulator with the SDK's Glue client: databases,
// tables, Glue's errors, pages and the VersionId lock.
func TestClient(t *testing.T) {
	ctx := context.Background()
	_, cfg := start(t, glue.Options{PageSize: 2})
	c := awsglue.NewFromConfig(cfg)

	if _, err := c.CreateDatabase(ctx, &awsglue.CreateDatabaseInput{DatabaseInput: &types.DatabaseInput{Name: aws.String("Lake"), LocationUri: aws.String("s3://b/lake")}}); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateDatabase(ctx, &awsglue.CreateDatabaseInput{DatabaseInput: &types.DatabaseInput{Name: aws.String("lake")}})
	if !errors.As(err, new(*types.AlreadyExistsException)) {
		t.Errorf("a second CreateDatabase: %v, want AlreadyExistsException", err)
	}
	db, err := c.GetDatabase(ctx, &awsglue.GetDatabaseInput{Name: aws.String("lake")})
	if err != nil || aws.ToString(db.Database.LocationUri) != "s3://b/lake" || aws.ToString(db.Database.Name) != "lake" || db.Database.CreateTime == nil {
		t.Errorf("GetDatabase: %+v, %v", db, err)
	}
	_, err = c.GetDatabase(ctx, &awsglue.GetDatabaseInput{Name: aws.String("none")})
	if !errors.As(err, new(*types.EntityNotFoundException)) || !strings.Contains(err.Error(), "Database none not found") {
		t.Errorf("GetDatabase of a missing database: %v, want EntityNotFoundException", err)
	}
	_, err = c.CreateTable(ctx, &awsglue.CreateTableInput{DatabaseName: aws.String("none"), TableInput: &types.TableInput{Name: aws.String("t")}})
	if !errors.As(err, new(*types.EntityNotFoundException)) {
		t.Errorf("CreateTable in a missing database: %v, want EntityNotFoundException", err)
	}

	var names []string
	for _, n := range []string{"e", "b", "d", "a", "c"} {
		names = append(names, n)
		in := &types.TableInput{Name: aws.String(n), TableType: aws.String("EXTERNAL_TABLE"), Parameters: map[string]string{"table_type": "ICEBERG", "metadata_location": n + "/0"},
			StorageDescriptor: &types.StorageDescriptor{Location: aws.String("s3://b/lake/" + n), Columns: []types.Column{{Name: aws.String("id"), Type: aws.String("bigint")}}}}
		if _, err := c.CreateTable(ctx, &awsglue.CreateTableInput{DatabaseName: aws.String("lake"), TableInput: in}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(names)
	_, err = c.CreateTable(ctx, &awsglue.CreateTableInput{DatabaseName: aws.String("lake"), TableInput: &types.TableInput{Name: aws.String("A")}})
	if !errors.As(err, new(*types.AlreadyExistsException)) {
		t.Errorf("CreateTable of an existing table (other case): %v, want AlreadyExistsException", err)
	}
	var listed []string
	pages := 0
	for p := awsglue.NewGetTablesPaginator(c, &awsglue.GetTablesInput{DatabaseName: aws.String("lake")}); p.HasMorePages(); pages++ {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range out.TableList {
			listed = append(listed, aws.ToString(tb.Name))
		}
	}
	if d := cmp.Diff(names, listed); d != "" || pages != 3 {
		t.Errorf("GetTables in %d pages (-want +got):\n%s", pages, d)
	}

	got, err := c.GetTable(ctx, &awsglue.GetTableInput{DatabaseName: aws.String("lake"), Name: aws.String("c")})
	if err != nil {
		t.Fatal(err)
	}
	tb := got.Table
	if aws.ToString(tb.VersionId) != "0" || aws.ToString(tb.DatabaseName) != "lake" || tb.Parameters["metadata_location"] != "c/0" ||
		aws.ToString(tb.StorageDescriptor.Location) != "s3://b/lake/c" || aws.ToString(tb.StorageDescriptor.Columns[0].Type) != "bigint" {
		t.Errorf("GetTable: %+v", tb)
	}
	update := func(version, loc string) error {
		_, err := c.UpdateTable(ctx, &awsglue.UpdateTableInput{DatabaseName: aws.String("lake"), VersionId: aws.String(version), SkipArchive: aws.Bool(true),
			TableInput: &types.TableInput{Name: aws.String("c"), TableType: aws.String("EXTERNAL_TABLE"), Parameters: map[string]string{"table_type": "ICEBERG", "metadata_location": loc}}})
		return err
	}
	if err := update("0", "c/1"); err != nil {
		t.Fatal(err)
	}
	// A writer that read version 0 lost the race.
	if err := update("0", "c/lost"); !errors.As(err, new(*types.ConcurrentModificationException)) {
		t.Errorf("UpdateTable with a stale VersionId: %v, want ConcurrentModificationException", err)
	}
	if err := update("1", "c/2"); err != nil {
		t.Fatal(err)
	}
	got, err = c.GetTable(ctx, &awsglue.GetTableInput{DatabaseName: aws.String("lake"), Name: aws.String("c")})
	if err != nil || got.Table.Parameters["metadata_location"] != "c/2" || aws.ToString(got.Table.VersionId) != "2" {
		t.Errorf("after two updates: %+v, %v", got, err)
	}

	if _, err := c.DeleteTable(ctx, &awsglue.DeleteTableInput{DatabaseName: aws.String("lake"), Name: aws.String("c")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetTable(ctx, &awsglue.GetTableInput{DatabaseName: aws.String("lake"), Name: aws.String("c")})
	if !errors.As(err, new(*types.EntityNotFoundException)) {
		t.Errorf("GetTable of a deleted table: %v", err)
	}
	if _, err := c.DeleteDatabase(ctx, &awsglue.DeleteDatabaseInput{Name: aws.String("lake")}); err != nil {
		t.Fatal(err)
	}
	dbs, err := c.GetDatabases(ctx, &awsglue.GetDatabasesInput{})
	if err != nil || len(dbs.DatabaseList) != 0 {
		t.Errorf("GetDatabases after the delete: %+v, %v", dbs, err)
	}
}

// TestAuth: requests signed with another key id, another secret, or for
// another account's catalog are refused as Glue refuses them.
func TestAuth(t *testing.T) {
	ctx := context.Background()
	sim := glue.New(glue.Options{AccessKey: keyID, SecretKey: secret, Region: "eu-west-1"})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	get := func(cfg aws.Config, catalogID *string) error {
		_, err := awsglue.NewFromConfig(cfg).GetDatabases(ctx, &awsglue.GetDatabasesInput{CatalogId: catalogID})
		return err
	}
	if err := get(awsConfig(srv.URL, keyID, secret), nil); err != nil {
		t.Fatalf("the right keys: %v", err)
	}
	if err := get(awsConfig(srv.URL, keyID, secret), aws.String("123456789012")); err != nil {
		t.Fatalf("the own catalog id: %v", err)
	}
	other := awsConfig(srv.URL, keyID, secret)
	other.Region = "us-west-2"
	for name, c := range map[string]struct {
		cfg  aws.Config
		id   *string
		code string
	}{
		"key id":     {awsConfig(srv.URL, "AKIAOTHER", secret), nil, "UnrecognizedClientException"},
		"secret":     {awsConfig(srv.URL, keyID, "wrong-secret"), nil, "InvalidSignatureException"},
		"region":     {other, nil, "InvalidSignatureException"},
		"catalog id": {awsConfig(srv.URL, keyID, secret), aws.String("210987654321"), "AccessDeniedException"},
	} {
		err := get(c.cfg, c.id)
		var code interface{ ErrorCode() string }
		if !errors.As(err, &code) || code.ErrorCode() != c.code {
			t.Errorf("another %s: %v, want %s", name, err, c.code)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("another %s: the error holds the secret: %v", name, err)
		}
	}
	if n := sim.Calls()["GetDatabases"]; n != 2 {
		t.Errorf("%d GetDatabases served, want the 2 signed right", n)
	}
}

// TestIcebergCatalog runs iceberg-go's Glue catalog on the simulator:
// namespaces, a table created at a location, commits that move
// metadata_location (the old one kept as previous_metadata_location),
// listing in pages, a commit raced by another writer, and a drop.
func TestIcebergCatalog(t *testing.T) {
	ctx := context.Background()
	var (
		race  func()
		raced atomic.Bool
	)
	sim, cfg := start(t, glue.Options{PageSize: 1, Hook: func(op string, _ []byte) {
		if op == "UpdateTable" && race != nil && raced.CompareAndSwap(false, true) {
			race()
		}
	}})
	wh := filepath.ToSlash(t.TempDir())
	open := func() *icecat.Catalog {
		c, err := icecat.NewCatalog(icecat.WithAwsConfig(cfg), icecat.WithAwsProperties(icecat.AwsProperties{"warehouse": wh}))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cat := open()
	ns := catalog.ToIdentifier("athlake")
	if err := cat.CreateNamespace(ctx, ns, nil); err != nil {
		t.Fatal(err)
	}
	if err := cat.CreateNamespace(ctx, ns, nil); !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		t.Errorf("a second CreateNamespace: %v", err)
	}
	if ok, err := cat.CheckNamespaceExists(ctx, ns); !ok || err != nil {
		t.Errorf("CheckNamespaceExists: %v, %v", ok, err)
	}
	sc := ice.NewSchema(0, ice.NestedField{ID: 1, Name: "id", Type: ice.PrimitiveTypes.Int64, Required: true})
	for _, n := range []string{"b", "a", "c"} {
		if _, err := cat.CreateTable(ctx, catalog.ToIdentifier("athlake", n), sc, catalog.WithLocation(wh+"/athlake/"+n)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cat.CreateTable(ctx, catalog.ToIdentifier("athlake", "a"), sc); !errors.Is(err, catalog.ErrTableAlreadyExists) {
		t.Errorf("creating a table twice: %v", err)
	}
	var listed []string
	for id, err := range cat.ListTables(ctx, ns) {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, strings.Join(id, "."))
	}
	if d := cmp.Diff([]string{"athlake.a", "athlake.b", "athlake.c"}, listed); d != "" {
		t.Errorf("ListTables, one table a page (-want +got):\n%s", d)
	}

	ident := catalog.ToIdentifier("athlake", "a")
	setProps := func(tbl *table.Table, props ice.Properties) (*table.Table, error) {
		tx := tbl.NewTransaction()
		if err := tx.SetProperties(props); err != nil {
			return nil, err
		}
		return tx.Commit(ctx)
	}
	tbl, err := cat.LoadTable(ctx, ident)
	if err != nil {
		t.Fatal(err)
	}
	first := tbl.MetadataLocation()
	if !strings.HasPrefix(first, wh+"/athlake/a/metadata/") {
		t.Errorf("metadata at %s, want under the table's location", first)
	}
	if tbl, err = setProps(tbl, ice.Properties{"one": "1"}); err != nil {
		t.Fatal(err)
	}
	params, version, _ := sim.TableParameters("athlake", "a")
	if params["table_type"] != "ICEBERG" || params["metadata_location"] != tbl.MetadataLocation() || params["previous_metadata_location"] != first || version != "1" {
		t.Errorf("after a commit: parameters %v, version %s", params, version)
	}

	// Another writer commits between this one's GetTable and UpdateTable:
	// Glue's VersionId refuses the stale update, and iceberg-go retries
	// on the new metadata; nothing the other wrote is lost.
	race = func() {
		other, err := open().LoadTable(ctx, ident)
		if err == nil {
			_, err = setProps(other, ice.Properties{"raced": "yes"})
		}
		if err != nil {
			t.Errorf("the racing commit: %v", err)
		}
	}
	tbl, err = setProps(tbl, ice.Properties{"two": "2"})
	if err != nil && !errors.Is(err, table.ErrCommitFailed) {
		t.Fatal(err)
	}
	final, err := cat.LoadTable(ctx, ident)
	if err != nil {
		t.Fatal(err)
	}
	props := final.Properties()
	if props["raced"] != "yes" || props["one"] != "1" {
		t.Errorf("after a raced commit: properties %v: a commit was lost", props)
	}
	if err == nil && tbl != nil && props["two"] != "2" {
		t.Errorf("the retried commit returned no error but its properties are not there: %v", props)
	}
	if n := sim.Calls()["UpdateTable"]; n < 3 {
		t.Errorf("%d UpdateTable calls, want the first, the raced one, and a retry or a refusal", n)
	}

	if n := sim.Archived("athlake", "a"); n != 0 {
		t.Errorf("%d versions archived: iceberg-go's commits skip Glue's archive", n)
	}

	if err := cat.DropTable(ctx, ident); err != nil {
		t.Fatal(err)
	}
	if ok, err := cat.CheckTableExists(ctx, ident); ok || err != nil {
		t.Errorf("after the drop: exists %v, %v", ok, err)
	}
	if err := cat.DropNamespace(ctx, ns); !errors.Is(err, catalog.ErrNamespaceNotEmpty) {
		t.Errorf("dropping a namespace with tables: %v", err)
	}
}

// TestWire: what the simulator answers on the wire, as Glue does: JSON
// 1.1 errors with HTTP 400 and a __type, and no answer without a
// signature.
func TestWire(t *testing.T) {
	sim := glue.New(glue.Options{AccessKey: keyID, SecretKey: secret})
	for _, c := range []struct {
		name, target, auth string
		status             int
		typ                string
	}{
		{"unsigned", "AWSGlue.GetDatabases", "", 400, "MissingAuthenticationTokenException"},
		{"another key id", "AWSGlue.GetDatabases", "AWS4-HMAC-SHA256 Credential=AKIAOTHER/20260101/us-east-1/glue/aws4_request, SignedHeaders=host, Signature=00", 400, "UnrecognizedClientException"},
		{"no X-Amz-Date", "AWSGlue.GetDatabases", "AWS4-HMAC-SHA256 Credential=" + keyID + "/20260101/us-east-1/glue/aws4_request, SignedHeaders=host, Signature=00", 400, "IncompleteSignatureException"},
	} {
		r := httptest.NewRequest("POST", "/", strings.NewReader("{}"))
		r.Header.Set("X-Amz-Target", c.target)
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		w := httptest.NewRecorder()
		sim.ServeHTTP(w, r)
		var body map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: %v: %s", c.name, err, w.Body)
		}
		if w.Code != c.status || body["__type"] != c.typ || body["message"] == "" || w.Header().Get("Content-Type") != "application/x-amz-json-1.1" {
			t.Errorf("%s: %d %v %v, want %d %s", c.name, w.Code, w.Header(), body, c.status, c.typ)
		}
	}
}
