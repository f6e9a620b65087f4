// Package teamprotest helps tests of code that holds a Team Pro
// authorization.
package teamprotest

import (
	"context"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/athlake/athlake/extract/teampro"
)

// ExpireToken makes the access token in st look expired, so that the next
// teampro.TokenSource must refresh it, and returns the token as now stored.
func ExpireToken(t testing.TB, st teampro.TokenStore) *oauth2.Token {
	t.Helper()
	tok, ver, err := st.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tok.Expiry = time.Now().Add(-time.Hour)
	if err := st.Put(context.Background(), tok, ver); err != nil {
		t.Fatal(err)
	}
	return tok
}
