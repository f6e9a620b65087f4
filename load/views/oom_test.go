package views_test

import (
	"database/sql"
	"errors"
	"fmt"
	"testing"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/athlake/athlake/load/views"
)

// OutOfMemory tells DuckDB's own out-of-memory error, wrapped as the
// builds wrap it, from any other.
func TestOutOfMemory(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("SET memory_limit = '8MB'; SET temp_directory = ''; SET threads = 1"); err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec("CREATE TABLE t AS SELECT range AS i, repeat('x', 100) AS s FROM range(2000000) ORDER BY s, i DESC")
	if err == nil {
		t.Fatal("a 200 MB table fit in 8MB with nowhere to spill")
	}
	if !views.OutOfMemory(fmt.Errorf("compacting: %w", err)) {
		t.Errorf("OutOfMemory(%v) = false", err)
	}
	// A commit that finds no room for the blocks it writes (a views
	// build's, at memory_limit 64MiB) is a transaction error.
	pin := &duckdb.Error{Type: duckdb.ErrorTypeTransaction, Msg: "TransactionContext Error: Failed to commit: failed to pin block of size 256.0 KiB (63.9 MiB/64.0 MiB used)"}
	if !views.OutOfMemory(fmt.Errorf("building views: %w", pin)) {
		t.Errorf("OutOfMemory(%v) = false", pin)
	}
	_, err = db.Exec("SELEC 1")
	conflict := &duckdb.Error{Type: duckdb.ErrorTypeTransaction, Msg: "TransactionContext Error: Catalog write-write conflict on create with \"t\""}
	if err == nil || views.OutOfMemory(err) || views.OutOfMemory(errors.New("Out of Memory Error: in a message only")) || views.OutOfMemory(conflict) {
		t.Errorf("OutOfMemory true for another error: %v", err)
	}
}
