package teampro

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Scope is the only scope Team Pro knows.
const Scope = "team_read"

// AuthFlow is the OAuth2 authorization-code flow with a loopback redirect
// (RFC 8252): it shows the authorize URL (and opens it where it can), then
// takes the code from the redirect to its listener, checking state, or from
// a code or redirect URL pasted on Input for a machine without a browser.
type AuthFlow struct {
	Config *oauth2.Config // RedirectURL is set by the flow
	// Listen is the loopback address of the redirect listener; its path
	// is CallbackPath. Default 127.0.0.1:0 (any free port).
	Listen       string
	CallbackPath string
	// Open shows the URL to the user (a browser); nil: print only.
	Open func(ctx context.Context, authURL string) error
	// Prompt receives the instructions; Input, if set, is read for a pasted
	// code or redirect URL.
	Prompt io.Writer
	Input  io.Reader
	HTTP   *http.Client
}

// Run performs the flow and returns the token.
func (f *AuthFlow) Run(ctx context.Context) (*oauth2.Token, error) {
	listen, path := f.Listen, f.CallbackPath
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	if path == "" {
		path = "/callback"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("starting the redirect listener on %s: %w", listen, err)
	}
	defer ln.Close()
	cfg := *f.Config
	cfg.RedirectURL = "http://" + ln.Addr().String() + path
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{Scope}
	}
	var sb [16]byte
	rand.Read(sb[:])
	state := hex.EncodeToString(sb[:])
	authURL := cfg.AuthCodeURL(state)

	codes := make(chan string, 1)
	errs := make(chan error, 1)
	mux := http.NewServeMux()
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		code, err := codeFromQuery(r.URL.Query(), state)
		if err != nil {
			http.Error(w, "athlake: "+err.Error(), http.StatusBadRequest)
			select {
			case errs <- err:
			default:
			}
			return
		}
		fmt.Fprintln(w, "athlake is authorized for Polar Team Pro. You can close this tab.")
		select {
		case codes <- code:
		default:
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	defer func() {
		srv.Close()
		<-served
	}()

	if f.Prompt != nil {
		fmt.Fprintf(f.Prompt, "Authorize athlake for Polar Team Pro by opening:\n\n  %s\n\n", authURL)
		if f.Input != nil {
			fmt.Fprintln(f.Prompt, "On a machine without a browser here, open it elsewhere and paste the code (or the whole URL you were sent to):")
		}
	}
	if f.Input != nil {
		// Reading a terminal cannot be cancelled; the goroutine ends with
		// the command, which ends when the flow does.
		go func() {
			sc := bufio.NewScanner(f.Input)
			for sc.Scan() {
				line := strings.TrimSpace(sc.Text())
				if line == "" {
					continue
				}
				code, err := pastedCode(line, state)
				if err != nil {
					errs <- err
					return
				}
				codes <- code
				return
			}
		}()
	}
	if f.Open != nil {
		if err := f.Open(ctx, authURL); err != nil && f.Prompt != nil {
			fmt.Fprintf(f.Prompt, "(could not open a browser: %v)\n", err)
		}
	}
	var code string
	select {
	case code = <-codes:
	case err := <-errs:
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	hc := f.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	tok, err := cfg.Exchange(context.WithValue(ctx, oauth2.HTTPClient, hc), code)
	if err != nil {
		return nil, fmt.Errorf("exchanging the code: %w", redactRetrieveError(err))
	}
	return tok, nil
}

// codeFromQuery checks a redirect's state and returns its code.
func codeFromQuery(q url.Values, state string) (string, error) {
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("authorization refused: %s", e)
	}
	if q.Get("state") != state {
		return "", errors.New("the redirect's state does not match this request (a stale or forged redirect)")
	}
	if q.Get("code") == "" {
		return "", errors.New("the redirect carries no code")
	}
	return q.Get("code"), nil
}

// pastedCode accepts a pasted redirect URL (state checked) or a bare code.
func pastedCode(line, state string) (string, error) {
	if strings.Contains(line, "://") || strings.HasPrefix(line, "?") {
		u, err := url.Parse(line)
		if err != nil {
			return "", fmt.Errorf("the pasted URL does not parse: %w", err)
		}
		return codeFromQuery(u.Query(), state)
	}
	return line, nil
}
