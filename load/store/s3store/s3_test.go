package s3store_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/load/store/s3store"
	"github.com/athlake/athlake/load/store/s3store/s3test"
	"github.com/athlake/athlake/load/store/storetest"
)

func TestConformance(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	n := 0
	storetest.Run(t, func(t *testing.T) store.Store {
		n++
		return srv.Store(t, bucket, "lake"+string(rune('a'+n))+"/x")
	})
}

func TestMultipart(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	o := srv.Options(bucket, "lake")
	o.PartSize = s3store.MinPartSize
	o.Concurrency = 2
	st, err := s3store.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := make([]byte, 2*s3store.MinPartSize+12345)
	rand.Read(data)

	w, err := st.Create(ctx, "big/file.bin")
	if err != nil {
		t.Fatal(err)
	}
	for b := data; len(b) > 0; b = b[min(len(b), 100_000):] {
		if _, err := w.Write(b[:min(len(b), 100_000)]); err != nil {
			t.Fatal(err)
		}
	}
	if up := srv.Uploads(t, bucket); len(up) != 1 {
		t.Fatalf("uploads in progress while writing = %v, want one", up)
	}
	if objs, _ := st.List(ctx, "big/"); len(objs) != 0 {
		t.Fatalf("object visible before commit: %v", objs)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	got, _, err := st.Get(ctx, "big/file.bin")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get: %d bytes, err %v; want the %d written", len(got), err, len(data))
	}
	if up := srv.Uploads(t, bucket); len(up) != 0 {
		t.Fatalf("uploads left after commit: %v", up)
	}

	// An aborted large object leaves neither an object nor parts.
	w, _ = st.Create(ctx, "big/aborted.bin")
	w.Write(data)
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if up := srv.Uploads(t, bucket); len(up) != 0 {
		t.Fatalf("uploads left after abort: %v", up)
	}
	if _, _, err := st.Get(ctx, "big/aborted.bin"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("aborted object: %v", err)
	}

	// A writer killed mid-object leaves an upload; AbortUnfinished removes
	// the old ones only.
	w, _ = st.Create(ctx, "big/killed.bin")
	w.Write(data[:s3store.MinPartSize+1])
	if n, err := st.AbortUnfinished(ctx, "", time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("AbortUnfinished(an hour ago) = %d, %v; want 0", n, err)
	}
	if n, err := st.AbortUnfinished(ctx, "", time.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("AbortUnfinished(now) = %d, %v; want 1", n, err)
	}
	if up := srv.Uploads(t, bucket); len(up) != 0 {
		t.Fatalf("uploads left: %v", up)
	}
}

