// Package s3test runs a real S3-compatible server for tests: versitygw
// serving a temporary folder on loopback, started and stopped by the test.
// The binary is installed with `go install` on first use, so the test
// command needs nothing installed by hand.
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/athlake/athlake/load/store/s3store"
)

// Module is the server installed when none is found.
const Module = "github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// Server is a running versitygw.
type Server struct {
	Endpoint  string // http://127.0.0.1:port
	AccessKey string
	SecretKey string
	Log       *bytes.Buffer // the server's output
}

var installOnce sync.Once

// Binary finds versitygw: $ATHLAKE_VERSITYGW, PATH, or GOPATH/bin; if it is
// nowhere, it is installed into GOPATH/bin (under a file lock, as several
// test binaries may ask at once).
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("ATHLAKE_VERSITYGW"); p != "" {
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	gobin := goEnv(t, "GOBIN")
	if gobin == "" {
		gobin = filepath.Join(strings.Split(goEnv(t, "GOPATH"), string(os.PathListSeparator))[0], "bin")
	}
	bin := filepath.Join(gobin, "versitygw")
	installOnce.Do(func() {
		lock, err := os.OpenFile(filepath.Join(os.TempDir(), "athlake-versitygw-install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Close()
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(bin); err == nil {
			return
		}
		t.Logf("installing %s (about a minute, once)", Module)
		cmd := exec.Command("go", "install", Module)
		cmd.Dir = os.TempDir()
		cmd.Env = append(os.Environ(), "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go install %s: %v\n%s", Module, err, out)
		}
	})
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("versitygw is not installed at %s: %v", bin, err)
	}
	return bin
}

func goEnv(t testing.TB, name string) string {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// Start runs a server for the test's lifetime.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	s := &Server{AccessKey: "athlaketest", SecretKey: "s3secret-" + randHex(12), Log: &bytes.Buffer{}}
	var lastErr error
	for range 5 {
		addr := freeAddr(t)
		cmd := exec.Command(bin, "--access", s.AccessKey, "--secret", s.SecretKey, "--port", addr, "posix", dir)
		cmd.Stdout, cmd.Stderr = s.Log, s.Log
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting versitygw: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if lastErr = waitListening(addr, exited); lastErr == nil {
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
			})
			s.Endpoint = "http://" + addr
			return s
		}
		cmd.Process.Kill()
	}
	t.Fatalf("versitygw did not start: %v\n%s", lastErr, s.Log)
	return nil
}

func waitListening(addr string, exited <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not listening on %s after 30s", addr)
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Credentials are the server's static keys.
func (s *Server) Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, "")
}

// Env is the environment that gives a child process the server's keys
// through the SDK's default credential chain.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.SecretKey, "AWS_REGION=us-east-1"}
}

// Options address bucket/prefix on the server.
func (s *Server) Options(bucket, prefix string) s3store.Options {
	return s3store.Options{
		Bucket: bucket, Prefix: prefix, Region: "us-east-1", Endpoint: s.Endpoint, ForcePathStyle: true,
		Credentials: s.Credentials(),
	}
}

// NewBucket creates a bucket with a unique name.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := "test-" + randHex(6)
	if _, err := s.Client(t).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("creating bucket %s: %v\n%s", name, err, s.Log)
	}
	return name
}

// Client is an SDK client with the server's keys.
func (s *Server) Client(t testing.TB) *s3.Client {
	t.Helper()
	st, err := s3store.New(context.Background(), s.Options("unused", ""))
	if err != nil {
		t.Fatal(err)
	}
	return st.Client()
}

// Store opens bucket/prefix.
func (s *Server) Store(t testing.TB, bucket, prefix string) *s3store.Store {
	t.Helper()
	st, err := s3store.New(context.Background(), s.Options(bucket, prefix))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Uploads lists the multipart uploads in progress in bucket.
func (s *Server) Uploads(t testing.TB, bucket string) []string {
	t.Helper()
	out, err := s.Client(t).ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}
