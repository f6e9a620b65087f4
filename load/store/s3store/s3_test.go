package s3store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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
	if n, err := st.AbortUnfinished(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("AbortUnfinished(an hour ago) = %d, %v; want 0", n, err)
	}
	if n, err := st.AbortUnfinished(ctx, time.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("AbortUnfinished(now) = %d, %v; want 1", n, err)
	}
	if up := srv.Uploads(t, bucket); len(up) != 0 {
		t.Fatalf("uploads left: %v", up)
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

// A server that ignores If-None-Match (as some S3-compatible servers do) is
// detected and named.
func TestProbeConditionalRefusesServerWithout(t *testing.T) {
	var puts int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Method == http.MethodPut {
			puts++
		}
		w.Header().Set("ETag", `"abc"`)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	st, err := s3store.New(context.Background(), s3store.Options{
		Bucket: "b", Prefix: "p", Region: "us-east-1", Endpoint: srv.URL, ForcePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.ProbeConditional(context.Background(), "_state")
	if !errors.Is(err, s3store.ErrNoConditionalWrites) || !strings.Contains(err.Error(), "s3://b/p") {
		t.Fatalf("err = %v, want ErrNoConditionalWrites naming the store", err)
	}
	if puts != 2 {
		t.Fatalf("%d PUTs, want 2", puts)
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