// A conditional write whose answer was lost is retried by the SDK and then
// fails its precondition; reading back exactly the bytes written shows the
// write was ours.
func TestPutIfIsIdempotent(t *testing.T) {
	srv := s3test.Start(t)
	st := srv.Store(t, srv.NewBucket(t), "lake")
	ctx := context.Background()
	v1, err := st.PutIf(ctx, "_state/lock.json", []byte(`{"run":"a","expires":1}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := st.PutIf(ctx, "_state/lock.json", []byte(`{"run":"a","expires":1}`), ""); err != nil || v != v1 {
		t.Fatalf("replayed create = %q, %v; want success with %q", v, err, v1)
	}
	if _, err := st.PutIf(ctx, "_state/lock.json", []byte(`{"run":"b","expires":1}`), ""); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("another writer's create: %v, want ErrConflict", err)
	}
}

func TestProbeConditional(t *testing.T) {
	srv := s3test.Start(t)
	st := srv.Store(t, srv.NewBucket(t), "lake")
	if err := st.ProbeConditional(context.Background(), "_state"); err != nil {
		t.Fatalf("versitygw: %v", err)
	}
	if objs, _ := st.List(context.Background(), ""); len(objs) != 0 {
		t.Fatalf("probe left %v", objs)
	}
}

// Servers that ignore conditional writes, all of them or If-Match only, are
// detected and named.
func TestProbeConditionalRefusesServerWithout(t *testing.T) {
	for name, c := range map[string]struct {
		honourNoneMatch bool
		want            string
	}{
		"none":          {false, "ignores If-None-Match: * on PUT"},
		"If-Match only": {true, "ignores If-Match on PUT"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			objects := map[string]bool{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				mu.Lock()
				defer mu.Unlock()
				if r.Method == http.MethodPut && c.honourNoneMatch && r.Header.Get("If-None-Match") == "*" && objects[r.URL.Path] {
					w.WriteHeader(http.StatusPreconditionFailed)
					return
				}
				objects[r.URL.Path] = r.Method == http.MethodPut
				w.Header().Set("ETag", `"abc"`)
			}))
			defer srv.Close()
			st := fakeStore(t, srv.URL)
			err := st.ProbeConditional(context.Background(), "_state")
			if !errors.Is(err, s3store.ErrNoConditionalWrites) || !strings.Contains(err.Error(), "s3://b/p") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrNoConditionalWrites naming the store and %q", err, c.want)
			}
		})
	}
}

func fakeStore(t *testing.T, endpoint string) *s3store.Store {
	t.Helper()
	st, err := s3store.New(context.Background(), s3store.Options{
		Bucket: "b", Prefix: "p", Region: "us-east-1", Endpoint: endpoint, ForcePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A Write that failed (here: the server refuses to start the multipart
// upload) makes Commit fail too: never a truncated object.
func TestCommitAfterFailedWrite(t *testing.T) {
	t.Parallel()
	var puts int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Method == http.MethodPut {
			puts++
		}
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer srv.Close()
	o := s3store.Options{
		Bucket: "b", Region: "us-east-1", Endpoint: srv.URL, ForcePathStyle: true, PartSize: s3store.MinPartSize,
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
	}
	st, err := s3store.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := st.Create(context.Background(), "x.parquet")
	if _, err := w.Write(make([]byte, 2*s3store.MinPartSize)); err == nil {
		t.Fatal("Write succeeded against a server refusing uploads")
	}
	if err := w.Commit(); err == nil {
		t.Fatal("Commit after a failed Write succeeded")
	}
	if puts != 0 {
		t.Fatalf("%d PUTs: a truncated object was sent", puts)
	}
}

func TestParseURL(t *testing.T) {
	for in, want := range map[string][2]string{
		"s3://bucket":            {"bucket", ""},
		"s3://bucket/":           {"bucket", ""},
		"s3://bucket/a/b/":       {"bucket", "a/b"},
		"s3://bucket/team-lake":  {"bucket", "team-lake"},
		"s3://bucket/a/../../..": {"", "!"},
		"s3:///x":                {"", "!"},
		"https://bucket/x":       {"", "!"},
	} {
		b, p, err := s3store.ParseURL(in)
		if want[1] == "!" {
			if err == nil {
				t.Errorf("ParseURL(%q) accepted", in)
			}
			continue
		}
		if err != nil || b != want[0] || p != want[1] {
			t.Errorf("ParseURL(%q) = %q, %q, %v", in, b, p, err)
		}
	}
}

// TestMain doubles as a writer process that a test kills mid-upload.
func TestMain(m *testing.M) {
	if spec := os.Getenv("ATHLAKE_S3_KILLED_WRITER"); spec != "" {
		killedWriter(spec)
		return
	}
	os.Exit(m.Run())
}

// killedWriter starts a large object and never finishes it: its parent
// kills it with SIGKILL once a part is uploaded.
func killedWriter(spec string) {
	var o struct {
		Endpoint, Bucket, Key, AccessKey, SecretKey string
	}
	if err := json.Unmarshal([]byte(spec), &o); err != nil {
		panic(err)
	}
	st, err := s3store.New(context.Background(), s3store.Options{
		Bucket: o.Bucket, Region: "us-east-1", Endpoint: o.Endpoint, ForcePathStyle: true, PartSize: s3store.MinPartSize,
		Credentials: credentials.NewStaticCredentialsProvider(o.AccessKey, o.SecretKey, ""),
	})
	if err != nil {
		panic(err)
	}
	w, err := st.Create(context.Background(), o.Key)
	if err != nil {
		panic(err)
	}
	w.Write(make([]byte, s3store.MinPartSize+1))
	fmt.Println("part sent")
	select {}
}

// A writer killed with SIGKILL mid-upload leaves a multipart upload that
// no reader sees and that AbortUnfinished removes.
func TestKilledWriterLeavesNothingAfterAbort(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	spec, _ := json.Marshal(map[string]string{"Endpoint": srv.Endpoint, "Bucket": bucket, "Key": "lake/t/big.parquet",
		"AccessKey": srv.AccessKey, "SecretKey": srv.SecretKey})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ATHLAKE_S3_KILLED_WRITER="+string(spec))
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "part sent\n" {
		cmd.Process.Kill()
		t.Fatalf("writer said %q", line)
	}
	// The part is in flight or uploaded; wait until the server lists the
	// upload, then kill.
	deadline := time.Now().Add(30 * time.Second)
	for len(srv.Uploads(t, bucket)) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if up := srv.Uploads(t, bucket); len(up) != 1 {
		t.Fatalf("uploads after the kill: %v, want the killed one", up)
	}
	st := srv.Store(t, bucket, "lake")
	if objs, _ := st.List(context.Background(), ""); len(objs) != 0 {
		t.Fatalf("a killed upload is visible: %v", objs)
	}
	if n, err := st.AbortUnfinished(context.Background(), "t/", time.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("AbortUnfinished = %d, %v", n, err)
	}
	if up := srv.Uploads(t, bucket); len(up) != 0 {
		t.Fatalf("uploads left: %v", up)
	}
}
