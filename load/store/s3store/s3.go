// Package s3store is a store.Store on Amazon S3 or any S3-compatible server.
//
// An S3 object is visible only once its PutObject or CompleteMultipartUpload
// succeeds, so Create/Commit needs no rename: small objects are one PUT,
// large ones a multipart upload whose parts are sent while the object is
// still being written. Conditional writes (If-None-Match: *, If-Match: ETag)
// give the compare-and-swap that state and the lock rely on; ProbeConditional
// checks that the server honours them.
package s3store

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/logging"
	"golang.org/x/sync/errgroup"

	"github.com/athlake/athlake/load/store"
)

// Defaults for Options.
const (
	DefaultPartSize    = 8 << 20
	DefaultConcurrency = 4
	// MinPartSize is S3's smallest part (all but the last).
	MinPartSize = 5 << 20
)

// Options configure a Store.
type Options struct {
	Bucket string
	Prefix string // key prefix inside the bucket, without slashes at the ends
	// Region, Endpoint and ForcePathStyle override the SDK's configuration
	// (environment, shared config); Endpoint addresses S3-compatible servers.
	Region         string
	Endpoint       string
	ForcePathStyle bool
	// PartSize is the size of multipart upload parts; objects smaller than
	// it are a single PUT.
	PartSize int64
	// Concurrency bounds the parts of one object in flight.
	Concurrency int
	// Credentials replace the SDK's default chain (environment, shared
	// config and profiles, web identity, container and instance roles).
	Credentials aws.CredentialsProvider
	// Log receives the SDK's own warnings (default: dropped).
	Log *slog.Logger
}

// ParseURL splits s3://bucket/prefix.
func ParseURL(u string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q: want s3://bucket/prefix", u)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	prefix = strings.Trim(prefix, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q: the bucket is missing", u)
	}
	if prefix != "" {
		if err := store.CheckKey(prefix); err != nil {
			return "", "", fmt.Errorf("%q: bad prefix", u)
		}
	}
	return bucket, prefix, nil
}

// Store is an S3 bucket, or a prefix in one.
type Store struct {
	client *s3.Client
	cfg    aws.Config
	o      Options
}

// New returns a store; it makes no request.
func New(ctx context.Context, o Options) (*Store, error) {
	if o.Bucket == "" {
		return nil, errors.New("s3: no bucket")
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.PartSize < MinPartSize {
		return nil, fmt.Errorf("s3: part size %d is below S3's minimum of %d", o.PartSize, MinPartSize)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	var opts []func(*config.LoadOptions) error
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(o.Credentials))
	}
	var logger logging.Logger = logging.Nop{}
	if o.Log != nil {
		logger = logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
			o.Log.Warn(fmt.Sprintf(format, v...), "component", "aws-sdk", "class", string(c))
		})
	}
	opts = append(opts, config.WithLogger(logger))
	if o.Endpoint != "" {
		// S3-compatible servers often reject the SDK's newer default
		// checksums; send them only where an operation requires one.
		opts = append(opts,
			config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
			config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: loading the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.ForcePathStyle
	})
	return &Store{client: client, cfg: cfg, o: o}, nil
}

// AWSConfig is the SDK configuration the store's client is made from
// (region, credentials, checksums), for another S3 client of the same
// lake; Endpoint and PathStyle give the rest.
func (s *Store) AWSConfig() aws.Config { return s.cfg }

// Endpoint is the S3-compatible server's URL ("" for AWS).
func (s *Store) Endpoint() string { return s.o.Endpoint }

// PathStyle says whether requests address the bucket in the path.
func (s *Store) PathStyle() bool { return s.o.ForcePathStyle }

// Client is the SDK client (tests inspect the bucket with it).
func (s *Store) Client() *s3.Client { return s.client }

// Region is the region requests are signed for.
func (s *Store) Region() string { return s.client.Options().Region }

// Credentials resolves the credentials the store signs with.
func (s *Store) Credentials(ctx context.Context) (aws.Credentials, error) {
	return s.client.Options().Credentials.Retrieve(ctx)
}

// URL is s3://bucket/prefix.
func (s *Store) URL() string {
	if s.o.Prefix == "" {
		return "s3://" + s.o.Bucket
	}
	return "s3://" + s.o.Bucket + "/" + s.o.Prefix
}

