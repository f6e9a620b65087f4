package teampro

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/oauth2"
)

// ErrReauthorize means the stored authorization is gone (no token file, or
// the refresh token was revoked or expired): only `athlake auth teampro`
// can fix it, so it is not retried.
var ErrReauthorize = errors.New("run `athlake auth teampro` to authorize athlake again")

// TokenFile is where the OAuth2 token lives: the JSON encoding of
// oauth2.Token, mode 0600, replaced atomically.
type TokenFile struct{ Path string }

// Load reads the token.
func (f TokenFile) Load() (*oauth2.Token, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no Team Pro token at %s: %w", f.Path, ErrReauthorize)
	}
	if err != nil {
		return nil, err
	}
	var t oauth2.Token
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("token file %s is not an OAuth2 token: %w", f.Path, ErrReauthorize)
	}
	if t.RefreshToken == "" && t.AccessToken == "" {
		return nil, fmt.Errorf("token file %s holds no token: %w", f.Path, ErrReauthorize)
	}
	return &t, nil
}

// Save writes the token: a temporary file with mode 0600 in the same folder,
// synced and renamed over the old one.
func (f TokenFile) Save(t *oauth2.Token) error {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(f.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-token-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), f.Path)
}

// lock takes an exclusive lock shared by every process that refreshes this
// token, on a sidecar file (the token file itself is replaced by rename).
func (f TokenFile) lock() (func(), error) {
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return nil, err
	}
	lf, err := os.OpenFile(f.Path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		lf.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
		lf.Close()
	}, nil
}

// TokenSource returns access tokens from the token file, refreshing an
// expired one itself. A refreshed token, with its rotated refresh token, is
// saved before it is used: the vendor invalidates the old refresh token on
// use, so losing the new one would lose the authorization. Processes that
// refresh at once serialise on a file lock, and whoever comes second finds
// the fresh token on disk instead of spending the (already rotated) refresh
// token again.
type TokenSource struct {
	Config *oauth2.Config
	File   TokenFile
	// HTTP carries the token requests (default: a client with a timeout).
	HTTP *http.Client

	mu  sync.Mutex
	cur *oauth2.Token
}

// Token returns a valid access token.
func (s *TokenSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur.Valid() {
		return s.cur, nil
	}
	unlock, err := s.File.lock()
	if err != nil {
		return nil, fmt.Errorf("locking the token file: %w", err)
	}
	defer unlock()
	disk, err := s.File.Load()
	if err != nil {
		return nil, err
	}
	if disk.Valid() {
		s.cur = disk
		return disk, nil
	}
	if disk.RefreshToken == "" {
		return nil, fmt.Errorf("the Team Pro access token expired and there is no refresh token: %w", ErrReauthorize)
	}
	hc := s.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	fresh, err := s.Config.TokenSource(ctx, &oauth2.Token{RefreshToken: disk.RefreshToken}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client") {
			return nil, fmt.Errorf("refreshing the Team Pro token: the vendor answered %s: %w", re.ErrorCode, ErrReauthorize)
		}
		return nil, fmt.Errorf("refreshing the Team Pro token: %w", redactRetrieveError(err))
	}
	if fresh.RefreshToken == "" {
		fresh.RefreshToken = disk.RefreshToken // not rotated this time
	}
	if err := s.File.Save(fresh); err != nil {
		return nil, fmt.Errorf("saving the refreshed token (not used until saved): %w", err)
	}
	s.cur = fresh
	return fresh, nil
}

// redactRetrieveError drops the response body x/oauth2 puts in its errors:
// a token endpoint's body can hold tokens.
func redactRetrieveError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return fmt.Errorf("token endpoint answered HTTP %d %s", status, re.ErrorCode)
	}
	return err
}
