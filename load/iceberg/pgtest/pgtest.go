// Package pgtest runs a real PostgreSQL server for tests: initdb into a
// temporary folder and postgres on a free loopback port (its socket in
// that folder), as the postgres user when the test runs as root (postgres
// refuses root), stopped by the test. The server is Debian's postgresql
// package, installed with apt-get on first use when its binaries are
// missing, so the test command needs nothing installed by hand.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/athlake/athlake/internal/testlog"
)

// Package is the Debian package installed when no server is found.
const Package = "postgresql"

// Server is a running PostgreSQL server, with a role that logs in with a
// password over TCP and owns the databases NewDatabase makes.
type Server struct {
	Host     string // 127.0.0.1
	Port     int
	User     string
	Password string
	Log      *testlog.Buffer // the server's output

	dir string // data folder and socket
}

var installOnce sync.Once

// createCluster is postgresql-common's setting of whether installing a
// server creates its main cluster.
const createCluster = "/etc/postgresql-common/createcluster.conf"

// BinDir finds the server's binaries (postgres, initdb):
// $ATHLAKE_PG_BIN, or the newest /usr/lib/postgresql/*/bin; if there are
// none, Debian's postgresql package is installed with apt-get (as root,
// under a file lock, as several test binaries may ask at once).
func BinDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("ATHLAKE_PG_BIN"); d != "" {
		return d
	}
	if d := findBinDir(); d != "" {
		return d
	}
	installOnce.Do(func() {
		if os.Geteuid() != 0 {
			t.Fatalf("no PostgreSQL server under /usr/lib/postgresql/*/bin, and not root to install it: apt-get install %s, or set ATHLAKE_PG_BIN", Package)
		}
		lock, err := os.OpenFile(filepath.Join(os.TempDir(), "athlake-postgres-install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Close()
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatal(err)
		}
		if findBinDir() != "" {
			return
		}
		t.Logf("installing Debian's %s with apt-get (a minute or two, once)", Package)
		// The tests run their own servers: the package's main cluster,
		// which it would create and start on port 5432, is not wanted.
		if err := os.MkdirAll("/etc/postgresql-common", 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(createCluster); os.IsNotExist(err) {
			if err := os.WriteFile(createCluster, []byte("create_main_cluster = false\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		for _, args := range [][]string{
			{"update", "-o", "DPkg::Lock::Timeout=300"},
			{"install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300", "-o", "Dpkg::Options::=--force-confold", Package},
		} {
			cmd := exec.CommandContext(ctx, "apt-get", args...)
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("apt-get %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	})
	d := findBinDir()
	if d == "" {
		t.Fatalf("no PostgreSQL server under /usr/lib/postgresql/*/bin after installing %s", Package)
	}
	return d
}

// findBinDir is the newest /usr/lib/postgresql/<version>/bin holding
// postgres and initdb, or "".
func findBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return n
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if isFile(filepath.Join(d, "postgres")) && isFile(filepath.Join(d, "initdb")) {
			return d
		}
	}
	return ""
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// Start runs a fresh server (initdb, then postgres) for the test's
// lifetime: its role User logs in with Password over TCP (scram-sha-256);
// the superuser "postgres" only over the socket.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := BinDir(t)
	began := time.Now()
	// Not t.TempDir: the postgres user must reach the folder.
	dir, err := os.MkdirTemp("", "athlake-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cred := runAs(t, dir)
	s := &Server{Host: "127.0.0.1", User: "athlake", Password: "pg-" + randHex(12), Log: &testlog.Buffer{}, dir: dir}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-E", "UTF8", "--locale=C",
		"--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256")
	initdb.Dir, initdb.SysProcAttr = dir, &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	var lastErr error
	for range 5 {
		s.Port = FreePort(t)
		cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(s.Port),
			"-c", "listen_addresses="+s.Host, "-c", "unix_socket_directories="+dir,
			// A test's server: fast, not durable.
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
			"-c", "shared_buffers=32MB", "-c", "max_connections=40", "-c", "logging_collector=off")
		cmd.Dir, cmd.Stdout, cmd.Stderr = dir, s.Log, s.Log
		// Pdeathsig: a test binary that dies leaves no server behind.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting postgres: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if lastErr = s.waitReady(exited); lastErr == nil {
			t.Cleanup(func() {
				cmd.Process.Signal(syscall.SIGQUIT) // immediate shutdown
				select {
				case <-exited:
				case <-time.After(10 * time.Second):
					cmd.Process.Kill()
					<-exited
				}
			})
			s.exec(t, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", s.User, s.Password))
			t.Logf("postgres %s started on port %d in %.1fs", filepath.Base(filepath.Dir(bin)), s.Port, time.Since(began).Seconds())
			return s
		}
		cmd.Process.Kill()
		<-exited
	}
	t.Fatalf("postgres did not start: %v\n%s", lastErr, s.Log)
	return nil
}

// runAs is the credential the server runs with: none (the test's own)
// unless the test runs as root, then the postgres user's, which is given
// dir.
func runAs(t testing.TB, dir string) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("postgres refuses to run as root and there is no postgres user (Debian's %s package creates it): %v", Package, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// waitReady waits until the superuser can run a statement over the socket.
func (s *Server) waitReady(exited <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var c *pgx.Conn
		if c, err = pgx.Connect(ctx, s.adminURL("postgres")); err == nil {
			_, err = c.Exec(ctx, "SELECT 1")
			c.Close(ctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after 30s: %v", err)
}

// adminURL reaches database db as the superuser, over the socket.
func (s *Server) adminURL(db string) string {
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d&sslmode=disable", db, url.QueryEscape(s.dir), s.Port)
}

// exec runs a statement as the superuser.
func (s *Server) exec(t testing.TB, sql string) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, s.adminURL("postgres"))
	if err != nil {
		t.Fatalf("connecting to postgres: %v\n%s", err, s.Log)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// NewDatabase creates a database owned by User, with a unique name.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := "test_" + randHex(6)
	s.exec(t, fmt.Sprintf("CREATE DATABASE %s OWNER %s", name, s.User))
	return name
}

// URL reaches database db as User with Password, over TCP.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", s.User, url.QueryEscape(s.Password), net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), db)
}

// FreePort is a loopback port nothing listens on (as the call returns):
// for a server to start on, or a connection to be refused by.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