// key is the bucket key of a store key.
func (s *Store) key(key string) (*string, error) {
	if err := store.CheckKey(key); err != nil {
		return nil, err
	}
	return aws.String(s.root() + key), nil
}

// root is the prefix every key of the store starts with.
func (s *Store) root() string {
	if s.o.Prefix == "" {
		return ""
	}
	return s.o.Prefix + "/"
}

// Get reads a whole object; its version is its ETag.
func (s *Store) Get(ctx context.Context, key string) ([]byte, string, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, "", err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.o.Bucket, Key: k})
	if err != nil {
		return nil, "", s.wrap(key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", s.where(key), err)
	}
	return b, aws.ToString(out.ETag), nil
}

// Open streams an object.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.o.Bucket, Key: k})
	if err != nil {
		return nil, s.wrap(key, err)
	}
	return out.Body, nil
}

// Put writes a small object in one request.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	_, err := s.put(ctx, key, data, nil, nil)
	return err
}

// PutIf writes with If-None-Match: * (ifVersion "") or If-Match: ifVersion.
//
// The SDK retries a request whose answer was lost; if the lost attempt had
// been applied, the retry fails its precondition. So a lost precondition is
// checked by reading the object back: if it holds exactly data, the write
// was ours. (Callers write data unique to the writer: a lease with its
// expiry, a state with its time.)
func (s *Store) PutIf(ctx context.Context, key string, data []byte, ifVersion string) (string, error) {
	var v string
	var err error
	if ifVersion == "" {
		v, err = s.put(ctx, key, data, aws.String("*"), nil)
	} else {
		v, err = s.put(ctx, key, data, nil, aws.String(ifVersion))
	}
	if errors.Is(err, store.ErrConflict) {
		if cur, cv, gerr := s.Get(ctx, key); gerr == nil && bytes.Equal(cur, data) {
			return cv, nil
		}
	}
	return v, err
}

func (s *Store) put(ctx context.Context, key string, data []byte, ifNoneMatch, ifMatch *string) (string, error) {
	k, err := s.key(key)
	if err != nil {
		return "", err
	}
	out, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.o.Bucket, Key: k, Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
		IfNoneMatch: ifNoneMatch, IfMatch: ifMatch,
	})
	if err != nil {
		return "", s.wrap(key, err)
	}
	return aws.ToString(out.ETag), nil
}

// Delete removes an object; a missing one is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	k, err := s.key(key)
	if err != nil {
		return err
	}
	_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.o.Bucket, Key: k})
	if err = s.wrap(key, err); errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// List returns the objects whose keys start with prefix, sorted by key.
func (s *Store) List(ctx context.Context, prefix string) ([]store.Object, error) {
	var out []store.Object
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.o.Bucket, Prefix: aws.String(s.root() + prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.wrap(prefix, err)
		}
		for _, o := range page.Contents {
			if strings.HasSuffix(aws.ToString(o.Key), "/") {
				continue // a "folder" made by a console: not an object of the store
			}
			out = append(out, store.Object{
				Key: strings.TrimPrefix(aws.ToString(o.Key), s.root()), Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified),
			})
		}
	}
	slices.SortFunc(out, func(a, b store.Object) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// AbortUnfinished aborts the multipart uploads under prefix that were
// started before before: uploads of a killed writer, which S3
// would otherwise keep (and bill) forever. It returns how many it aborted.
func (s *Store) AbortUnfinished(ctx context.Context, prefix string, before time.Time) (int, error) {
	n := 0
	in := &s3.ListMultipartUploadsInput{Bucket: &s.o.Bucket, Prefix: aws.String(s.root() + prefix)}
	for {
		page, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return n, s.wrap("", err)
		}
		for _, u := range page.Uploads {
			if u.Initiated != nil && !u.Initiated.Before(before) {
				continue
			}
			if _, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: &s.o.Bucket, Key: u.Key, UploadId: u.UploadId,
			}); err != nil && !isStatus(err, http.StatusNotFound) {
				return n, s.wrap(strings.TrimPrefix(aws.ToString(u.Key), s.root()), err)
			}
			n++
		}
		if !aws.ToBool(page.IsTruncated) {
			return n, nil
		}
		in.KeyMarker, in.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
}

