package connector

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/athlake/athlake/extract/internal/httpx"
	"gopkg.in/yaml.v3"
)

// Secret is a credential. It prints (under every verb, %#v included), logs
// and marshals as a placeholder; Reveal returns the value for the one place
// that sends it.
type Secret string

const redacted = "[redacted]"

// String is the placeholder, or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps the secret out of %#v.
func (s Secret) GoString() string { return "connector.Secret(" + strconv.Quote(s.String()) + ")" }

// Format prints the placeholder under every verb: without it, a verb that
// does not suit a string (%d) would print the value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, s.GoString())
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), s.String())
}

// LogValue keeps the secret out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON keeps the secret out of JSON output.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalYAML keeps the secret out of YAML output.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// Duration is a time.Duration written as "90s", "2h" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration like 90s or 2h", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// CheckURL checks that v is an http:// or https:// URL; key names it in
// the error, and want says what is expected when it is not.
func CheckURL(key, v, want string) error {
	if !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
		return &KeyError{Key: key, Msg: want}
	}
	return nil
}

// Required checks that v is set.
func Required[T comparable](key string, v T) error {
	var zero T
	if v == zero {
		return &KeyError{Key: key, Msg: "required"}
	}
	return nil
}

// RefusedCredential is the AuthError of a source whose one credential,
// key, is what an HTTP 401 or 403 of its own refuses.
func RefusedCredential(source, key string) func(err error) *KeyError {
	return func(err error) *KeyError {
		var api *httpx.APIError
		if errors.As(err, &api) && api.Source == source && (api.Status == http.StatusUnauthorized || api.Status == http.StatusForbidden) {
			return &KeyError{Key: key, Msg: "the vendor rejected the credentials"}
		}
		return nil
	}
}
