package jobs

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/athlake/athlake/extract/connector"
)

// Authorize runs a source's interactive authorization (Team Pro's OAuth2
// authorization-code flow) and saves what it gets (a token file, mode
// 0600).
//
// The instructions go to o.Prompt, default env.Stderr.
func Authorize(ctx context.Context, env *Env, cfg *Config, source string, o connector.AuthOptions) error {
	var can []string
	for _, c := range registry {
		if _, ok := c.NewConfig().(connector.Authorizer); ok {
			can = append(can, c.Name)
		}
	}
	c, ok := lookup(source)
	if !ok || !slices.Contains(can, source) {
		return &UsageError{Msg: fmt.Sprintf("auth %s: no such source to authorize (those that need it: %s)", source, strings.Join(can, ", "))}
	}
	if o.Prompt == nil {
		o.Prompt = env.Stderr
	}
	sec := cfg.Sources[source]
	if sec == nil {
		return &ConfigError{Key: "sources." + source, Msg: "not configured"}
	}
	where, err := sec.(connector.Authorizer).Authorize(ctx, sourceEnv(env, cfg, source, env.Log), o)
	if err != nil {
		return sourceError(source, err)
	}
	fmt.Fprintf(env.Stdout, "%s token saved to %s\n", c.Title, where)
	return nil
}