// ErrNoBucket means the bucket does not exist (athlake does not create it).
var ErrNoBucket = errors.New("the bucket does not exist")

// ErrDenied means the server refused the credentials or the request.
var ErrDenied = errors.New("access denied (check the credentials the AWS SDK found: environment, profile, role)")

// CheckCredentials resolves the credentials through the chain, so that a
// machine without any fails with one clear message before the first request.
func (s *Store) CheckCredentials(ctx context.Context) error {
	if _, err := s.Credentials(ctx); err != nil {
		return fmt.Errorf("%w (%s)", ErrNoCredentials, firstLine(err))
	}
	return nil
}

// ErrNoCredentials means the SDK's chain found no credentials.
var ErrNoCredentials = errors.New("no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with a web identity, container or instance role")

func firstLine(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}

// ErrNoConditionalWrites says the server ignores If-None-Match / If-Match.
var ErrNoConditionalWrites = errors.New("the S3 server does not honour conditional writes (If-None-Match / If-Match on PUT), which athlake needs for its lock and state; use AWS S3 or a server that supports them (versitygw, MinIO, ...)")

// ProbeConditional checks that the server honours the conditional writes
// the lock and state rely on: a second If-None-Match: * PUT and a PUT with
// a wrong If-Match must both be refused. It cleans up after itself.
func (s *Store) ProbeConditional(ctx context.Context, dir string) error {
	var key, v string
	var err error
	// A new random key cannot exist: a conflict on its first PUT is the
	// server's (versitygw answers 409 to conditional writes that overlap
	// another's), so it is tried again under another key.
	for attempt := 0; attempt < 3; attempt++ {
		var b [8]byte
		rand.Read(b[:])
		key = dir + "/.probe-" + hex.EncodeToString(b[:])
		if v, err = s.put(ctx, key, []byte("1"), aws.String("*"), nil); !errors.Is(err, store.ErrConflict) {
			break
		}
	}
	if err != nil {
		return err
	}
	defer s.Delete(context.WithoutCancel(ctx), key)
	wrong := aws.String(`"0123456789abcdef0123456789abcdef"`)
	if v == *wrong {
		wrong = aws.String(`"fedcba9876543210fedcba9876543210"`)
	}
	for _, probe := range []struct {
		what string
		try  func() error
	}{
		{"If-None-Match: * on PUT", func() error { _, err := s.put(ctx, key, []byte("2"), aws.String("*"), nil); return err }},
		{"If-Match on PUT", func() error { _, err := s.put(ctx, key, []byte("3"), nil, wrong); return err }},
	} {
		switch err := probe.try(); {
		case errors.Is(err, store.ErrConflict):
		case err == nil:
			return fmt.Errorf("%s ignores %s: %w", s.URL(), probe.what, ErrNoConditionalWrites)
		default:
			return err
		}
	}
	return nil
}

func (s *Store) where(key string) string {
	if key == "" {
		return s.URL()
	}
	return s.URL() + "/" + key
}

// wrap maps S3 errors onto the store's (ErrNotFound, ErrConflict) and names
// the object; SDK errors never carry credentials.
func (s *Store) wrap(key string, err error) error {
	if err == nil {
		return nil
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	switch {
	case isNoSuchBucket(err):
		return fmt.Errorf("%s: %w", s.where(key), ErrNoBucket)
	case isStatus(err, http.StatusForbidden):
		return fmt.Errorf("%s: %w: %w", s.where(key), ErrDenied, err)
	case errors.As(err, &nsk), errors.As(err, &nf), isStatus(err, http.StatusNotFound):
		return fmt.Errorf("%s: %w", s.where(key), store.ErrNotFound)
	case isStatus(err, http.StatusPreconditionFailed), isStatus(err, http.StatusConflict):
		// 409 ConditionalRequestConflict: a concurrent conditional write.
		return fmt.Errorf("%s: %w", s.where(key), store.ErrConflict)
	}
	return fmt.Errorf("%s: %w", s.where(key), err)
}

func isStatus(err error, code int) bool {
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == code
}

func isNoSuchBucket(err error) bool {
	var nsb *types.NoSuchBucket
	return errors.As(err, &nsb) || strings.Contains(err.Error(), "NoSuchBucket")
}

// Create starts an object; it becomes visible on Commit.
func (s *Store) Create(ctx context.Context, key string) (store.Writer, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, err
	}
	w := &writer{s: s, ctx: ctx, name: key, key: k}
	var gctx context.Context
	gctx, w.cancel = context.WithCancel(ctx)
	w.g, w.gctx = errgroup.WithContext(gctx)
	w.g.SetLimit(s.o.Concurrency)
	return w, nil
}

