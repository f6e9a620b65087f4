package teampro_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/athlake/athlake/extract/teampro"
	"github.com/athlake/athlake/internal/testlog"
	sbt "github.com/athlake/athlake/sandbox/teampro"
)

func oauthServer(t *testing.T) (*sbt.Server, *oauth2.Config) {
	t.Helper()
	sb := sbt.New(sbt.Options{Seed: 1, ClientID: "cid", ClientSecret: "csecret"})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	return sb, &oauth2.Config{
		ClientID: "cid", ClientSecret: "csecret",
		Endpoint: oauth2.Endpoint{AuthURL: srv.URL + "/oauth/authorize", TokenURL: srv.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
}

// location asks the authorize endpoint, as a browser would, and returns
// where it redirects.
func location(t *testing.T, authURL string) string {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize answered %s", resp.Status)
	}
	return resp.Header.Get("Location")
}

func TestAuthFlowLoopbackRedirect(t *testing.T) {
	t.Parallel()
	_, cfg := oauthServer(t)
	var prompt strings.Builder
	flow := &teampro.AuthFlow{Config: cfg, Prompt: &prompt, Open: func(ctx context.Context, u string) error {
		if !strings.Contains(u, "scope=team_read") || !strings.Contains(u, "state=") || !strings.Contains(u, "redirect_uri=http%3A%2F%2F127.0.0.1%3A") {
			t.Errorf("authorize URL lacks scope, state or a loopback redirect: %s", u)
		}
		resp, err := http.Get(u) // follows the redirect to the flow's listener
		if err == nil {
			resp.Body.Close()
		}
		return err
	}}
	tok, err := flow.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Expiry.Before(time.Now().Add(11*time.Hour)) {
		t.Errorf("token = %+v", tok)
	}
	if !strings.Contains(prompt.String(), "/oauth/authorize?") {
		t.Errorf("the authorize URL was not shown: %q", prompt.String())
	}
}

func TestAuthFlowPastedURLChecksState(t *testing.T) {
	t.Parallel()
	_, cfg := oauthServer(t)
	pr, pw := io.Pipe()
	var prompt testlog.Buffer
	flow := &teampro.AuthFlow{Config: cfg, Prompt: &prompt, Input: pr}
	done := make(chan error, 1)
	go func() {
		_, err := flow.Run(context.Background())
		done <- err
	}()
	// The user opens the URL elsewhere and pastes where it sent them, but
	// a forged redirect (state of another request) comes first.
	var authURL string
	for authURL == "" {
		time.Sleep(10 * time.Millisecond)
		for _, f := range strings.Fields(prompt.String()) {
			if strings.Contains(f, "/oauth/authorize?") {
				authURL = f
			}
		}
	}
	loc := location(t, authURL)
	forged := strings.Replace(loc, "state=", "state=x", 1)
	io.WriteString(pw, forged+"\n")
	if err := <-done; err == nil || !strings.Contains(err.Error(), "state") {
		t.Fatalf("forged redirect accepted: %v", err)
	}
}

func TestAuthFlowPastedCode(t *testing.T) {
	t.Parallel()
	sb, cfg := oauthServer(t)
	pr, pw := io.Pipe()
	flow := &teampro.AuthFlow{Config: cfg, Input: pr, Listen: "127.0.0.1:0"}
	done := make(chan error, 1)
	go func() {
		_, err := flow.Run(context.Background())
		done <- err
	}()
	// A bare code, as a user copies it from the page they were sent to. Its
	// redirect_uri must match the one the flow registers; the sandbox binds
	// none to codes issued this way.
	io.WriteString(pw, "  "+sb.AuthorizeCode("")+"  \n")
	if err := <-done; err != nil {
		t.Fatalf("pasted code refused: %v", err)
	}
}
