package iceberg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/athlake/athlake/load/iceberg/pgtest"
)

// TestOpenPostgresErrors: a catalog that cannot be opened says why —
// a refused login wraps ErrAuth — and no message holds the password.
func TestOpenPostgresErrors(t *testing.T) {
	srv := pgtest.Start(t)
	db := srv.NewDatabase(t)
	ctx := context.Background()
	o := Options{Namespace: "athlake", Warehouse: filepath.Join(t.TempDir(), "_iceberg")}
	wrongPass := "wrong-" + srv.Password
	closed := fmt.Sprintf("127.0.0.1:%d", pgtest.FreePort(t))
	for _, c := range []struct {
		name, url, want string
		auth            bool
	}{
		{"wrong password", strings.Replace(srv.URL(db), srv.Password, wrongPass, 1), "authentication failed", true},
		{"wrong user", strings.Replace(srv.URL(db), srv.User+":", "nobody:", 1), "authentication failed", true},
		{"wrong database", srv.URL("nodb"), `database "nodb" does not exist`, false},
		{"nothing listening", "postgres://" + srv.User + ":" + srv.Password + "@" + closed + "/" + db, "connection refused", false},
		{"not a URL setting", srv.URL(db) + "&connect_timeout=soon", "not a PostgreSQL URL", false},
	} {
		cat, err := OpenPostgres(ctx, PostgresOptions{Options: o, URL: c.url})
		if err == nil {
			cat.Close()
			t.Errorf("%s: opened", c.name)
			continue
		}
		msg := err.Error()
		t.Logf("%s: %s", c.name, msg)
		if !strings.Contains(msg, c.want) || errors.Is(err, ErrAuth) != c.auth {
			t.Errorf("%s: %q, want it to say %q (ErrAuth %t)", c.name, msg, c.want, c.auth)
		}
		if strings.Contains(msg, srv.Password) {
			t.Errorf("%s: the message holds the password: %s", c.name, msg)
		}
	}
	cat, err := OpenPostgres(ctx, PostgresOptions{Options: o, URL: srv.URL(db)})
	if err != nil {
		t.Fatal(err)
	}
	cat.Close()
}

// TestOpenPostgresPasswordFromEnvironment: a URL without a password
// logs in with the one PGPASSWORD or a password file (PGPASSFILE, as
// ~/.pgpass) gives, as libpq does.
func TestOpenPostgresPasswordFromEnvironment(t *testing.T) {
	srv := pgtest.Start(t)
	db := srv.NewDatabase(t)
	ctx := context.Background()
	o := Options{Namespace: "athlake", Warehouse: filepath.Join(t.TempDir(), "_iceberg")}
	noPass := strings.Replace(srv.URL(db), ":"+srv.Password+"@", "@", 1)
	if _, err := OpenPostgres(ctx, PostgresOptions{Options: o, URL: noPass}); !errors.Is(err, ErrAuth) {
		t.Fatalf("no password anywhere: %v, want %v", err, ErrAuth)
	}
	t.Run("PGPASSWORD", func(t *testing.T) {
		t.Setenv("PGPASSWORD", srv.Password)
		cat, err := OpenPostgres(ctx, PostgresOptions{Options: o, URL: noPass})
		if err != nil {
			t.Fatal(err)
		}
		cat.Close()
	})
	t.Run("PGPASSFILE", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "pgpass")
		line := fmt.Sprintf("%s:%d:%s:%s:%s\n", srv.Host, srv.Port, db, srv.User, srv.Password)
		if err := os.WriteFile(f, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PGPASSFILE", f)
		cat, err := OpenPostgres(ctx, PostgresOptions{Options: o, URL: noPass})
		if err != nil {
			t.Fatal(err)
		}
		cat.Close()
	})
}

func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://u:s3cret@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?sslmode=disable"},
		{"postgresql://u@h/db", "postgresql://u@h/db"},
		{"postgres://h/db?user=u&password=s3cret&sslpassword=s3cret", "postgres://h/db?user=u"},
		{"postgres://u:s3cret@h:port/db", "postgres://(unparsable URL)"},
	} {
		if got := RedactURL(c.in); got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
