package teampro_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/athlake/athlake/extract/teampro"
	"github.com/athlake/athlake/extract/teampro/teamprotest"
	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/load/store/s3store/s3test"
	sbt "github.com/athlake/athlake/sandbox/teampro"
)

// tokenStoreKind makes empty token stores of one kind; raw writes bytes
// where the store keeps its token, as another tool would.
type tokenStoreKind struct {
	name string
	new  func(t *testing.T) (st teampro.TokenStore, raw func(b []byte))
}

const tokenKey = "auth/teampro-token.json"

// TestTokenStores runs the token store suite on a file, on an object of a
// local store and on an object of a real S3 server.
func TestTokenStores(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kinds := []tokenStoreKind{
		{"File", func(t *testing.T) (teampro.TokenStore, func([]byte)) {
			p := filepath.Join(t.TempDir(), "sub", "token.json")
			return teampro.TokenFile{Path: p}, func(b []byte) {
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"Local", func(t *testing.T) (teampro.TokenStore, func([]byte)) {
			st, err := store.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return teampro.ObjectToken{Store: st, Key: tokenKey}, func(b []byte) {
				if err := st.Put(ctx, tokenKey, b); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			runTokenStoreSuite(t, k)
		})
	}
	t.Run("S3", func(t *testing.T) {
		t.Parallel()
		srv := s3test.Start(t) // stopped once every subtest is done
		runTokenStoreSuite(t, tokenStoreKind{"S3", func(t *testing.T) (teampro.TokenStore, func([]byte)) {
			st := srv.Store(t, srv.NewBucket(t), "lake")
			return teampro.ObjectToken{Store: st, Key: tokenKey}, func(b []byte) {
				if err := st.Put(ctx, tokenKey, b); err != nil {
					t.Fatal(err)
				}
			}
		}})
	})
}

func TestTokenFileIsPrivateAndAtomic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tf := teampro.TokenFile{Path: filepath.Join(dir, "sub", "token.json")}
	want := &oauth2.Token{AccessToken: "a", RefreshToken: "r", TokenType: "bearer", Expiry: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	if err := tf.Put(context.Background(), want, ""); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(tf.Path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", info.Mode(), err)
	}
	got, _, err := tf.Get(context.Background())
	if err != nil || got.AccessToken != "a" || got.RefreshToken != "r" || !got.Expiry.Equal(want.Expiry) {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	// A token file written by another tool in x/oauth2's format works.
	os.WriteFile(tf.Path, []byte(`{"access_token":"x","token_type":"Bearer","refresh_token":"y","expiry":"2030-01-01T00:00:00Z"}`), 0o600)
	if got, _, err := tf.Get(context.Background()); err != nil || got.RefreshToken != "y" {
		t.Fatalf("foreign token file: %+v, %v", got, err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "sub", ".tmp-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if _, _, err := (teampro.TokenFile{Path: filepath.Join(dir, "none.json")}).Get(context.Background()); err == nil || !strings.Contains(err.Error(), "athlake auth teampro") {
		t.Errorf("missing token file: %v", err)
	}
}

// seeded is a new store of kind k holding a new vendor's authorization,
// old, whose access token must be refreshed (see vendor.seed).
func (k tokenStoreKind) seeded(t *testing.T) (st teampro.TokenStore, v *vendor, old *oauth2.Token) {
	t.Helper()
	st, _ = k.new(t)
	v = newVendor(t)
	return st, v, v.seed(t, st)
}

func runTokenStoreSuite(t *testing.T, kind tokenStoreKind) {
	ctx := context.Background()

	t.Run("Missing", func(t *testing.T) {
		t.Parallel()
		st, _ := kind.new(t)
		if _, _, err := st.Get(ctx); !errors.Is(err, teampro.ErrReauthorize) || !strings.Contains(err.Error(), "athlake auth teampro") {
			t.Errorf("Get of a missing token: %v; want ErrReauthorize", err)
		}
		v := newVendor(t)
		_, err := (&teampro.TokenSource{Config: v.cfg, Store: st}).Token()
		if !errors.Is(err, teampro.ErrReauthorize) {
			t.Errorf("Token with no stored token: %v; want ErrReauthorize", err)
		}
		if n := v.sb.Stats().TokenRequests; n != 0 {
			t.Errorf("%d token requests without a token", n)
		}
	})

	t.Run("PutGetCompareAndSwap", func(t *testing.T) {
		t.Parallel()
		st, _ := kind.new(t)
		expiry := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
		tok := func(n string) *oauth2.Token {
			return &oauth2.Token{AccessToken: "access-" + n, RefreshToken: "refresh-" + n, TokenType: "bearer", Expiry: expiry}
		}
		mustGet := func(want string) string {
			t.Helper()
			got, ver, err := st.Get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got.AccessToken != "access-"+want || got.RefreshToken != "refresh-"+want || !got.Expiry.Equal(expiry) || ver == "" {
				t.Fatalf("Get = %+v, version %q; want token %s", got, ver, want)
			}
			return ver
		}
		if err := st.Put(ctx, tok("1"), ""); err != nil {
			t.Fatal(err)
		}
		v1 := mustGet("1")
		if err := st.Put(ctx, tok("2"), v1); err != nil {
			t.Fatalf("Put at the current version: %v", err)
		}
		v2 := mustGet("2")
		if v2 == v1 {
			t.Errorf("the version did not change: %q", v2)
		}
		err := st.Put(ctx, tok("3"), v1)
		if !errors.Is(err, teampro.ErrTokenChanged) {
			t.Fatalf("Put at a stale version: %v; want ErrTokenChanged", err)
		}
		assertNoSecret(t, err.Error(), "access-3", "refresh-3", "access-2", "refresh-2")
		mustGet("2")
		// `athlake auth` overwrites whatever is there.
		if err := st.Put(ctx, tok("4"), ""); err != nil {
			t.Fatal(err)
		}
		mustGet("4")
		if s := st.String(); s == "" || strings.Contains(s, "access-") || strings.Contains(s, "refresh-") {
			t.Errorf("String() = %q", s)
		}
	})

	t.Run("Corrupt", func(t *testing.T) {
		t.Parallel()
		st, raw := kind.new(t)
		if err := st.Put(ctx, &oauth2.Token{AccessToken: "a"}, ""); err != nil { // creates folders
			t.Fatal(err)
		}
		raw([]byte(`{"access_token": 5, "refresh_token": "corrupt-secret-value"}`))
		_, _, err := st.Get(ctx)
		if !errors.Is(err, teampro.ErrReauthorize) {
			t.Fatalf("Get of a corrupt token: %v; want ErrReauthorize", err)
		}
		assertNoSecret(t, err.Error(), "corrupt-secret-value")
		// A token written by another tool in x/oauth2's format works.
		raw([]byte(`{"access_token":"x","token_type":"Bearer","refresh_token":"y","expiry":"2030-01-01T00:00:00Z"}`))
		if got, _, err := st.Get(ctx); err != nil || got.AccessToken != "x" || got.RefreshToken != "y" {
			t.Fatalf("foreign token: %+v, %v", got, err)
		}
	})

	t.Run("RefreshSavesRotatedToken", func(t *testing.T) {
		t.Parallel()
		st, v, old := kind.seeded(t)
		got, err := (&teampro.TokenSource{Config: v.cfg, Store: st}).Token()
		if err != nil {
			t.Fatal(err)
		}
		if got.AccessToken == old.AccessToken || got.RefreshToken == old.RefreshToken || got.RefreshToken == "" {
			t.Fatalf("not a refreshed, rotated token (access changed %v, refresh changed %v)",
				got.AccessToken != old.AccessToken, got.RefreshToken != old.RefreshToken)
		}
		stored, _, err := st.Get(ctx)
		if err != nil || stored.AccessToken != got.AccessToken || stored.RefreshToken != got.RefreshToken || !stored.Expiry.Equal(got.Expiry) {
			t.Fatalf("the store does not hold the token in use (%v)", err)
		}
		v.assertWorks(t, got)
		v.assertRefreshes(t, 1, 0)
		// The old refresh token is spent: the rotated one had to be kept.
		if _, err := v.cfg.TokenSource(v.ctx(), &oauth2.Token{RefreshToken: old.RefreshToken}).Token(); err == nil {
			t.Error("the vendor still accepts the old refresh token: rotation not tested")
		}
		// Another process finds the valid token and does not refresh.
		again, err := (&teampro.TokenSource{Config: v.cfg, Store: st}).Token()
		if err != nil || again.AccessToken != got.AccessToken {
			t.Fatalf("second source: %v (same token %v)", err, err == nil && again.AccessToken == got.AccessToken)
		}
		// And once it expires, the stored refresh token is the live one.
		teamprotest.ExpireToken(t, st)
		next, err := (&teampro.TokenSource{Config: v.cfg, Store: st}).Token()
		if err != nil {
			t.Fatalf("refreshing with the stored refresh token: %v", err)
		}
		v.assertWorks(t, next)
		v.assertRefreshes(t, 2, 1)
	})

	t.Run("ConcurrentRefresh", func(t *testing.T) {
		t.Parallel()
		st, v, _ := kind.seeded(t)
		_, locked := st.(teampro.TokenLocker)
		var arrived chan struct{}
		release := make(chan struct{})
		if !locked {
			// Without a lock both processes must reach the vendor with the
			// same refresh token: hold the first until the second comes.
			arrived = make(chan struct{}, 2)
			v.onRefresh(func(http.ResponseWriter, *http.Request) bool {
				arrived <- struct{}{}
				<-release
				return false
			})
		}
		type result struct {
			tok *oauth2.Token
			err error
		}
		results := make(chan result, 2)
		for range 2 {
			ts := &teampro.TokenSource{Config: v.cfg, Store: st, SaveWait: time.Minute}
			go func() {
				tok, err := ts.Token()
				results <- result{tok, err}
			}()
		}
		if !locked {
			for range 2 {
				select {
				case <-arrived:
				case <-time.After(time.Minute):
					close(release)
					t.Fatal("the second refresh never reached the vendor")
				}
			}
		}
		close(release)
		a, b := <-results, <-results
		if a.err != nil || b.err != nil {
			t.Fatalf("Token: %v; %v", a.err, b.err)
		}
		if a.tok.AccessToken != b.tok.AccessToken {
			t.Error("the two sources hold different tokens")
		}
		v.assertWorks(t, a.tok)
		stored, _, err := st.Get(ctx)
		if err != nil || stored.AccessToken != a.tok.AccessToken || stored.RefreshToken != a.tok.RefreshToken {
			t.Errorf("the store does not hold the token in use (%v)", err)
		}
		wantRefused := 1 // the loser's, with the spent refresh token
		if locked {
			wantRefused = 0 // the second waits on the lock and reads the first's
		}
		v.assertRefreshes(t, 1, wantRefused)
	})

	t.Run("ReauthorizedDuringRefresh", func(t *testing.T) {
		t.Parallel()
		st, v, _ := kind.seeded(t)
		reauth := v.exchange(t)
		var once sync.Once
		v.onRefresh(func(http.ResponseWriter, *http.Request) bool {
			// `athlake auth` elsewhere saves a new token while the refresh
			// is under way.
			once.Do(func() {
				if err := st.Put(context.Background(), reauth, ""); err != nil {
					t.Error(err)
				}
			})
			return false
		})
		got, err := (&teampro.TokenSource{Config: v.cfg, Store: st}).Token()
		if err != nil {
			t.Fatal(err)
		}
		if got.AccessToken != reauth.AccessToken {
			t.Error("the source uses its own refresh instead of the re-authorized token")
		}
		stored, _, err := st.Get(ctx)
		if err != nil || stored.AccessToken != reauth.AccessToken || stored.RefreshToken != reauth.RefreshToken {
			t.Errorf("the re-authorized token was overwritten (%v)", err)
		}
		v.assertRefreshes(t, 1, 0)
	})

	t.Run("Revoked", func(t *testing.T) {
		t.Parallel()
		st, v, old := kind.seeded(t)
		v.sb.RevokeRefreshTokens()
		// The wait for another process's token ends with nothing.
		_, err := (&teampro.TokenSource{Config: v.cfg, Store: st, SaveWait: 50 * time.Millisecond}).Token()
		if !errors.Is(err, teampro.ErrReauthorize) || !strings.Contains(err.Error(), "invalid_grant") {
			t.Fatalf("Token after revocation: %v; want ErrReauthorize for invalid_grant", err)
		}
		assertNoSecret(t, err.Error(), old.AccessToken, old.RefreshToken, v.cfg.ClientSecret)
		if stored, _, err := st.Get(ctx); err != nil || stored.RefreshToken != old.RefreshToken {
			t.Errorf("the stored token changed (%v)", err)
		}
		v.assertRefreshes(t, 0, 1)
	})

	t.Run("TokenEndpointErrorIsRedacted", func(t *testing.T) {
		t.Parallel()
		st, v, old := kind.seeded(t)
		v.onRefresh(func(w http.ResponseWriter, r *http.Request) bool {
			// A broken endpoint echoes the request, refresh token included.
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"error":"server_error","error_description":"bad request `+string(body)+` `+old.AccessToken+`"}`)
			return true
		})
		_, err := (&teampro.TokenSource{Config: v.cfg, Store: st}).Token()
		if err == nil || errors.Is(err, teampro.ErrReauthorize) || !strings.Contains(err.Error(), "500") {
			t.Fatalf("Token: %v; want a transient error naming HTTP 500", err)
		}
		assertNoSecret(t, err.Error(), old.AccessToken, old.RefreshToken, v.cfg.ClientSecret)
	})
}

// vendor is the sandbox's OAuth2 server behind a handler that counts the
// answers to refreshes and lets a test act on them.
type vendor struct {
	sb  *sbt.Server
	cfg *oauth2.Config

	mu      sync.Mutex
	granted int
	refused int
	hook    func(w http.ResponseWriter, r *http.Request) (handled bool)
}

func newVendor(t *testing.T) *vendor {
	t.Helper()
	v := &vendor{sb: sbt.New(sbt.Options{Seed: 1, ClientID: "cid", ClientSecret: "csecret-do-not-leak"})}
	srv := httptest.NewServer(http.HandlerFunc(v.serve))
	t.Cleanup(srv.Close)
	v.cfg = &oauth2.Config{
		ClientID: "cid", ClientSecret: "csecret-do-not-leak",
		Endpoint: oauth2.Endpoint{AuthURL: srv.URL + "/oauth/authorize", TokenURL: srv.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	return v
}

func (v *vendor) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/oauth/token" {
		v.sb.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !bytes.Contains(body, []byte("grant_type=refresh_token")) {
		v.sb.ServeHTTP(w, r)
		return
	}
	v.mu.Lock()
	hook := v.hook
	v.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	v.sb.ServeHTTP(rec, r)
	v.mu.Lock()
	defer v.mu.Unlock()
	if rec.status == http.StatusOK {
		v.granted++
	} else {
		v.refused++
	}
}

// onRefresh calls hook on each refresh before the vendor sees it; a hook
// that answered itself returns true.
func (v *vendor) onRefresh(hook func(w http.ResponseWriter, r *http.Request) bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.hook = hook
}

// refreshes counts the refreshes the vendor granted and refused.
func (v *vendor) refreshes() (granted, refused int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.granted, v.refused
}

// assertRefreshes checks the refreshes the vendor granted and refused.
func (v *vendor) assertRefreshes(t *testing.T, granted, refused int) {
	t.Helper()
	if ok, no := v.refreshes(); ok != granted || no != refused {
		t.Errorf("vendor refreshes: %d granted, %d refused; want %d, %d", ok, no, granted, refused)
	}
}

func (v *vendor) ctx() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Timeout: time.Minute})
}

// exchange authorizes as `athlake auth` does.
func (v *vendor) exchange(t *testing.T) *oauth2.Token {
	t.Helper()
	tok, err := v.cfg.Exchange(v.ctx(), v.sb.AuthorizeCode(""))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// seed stores a fresh authorization whose access token looks expired, so
// that the next Token must refresh.
func (v *vendor) seed(t *testing.T, st teampro.TokenStore) *oauth2.Token {
	t.Helper()
	tok := v.exchange(t)
	tok.Expiry = time.Now().Add(-time.Hour)
	if err := st.Put(context.Background(), tok, ""); err != nil {
		t.Fatal(err)
	}
	return tok
}

// assertWorks calls the API with the token.
func (v *vendor) assertWorks(t *testing.T, tok *oauth2.Token) {
	t.Helper()
	if !tok.Valid() {
		t.Fatalf("token not valid (expiry %v)", tok.Expiry)
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/teams", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	rec := httptest.NewRecorder()
	v.sb.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("the API refuses the access token: %d", rec.Code)
	}
}

func assertNoSecret(t *testing.T, s string, secrets ...string) {
	t.Helper()
	for _, secret := range secrets {
		if secret != "" && strings.Contains(s, secret) {
			t.Errorf("a secret leaked into a message of %d bytes", len(s))
		}
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// flakyStore fails its next Puts, as an unreachable S3 would.
type flakyStore struct {
	teampro.TokenStore
	mu    sync.Mutex
	fails int
}

func (f *flakyStore) Put(ctx context.Context, t *oauth2.Token, ifVersion string) error {
	f.mu.Lock()
	fail := f.fails > 0
	f.fails--
	f.mu.Unlock()
	if fail {
		return errors.New("connection reset by peer")
	}
	return f.TokenStore.Put(ctx, t, ifVersion)
}

// The rotated refresh token is the whole authorization once the old one is
// spent: a save that fails is retried, not dropped.
func TestRefreshedTokenSaveIsRetried(t *testing.T) {
	t.Parallel()
	local, err := store.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v := newVendor(t)
	st := &flakyStore{TokenStore: teampro.ObjectToken{Store: local, Key: "token.json"}}
	v.seed(t, st)
	st.fails = 1
	tok, err := (&teampro.TokenSource{Config: v.cfg, Store: st}).Token()
	if err != nil {
		t.Fatalf("Token with one failed save: %v", err)
	}
	saved, _, err := st.Get(context.Background())
	if err != nil || saved.RefreshToken != tok.RefreshToken || saved.AccessToken != tok.AccessToken {
		t.Fatalf("stored %+v, %v; want the refreshed token", saved, err)
	}
	v.assertWorks(t, tok)
}

// A refresh gives up when its caller does: a token endpoint or another
// process's lock that hangs does not hold a cancelled request.
func TestTokenHonoursTheCallersContext(t *testing.T) {
	t.Parallel()
	hangingVendor := func(t *testing.T) (*vendor, teampro.TokenFile) {
		v := newVendor(t)
		stop := make(chan struct{})
		t.Cleanup(func() { close(stop) })
		v.onRefresh(func(w http.ResponseWriter, r *http.Request) bool {
			select {
			case <-r.Context().Done():
			case <-stop:
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		})
		st := teampro.TokenFile{Path: filepath.Join(t.TempDir(), "token.json")}
		v.seed(t, st)
		return v, st
	}
	assertGaveUp := func(t *testing.T, err error, start time.Time) {
		t.Helper()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want the caller's deadline", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("gave up after %v, long after the caller's deadline", d)
		}
	}

	t.Run("TokenContext", func(t *testing.T) {
		t.Parallel()
		v, st := hangingVendor(t)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := (&teampro.TokenSource{Config: v.cfg, Store: st}).TokenContext(ctx)
		assertGaveUp(t, err, start)
	})

	t.Run("Client", func(t *testing.T) {
		t.Parallel()
		v, st := hangingVendor(t)
		c, err := teampro.New(teampro.Options{
			BaseURL: strings.TrimSuffix(v.cfg.Endpoint.TokenURL, "/oauth/token"),
			Tokens:  &teampro.TokenSource{Config: v.cfg, Store: st},
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = c.Teams(ctx, func(*teampro.Page) error { return nil })
		assertGaveUp(t, err, start)
	})

	t.Run("LockHeldElsewhere", func(t *testing.T) {
		t.Parallel()
		v := newVendor(t)
		st := teampro.TokenFile{Path: filepath.Join(t.TempDir(), "token.json")}
		v.seed(t, st)
		unlock, err := st.Lock(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = (&teampro.TokenSource{Config: v.cfg, Store: st}).TokenContext(ctx)
		assertGaveUp(t, err, start)
	})
}

// cancelOnPut cancels its caller's context at the first Put and fails it,
// as a sync interrupted while it saves a rotated token.
type cancelOnPut struct {
	teampro.TokenStore
	cancel context.CancelFunc
	once   sync.Once
}

func (c *cancelOnPut) Put(ctx context.Context, t *oauth2.Token, ifVersion string) error {
	failed := false
	c.once.Do(func() {
		c.cancel()
		failed = true
	})
	if failed {
		return errors.New("connection reset by peer")
	}
	return c.TokenStore.Put(ctx, t, ifVersion)
}

// Once the vendor rotated the token, the old refresh token is spent: the
// new one is saved even after the caller gave up.
func TestRotatedTokenIsSavedAfterTheCallerGivesUp(t *testing.T) {
	t.Parallel()
	v := newVendor(t)
	file := teampro.TokenFile{Path: filepath.Join(t.TempDir(), "token.json")}
	old := v.seed(t, file)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := &cancelOnPut{TokenStore: file, cancel: cancel}
	if _, err := (&teampro.TokenSource{Config: v.cfg, Store: st}).TokenContext(ctx); err != nil {
		t.Fatalf("TokenContext: %v", err)
	}
	saved, _, err := file.Get(context.Background())
	if err != nil || saved.RefreshToken == old.RefreshToken {
		t.Fatalf("the rotated token was not saved (%v)", err)
	}
	v.assertWorks(t, saved)
}
