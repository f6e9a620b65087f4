package jobs

import (
	"errors"
	"net/http"
	"reflect"
	"slices"
	"testing"

	"github.com/athlake/athlake/extract/plyomat"
	"github.com/athlake/athlake/schemas"
)

// Every registry entry is whole: a unique name its tables carry, a section
// that decodes into a struct, a sandbox section that validates, and an
// auth-error mapping that claims its own refusals and no other source's.
func TestRegistry(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, c := range registry {
		if c.Name == "" || seen[c.Name] || c.Title == "" || c.NewConfig == nil || c.Tables == nil || c.AuthError == nil || c.Sandbox == nil {
			t.Errorf("%q: incomplete or repeated entry", c.Name)
			continue
		}
		seen[c.Name] = true
		if v := reflect.ValueOf(c.NewConfig()); v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
			t.Errorf("%s: NewConfig returns %T, want a pointer to a struct (it is decoded from YAML)", c.Name, c.NewConfig())
		}
		if len(c.Tables()) == 0 {
			t.Errorf("%s: no tables", c.Name)
		}
		for _, tb := range c.Tables() {
			if tb.Source != c.Name {
				t.Errorf("%s: table %s belongs to source %q", c.Name, tb.ID(), tb.Source)
			}
		}
		if err := c.Sandbox("http://127.0.0.1:1", t.TempDir()).Validate(); err != nil {
			t.Errorf("%s: the sandbox's section does not validate: %v", c.Name, err)
		}
		if ke := c.AuthError(errors.New("boom")); ke != nil {
			t.Errorf("%s: claims a plain error: %v", c.Name, ke)
		}
		for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
			own := &plyomat.APIError{Source: c.Name, Endpoint: "GET /x", Status: status}
			if ke := c.AuthError(errors.Join(errors.New("run"), own)); ke == nil || ke.Key == "" {
				t.Errorf("%s: HTTP %d of its own names no key: %v", c.Name, status, ke)
			}
			other := &plyomat.APIError{Source: "other", Endpoint: "GET /x", Status: status}
			if ke := c.AuthError(other); ke != nil {
				t.Errorf("%s: claims another source's HTTP %d: %v", c.Name, status, ke)
			}
		}
	}
	// The load and views tests use schemas.All: the same tables.
	var got, want []string
	for _, tb := range tables().Tables() {
		got = append(got, tb.ID())
	}
	for _, tb := range schemas.All().Tables() {
		want = append(want, tb.ID())
	}
	if len(got) == 0 || !slices.Equal(got, want) {
		t.Errorf("the registry's tables %v, schemas.All's %v", got, want)
	}
}

// A refusal names the key of the section to fix, never a bare section.
func TestClassifyNamesTheKey(t *testing.T) {
	t.Parallel()
	for src, key := range map[string]string{"plyomat": "sources.plyomat.api_key", "optimo": "sources.optimo.token", "teampro": "sources.teampro.token_file"} {
		for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
			err := classify(&plyomat.APIError{Source: src, Endpoint: "GET /x", Status: status}, []string{"plyomat", "optimo", "teampro"})
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != key || ExitCode(err) != ExitUsage {
				t.Errorf("%s HTTP %d: %v (exit %d), want a config error on %s", src, status, err, ExitCode(err), key)
			}
		}
	}
}
