package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/athlake/athlake/load"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/load/store/s3store"
	"github.com/athlake/athlake/load/views"
	"github.com/athlake/athlake/pipeline"
	"github.com/athlake/athlake/schemas"
)

// openStore opens the configured output: a local folder or s3://bucket/prefix.
func openStore(ctx context.Context, env *Env, cfg *Config) (store.Store, error) {
	wrap := func(st store.Store) store.Store {
		if env.WrapStore != nil {
			return env.WrapStore(st)
		}
		return st
	}
	if !cfg.IsS3() {
		st, err := store.NewLocal(cfg.path(cfg.Output))
		if err != nil {
			return nil, &ConfigError{Key: "output", Msg: err.Error()}
		}
		return wrap(st), nil
	}
	bucket, prefix, err := s3store.ParseURL(cfg.Output)
	if err != nil {
		return nil, &ConfigError{Key: "output", Msg: err.Error()}
	}
	st, err := openS3(ctx, env, cfg, bucket, prefix)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return wrap(st), nil
}

// openS3 opens bucket/prefix with the config's S3 settings: the output, or
// the Team Pro token's bucket.
func openS3(ctx context.Context, env *Env, cfg *Config, bucket, prefix string) (*s3store.Store, error) {
	o := s3store.Options{
		Bucket: bucket, Prefix: prefix, Region: cfg.S3.Region, Endpoint: cfg.S3.Endpoint, ForcePathStyle: cfg.S3.ForcePathStyle,
		Log: env.Log,
	}
	if env.S3 != nil {
		env.S3(&o)
	}
	st, err := s3store.New(ctx, o)
	if err != nil {
		return nil, &ConfigError{Key: "s3", Msg: err.Error()}
	}
	return st, nil
}

// prepareWrite checks, before a run takes the lock, that the output can
// keep the lock and state safe: an S3 server must honour conditional writes.
func prepareWrite(ctx context.Context, st store.Store) error {
	s3, ok := st.(*s3store.Store)
	if !ok {
		return nil
	}
	if err := s3.CheckCredentials(ctx); err != nil {
		return &ConfigError{Key: "output", Msg: err.Error()}
	}
	err := s3.ProbeConditional(ctx, load.StateDir)
	switch {
	case errors.Is(err, s3store.ErrNoConditionalWrites):
		return &ConfigError{Key: "s3.endpoint", Msg: err.Error()}
	case errors.Is(err, s3store.ErrNoBucket):
		return &ConfigError{Key: "output", Msg: fmt.Sprintf("%s: %v", s3.URL(), s3store.ErrNoBucket)}
	case errors.Is(err, s3store.ErrDenied):
		return &ConfigError{Key: "output", Msg: fmt.Sprintf("%s: %v", s3.URL(), s3store.ErrDenied)}
	case err != nil:
		return fmt.Errorf("checking the output: %w", err)
	}
	return nil
}

// recoverOutput is the clean-up a run does once it holds the lock:
// unfinished uploads and uncommitted files of runs killed more than an hour
// ago. Readers skip uncommitted files, so there is no hurry; the margin
// covers a run that lost its lease and is still stopping, and clocks that
// disagree.
func recoverOutput(st store.Store, reg *schemas.Registry, log *slog.Logger) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		files, unfinished, err := load.Recover(ctx, st, reg, time.Now().Add(-time.Hour))
		if files+unfinished > 0 {
			log.Info("cleaned up after killed runs", "uncommitted_files", files, "unfinished_writes", unfinished)
		}
		return err
	}
}

// viewsS3 is how DuckDB reaches an s3:// lake, with the credentials the SDK
// resolved (used in a temporary secret only).
func viewsS3(ctx context.Context, cfg *Config, st store.Store) (*views.S3, error) {
	s3, ok := st.(*s3store.Store)
	if !ok {
		return nil, nil
	}
	creds, err := s3.Credentials(ctx)
	if err != nil {
		return nil, fmt.Errorf("S3 credentials: %w", err)
	}
	return &views.S3{
		Region: s3.Region(), Endpoint: cfg.S3.Endpoint, PathStyle: cfg.S3.ForcePathStyle,
		KeyID: creds.AccessKeyID, Secret: creds.SecretAccessKey, SessionToken: creds.SessionToken,
	}, nil
}

// notBesideARun is a *pipeline.LockedError naming the holder when a live
// run holds the lake: for what reads it without the lock but must not run
// beside a run.
func notBesideARun(ctx context.Context, st store.Store) error {
	h, err := (&load.Lock{Store: st}).Held(ctx)
	if h != nil {
		return &pipeline.LockedError{Holder: *h}
	}
	return err
}