// writer buffers a part; when a part is full it starts a multipart upload
// and sends the part in the background (at most Concurrency at once), so a
// writer holds at most Concurrency+1 parts in memory. The first error
// sticks: Commit after a failed Write fails too, never publishing a
// truncated object.
type writer struct {
	s    *Store
	ctx  context.Context
	name string
	key  *string
	buf  []byte // grows as written, up to PartSize

	upload *string
	g      *errgroup.Group
	gctx   context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	etags  map[int32]*string // part number -> ETag, set by the uploads
	parts  int32
	err    error
	done   bool
}

func (w *writer) Write(b []byte) (int, error) {
	if w.done {
		return 0, errors.New("s3: write after commit or abort")
	}
	if w.err != nil {
		return 0, w.err
	}
	n := len(b)
	for len(b) > 0 {
		c := min(int(w.s.o.PartSize)-len(w.buf), len(b))
		w.buf = append(w.buf, b[:c]...)
		b = b[c:]
		if len(w.buf) == int(w.s.o.PartSize) {
			if w.err = w.sendPart(); w.err != nil {
				return n - len(b), w.err
			}
		}
	}
	return n, nil
}

func (w *writer) sendPart() error {
	if w.upload == nil {
		out, err := w.s.client.CreateMultipartUpload(w.ctx, &s3.CreateMultipartUploadInput{Bucket: &w.s.o.Bucket, Key: w.key})
		if err != nil {
			return w.s.wrap(w.name, err)
		}
		w.upload, w.etags = out.UploadId, map[int32]*string{}
	}
	if err := w.gctx.Err(); err != nil {
		return cmp.Or(w.g.Wait(), err) // an earlier part failed: report its error
	}
	part := w.buf
	w.buf = nil
	w.parts++
	num := w.parts
	w.g.Go(func() error {
		out, err := w.s.client.UploadPart(w.gctx, &s3.UploadPartInput{
			Bucket: &w.s.o.Bucket, Key: w.key, UploadId: w.upload, PartNumber: aws.Int32(num),
			Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part))),
		})
		if err != nil {
			return w.s.wrap(w.name, err)
		}
		w.mu.Lock()
		w.etags[num] = out.ETag
		w.mu.Unlock()
		return nil
	})
	return nil
}

// Commit makes the object visible: one PUT if it fits a part, else the last
// part and CompleteMultipartUpload. A failure aborts the upload.
func (w *writer) Commit() error {
	if w.done {
		return errors.New("s3: object already committed or aborted")
	}
	w.done = true
	defer w.cancel()
	if w.err != nil {
		w.abort()
		return w.err
	}
	if w.upload == nil {
		_, err := w.s.put(w.ctx, w.name, w.buf, nil, nil)
		return err
	}
	var err error
	if len(w.buf) > 0 {
		err = w.sendPart()
	}
	if err = cmp.Or(w.g.Wait(), err); err != nil {
		w.abort()
		return err
	}
	parts := make([]types.CompletedPart, w.parts)
	for i := range parts {
		num := int32(i + 1)
		parts[i] = types.CompletedPart{PartNumber: aws.Int32(num), ETag: w.etags[num]}
	}
	_, err = w.s.client.CompleteMultipartUpload(w.ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &w.s.o.Bucket, Key: w.key, UploadId: w.upload,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		w.abort()
		return w.s.wrap(w.name, err)
	}
	return nil
}

// Abort drops the object: parts in flight are cancelled and a started
// multipart upload is aborted, so that no parts are left behind.
func (w *writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.cancel()
	return w.abort()
}

func (w *writer) abort() error {
	w.g.Wait()
	if w.upload == nil {
		return nil
	}
	_, err := w.s.client.AbortMultipartUpload(context.WithoutCancel(w.ctx), &s3.AbortMultipartUploadInput{
		Bucket: &w.s.o.Bucket, Key: w.key, UploadId: w.upload,
	})
	w.upload = nil
	return w.s.wrap(w.name, err)
}
