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
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/oauth2"

	"github.com/athlake/athlake/load/store"
)

// ErrReauthorize means the stored authorization is gone (no token, or the
// refresh token was revoked or expired): only `athlake auth teampro` can fix
// it, so it is not retried.
var ErrReauthorize = errors.New("run `athlake auth teampro` to authorize athlake again")

// ErrTokenChanged is returned by a TokenStore's Put when the stored token is
// no longer the version the write was based on.
var ErrTokenChanged = errors.New("the stored Team Pro token changed meanwhile")

// TokenStore is where the OAuth2 token lives: a file (TokenFile) or an
// object (ObjectToken). A store that can serialise refreshes between
// processes also implements TokenLocker.
type TokenStore interface {
	// Get reads the token and its version. A missing or unusable token is
	// an error wrapping ErrReauthorize.
	Get(ctx context.Context) (tok *oauth2.Token, version string, err error)
	// Put writes the token if the stored one is still at ifVersion (an
	// error wrapping ErrTokenChanged otherwise); ifVersion "" writes
	// whatever is stored, as `athlake auth` does.
	Put(ctx context.Context, tok *oauth2.Token, ifVersion string) error
	// String says where the token lives, for messages.
	String() string
}

// TokenLocker is a TokenStore that can hold every other process's refresh
// off until unlock: what a refresher then reads is the latest token.
type TokenLocker interface {
	Lock(ctx context.Context) (unlock func(), err error)
}

// encodeToken is the stored form of a token: the JSON of oauth2.Token.
func encodeToken(t *oauth2.Token) ([]byte, error) {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// decodeToken reads a stored token; where names it in errors, which never
// quote the content.
func decodeToken(b []byte, where string) (*oauth2.Token, error) {
	var t oauth2.Token
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("the Team Pro token at %s is not an OAuth2 token: %w", where, ErrReauthorize)
	}
	if t.RefreshToken == "" && t.AccessToken == "" {
		return nil, fmt.Errorf("the Team Pro token at %s holds no token: %w", where, ErrReauthorize)
	}
	return &t, nil
}

// TokenFile keeps the token in a file: the JSON encoding of oauth2.Token,
// mode 0600, replaced atomically. Its version is a digest of the content,
// and refreshes serialise on a lock file beside it.
type TokenFile struct{ Path string }

var _ interface {
	TokenStore
	TokenLocker
} = TokenFile{}

// Get reads the token; its version is a digest of the file.
func (f TokenFile) Get(context.Context) (*oauth2.Token, string, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("no Team Pro token at %s: %w", f.Path, ErrReauthorize)
	}
	if err != nil {
		return nil, "", err
	}
	t, err := decodeToken(b, f.Path)
	if err != nil {
		return nil, "", err
	}
	return t, store.ContentVersion(b), nil
}

