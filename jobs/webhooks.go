package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/athlake/athlake/extract/connector"
	"github.com/athlake/athlake/extract/plyomat"
	"github.com/athlake/athlake/extract/plyomat/webhook"
	"github.com/athlake/athlake/pipeline"
)

// Defaults of `athlake webhooks serve`.
const (
	DefaultWebhookAddr = "127.0.0.1:8080"
	// DefaultApplyDelay is how long the applier waits after a delivery
	// before it applies the spool, gathering the deliveries that follow
	// into one small commit. With a commit and a views update taking a
	// few seconds, a set is in the views well within a minute of its
	// delivery (the documented target: 60 s).
	DefaultApplyDelay = 2 * time.Second
	// DefaultApplyEvery is how often the applier looks at the spool
	// besides (deliveries spooled by another replica, or while a sync
	// held the lock).
	DefaultApplyEvery = 30 * time.Second
)

// WebhooksOptions configure `athlake webhooks serve`.
type WebhooksOptions struct {
	Addr string // listen address (default DefaultWebhookAddr)
	// Listener, if set, is served instead of listening on Addr (tests).
	Listener   net.Listener
	ApplyDelay time.Duration // negative: apply at once
	ApplyEvery time.Duration
	// NoApply leaves the spool to the next sync (tests of the receiver).
	NoApply bool
	Server  webhook.ServerOptions
	// Applying and Applied, if set, are told when each apply run starts
	// and how it ended (tests, figures).
	Applying func()
	Applied  func(sum *Summary, err error)
}

// ServeWebhooks receives Plyomat webhook deliveries until ctx is done:
// each verified delivery is spooled in the lake before it is
// acknowledged, and an applier commits the spooled events with targeted
// pulls in small runs under the lake's lock (as a sync does; when a sync
// holds the lock, the sync applies them itself).
func ServeWebhooks(ctx context.Context, env *Env, cfg *Config, o WebhooksOptions) error {
	sec, ok := cfg.Sources[plyomat.SourceName].(*plyomat.Config)
	if !ok || sec == nil {
		return &ConfigError{Key: "sources." + plyomat.SourceName, Msg: "not configured: webhooks serve receives Plyomat deliveries"}
	}
	if sec.WebhookSecret == "" {
		return &ConfigError{Key: "sources." + plyomat.SourceName + "." + plyomat.WebhookSecretKey, Msg: "required to verify deliveries (the subscription's signing secret, whsec_...)"}
	}
	st, err := openStore(ctx, env, cfg)
	if err != nil {
		return err
	}
	if err := prepareWrite(ctx, st); err != nil {
		return err
	}
	spool := webhook.NewSpool(st, plyomat.SourceName)
	wake := make(chan struct{}, 1)
	log := env.Log.With("command", "webhooks serve")
	rc := webhook.NewReceiver(webhook.ReceiverOptions{
		Spool: spool, Secret: []byte(sec.WebhookSecret.Reveal()), Log: log, Now: env.Now,
		Stored: func() {
			select {
			case wake <- struct{}{}:
			default:
			}
		},
	})
	ln := o.Listener
	if ln == nil {
		addr := cmp.Or(o.Addr, DefaultWebhookAddr)
		if ln, err = net.Listen("tcp", addr); err != nil {
			return &UsageError{Msg: fmt.Sprintf("--addr %s: %v", addr, err)}
		}
	}
	log.Info("receiving webhooks", "url", "http://"+ln.Addr().String()+webhook.Path, "spool", st.URL()+"/"+spool.Prefix(),
		"max_body", webhook.DefaultMaxBody)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		so := o.Server
		if so.ErrorLog == nil {
			so.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
		}
		err := webhook.Serve(gctx, ln, rc, so)
		if err != nil {
			return fmt.Errorf("webhook receiver: %w", err)
		}
		log.Info("webhook receiver stopped", "stats", rc.Stats())
		return nil
	})
	if !o.NoApply {
		g.Go(func() error {
			applyLoop(gctx, env, cfg, spool, wake, o)
			return nil
		})
	}
	err = g.Wait()
	if err == nil && ctx.Err() != nil {
		return nil // a SIGTERM is the normal end
	}
	return err
}

// applyLoop applies the spool after each delivery (once the delay has
// gathered those that follow), every ApplyEvery when the spool holds
// anything, and once at the start.
func applyLoop(ctx context.Context, env *Env, cfg *Config, spool *webhook.Spool, wake <-chan struct{}, o WebhooksOptions) {
	delay := cmp.Or(o.ApplyDelay, DefaultApplyDelay)
	every := cmp.Or(o.ApplyEvery, DefaultApplyEvery)
	tick := time.NewTicker(every)
	defer tick.Stop()
	log := env.Log.With("command", "webhooks serve")
	pending := func() bool {
		n, err := spool.Pending(ctx)
		if err != nil {
			log.Warn("looking at the webhook spool", "err", err)
		}
		return n > 0
	}
	applySpool(ctx, env, cfg, o, pending)
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
			if delay > 0 {
				t := time.NewTimer(delay)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
			applySpool(ctx, env, cfg, o, pending)
		case <-tick.C:
			applySpool(ctx, env, cfg, o, pending)
		}
	}
}

// applySpool runs the webhooks stream once, as a run of its own (the
// lock, commits, state and views as a sync's), when the spool holds
// something: a wake-up may come for deliveries the last run applied.
func applySpool(ctx context.Context, env *Env, cfg *Config, o WebhooksOptions, pending func() bool) {
	if o.Applying != nil {
		o.Applying()
	}
	if !pending() {
		if o.Applied != nil {
			o.Applied(nil, nil)
		}
		return
	}
	quiet := *env
	quiet.Stdout, quiet.Progress = io.Discard, false
	sum, err := Run(ctx, &quiet, cfg, RunOptions{Command: "webhooks", Sources: []string{plyomat.SourceName}, Run: connector.Run{Webhooks: true}})
	if o.Applied != nil {
		o.Applied(sum, err)
	}
	var locked *pipeline.LockedError
	switch {
	case errors.As(err, &locked):
		env.Log.Info("webhook events wait: another run holds the lock (a sync applies them first)", "holder", locked.Holder.RunID, "command", locked.Holder.Command)
	case err != nil && ctx.Err() != nil:
	case err != nil:
		env.Log.Error("applying webhook events", "err", err)
	}
}