// Put saves the token if the file is still at ifVersion. The check is exact
// for a caller holding Lock; `athlake auth` (ifVersion "") takes no lock.
func (f TokenFile) Put(_ context.Context, t *oauth2.Token, ifVersion string) error {
	if ifVersion != "" {
		b, err := os.ReadFile(f.Path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err != nil || store.ContentVersion(b) != ifVersion {
			return fmt.Errorf("%s: %w", f.Path, ErrTokenChanged)
		}
	}
	return f.write(t)
}

// write replaces the file: a temporary file with mode 0600 in the same
// folder, synced and renamed over the old one.
func (f TokenFile) write(t *oauth2.Token) error {
	b, err := encodeToken(t)
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
	if _, err := tmp.Write(b); err != nil {
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

// Lock takes an exclusive lock shared by every process that refreshes this
// token, on a sidecar file (the token file itself is replaced by rename).
// It waits for the holder until ctx is done.
func (f TokenFile) Lock(ctx context.Context) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return nil, err
	}
	lf, err := os.OpenFile(f.Path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	// A blocking flock cannot be cancelled: try, and wait a little between
	// tries.
	pause := 10 * time.Millisecond
	for {
		err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			lf.Close()
			return nil, err
		}
		timer := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			timer.Stop()
			lf.Close()
			return nil, ctx.Err()
		case <-timer.C:
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
	return func() {
		syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
		lf.Close()
	}, nil
}

// String is the file's path.
func (f TokenFile) String() string { return f.Path }

// ObjectToken keeps the token in an object of a store (S3 for machines
// without a persistent disk), in the same JSON as a TokenFile. There is no
// lock: refreshes serialise by compare-and-swap on the object's version.
type ObjectToken struct {
	Store store.Store
	Key   string
}

var _ TokenStore = ObjectToken{}

// Get reads the token; its version is the object's.
func (o ObjectToken) Get(ctx context.Context) (*oauth2.Token, string, error) {
	b, v, err := o.Store.Get(ctx, o.Key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", fmt.Errorf("no Team Pro token at %s: %w", o, ErrReauthorize)
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading the Team Pro token: %w", err)
	}
	t, err := decodeToken(b, o.String())
	if err != nil {
		return nil, "", err
	}
	return t, v, nil
}

// Put writes the token with a compare-and-swap on ifVersion, or
// unconditionally when ifVersion is "".
func (o ObjectToken) Put(ctx context.Context, t *oauth2.Token, ifVersion string) error {
	b, err := encodeToken(t)
	if err != nil {
		return err
	}
	if ifVersion == "" {
		if err := o.Store.Put(ctx, o.Key, b); err != nil {
			return fmt.Errorf("writing the Team Pro token: %w", err)
		}
		return nil
	}
	_, err = o.Store.PutIf(ctx, o.Key, b, ifVersion)
	switch {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%s: %w", o, ErrTokenChanged)
	case err != nil:
		return fmt.Errorf("writing the Team Pro token: %w", err)
	}
	return nil
}

// String is the object's URL.
func (o ObjectToken) String() string {
	return strings.TrimSuffix(o.Store.URL(), "/") + "/" + o.Key
}

// DefaultSaveWait is TokenSource.SaveWait's default.
const DefaultSaveWait = 10 * time.Second

// tokenAttempts bounds the refreshes of one Token call when the stored token
// keeps changing under it.
const tokenAttempts = 3

// TokenSource returns access tokens from a TokenStore, refreshing an expired
// one itself. A refreshed token, with its rotated refresh token, is saved
// before it is used: the vendor invalidates the old refresh token on use, so
// losing the new one would lose the authorization.
//
// Processes that refresh at once either serialise on the store's lock
// (TokenLocker), and whoever comes second finds the fresh token instead of
// spending the already rotated refresh token again; or, without a lock, race
// at the vendor and the store. There the vendor refuses all but the first
// use of the refresh token: a loser waits (up to SaveWait) for the winner's
// token to appear in the store and uses it. A refresh whose save loses the
// compare-and-swap (the token was re-authorized or refreshed meanwhile)
// drops its token unused and takes the stored one.
type TokenSource struct {
	Config *oauth2.Config
	Store  TokenStore
	// HTTP carries the token requests (default: a client with a timeout).
	HTTP *http.Client
	// SaveWait is how long, on a store without a lock, a refresh the vendor
	// refused waits for another process's fresh token before concluding
	// that the authorization is gone (0: DefaultSaveWait).
	SaveWait time.Duration

	mu  sync.Mutex
	cur *oauth2.Token
}

// Token returns a valid access token: TokenContext without a caller's
// context, for the oauth2.TokenSource interface.
func (s *TokenSource) Token() (*oauth2.Token, error) {
	return s.TokenContext(context.Background())
}

// TokenContext returns a valid access token, refreshing it if needed. It
// gives up when ctx is done (or after two minutes and SaveWait), waiting
// for the lock, the store or the vendor; but a token the vendor has
// already rotated is saved all the same: the old refresh token is spent,
// so that token is the authorization.
func (s *TokenSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur.Valid() {
		return s.cur, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute+s.saveWait())
	defer cancel()
	wait := s.saveWait()
	if l, ok := s.Store.(TokenLocker); ok {
		unlock, err := l.Lock(ctx)
		if err != nil {
			return nil, fmt.Errorf("locking the Team Pro token at %s: %w", s.Store, err)
		}
		defer unlock()
		wait = 0 // under the lock, nobody else refreshes
	}
	stored, ver, err := s.Store.Get(ctx)
	for attempt := 1; ; attempt++ {
		if err != nil {
			return nil, err
		}
		if stored.Valid() {
			s.cur = stored
			return stored, nil
		}
		if stored.RefreshToken == "" {
			return nil, fmt.Errorf("the Team Pro access token expired and there is no refresh token: %w", ErrReauthorize)
		}
		if attempt > tokenAttempts {
			return nil, fmt.Errorf("refreshing the Team Pro token: it kept changing at %s: %w", s.Store, ErrTokenChanged)
		}
		fresh, spent, err := s.refresh(ctx, stored.RefreshToken)
		if spent {
			// Perhaps another process spent this refresh token first.
			next, nextVer, changed, gerr := s.awaitChange(ctx, ver, wait)
			if gerr != nil {
				return nil, gerr
			}
			if !changed {
				return nil, err
			}
			stored, ver = next, nextVer
			continue
		}
		if err != nil {
			return nil, err
		}
		if fresh.RefreshToken == "" {
			fresh.RefreshToken = stored.RefreshToken // not rotated this time
		}
		err = s.save(ctx, fresh, ver)
		if errors.Is(err, ErrTokenChanged) {
			stored, ver, err = s.Store.Get(ctx)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("saving the refreshed token (not used until saved): %w", err)
		}
		s.cur = fresh
		return fresh, nil
	}
}

// save stores a freshly rotated token. The old refresh token is spent, so
// this token is the authorization: the save goes on when ctx is cancelled,
// and a failed save (the store unreachable) is retried with backoff, for up
// to a minute, before giving up; a lost compare-and-swap is not.
func (s *TokenSource) save(ctx context.Context, t *oauth2.Token, ifVersion string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		err := s.Store.Put(ctx, t, ifVersion)
		if err == nil || errors.Is(err, ErrTokenChanged) || attempt == 4 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

func (s *TokenSource) saveWait() time.Duration {
	if s.SaveWait > 0 {
		return s.SaveWait
	}
	return DefaultSaveWait
}

// refresh spends refreshToken at the vendor. spent reports invalid_grant:
// the refresh token is no longer valid, perhaps because it was used.
func (s *TokenSource) refresh(ctx context.Context, refreshToken string) (fresh *oauth2.Token, spent bool, err error) {
	hc := s.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
	fresh, err = s.Config.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client") {
			return nil, re.ErrorCode == "invalid_grant", fmt.Errorf("refreshing the Team Pro token: the vendor answered %s: %w", re.ErrorCode, ErrReauthorize)
		}
		return nil, false, fmt.Errorf("refreshing the Team Pro token: %w", redactRetrieveError(err))
	}
	return fresh, false, nil
}

// awaitChange reads the store until its token is no longer at version, for
// up to wait (at least once).
func (s *TokenSource) awaitChange(ctx context.Context, version string, wait time.Duration) (*oauth2.Token, string, bool, error) {
	deadline := time.Now().Add(wait)
	pause := 20 * time.Millisecond
	for {
		t, v, err := s.Store.Get(ctx)
		if err != nil {
			return nil, "", false, err
		}
		if v != version {
			return t, v, true, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, "", false, nil
		}
		timer := time.NewTimer(min(pause, left))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, "", false, ctx.Err()
		case <-timer.C:
		}
		pause = min(2*pause, 500*time.Millisecond)
	}
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
