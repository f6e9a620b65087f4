package teampro

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"html"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// authCode is an issued authorization code.
type authCode struct {
	client   string
	redirect string // the redirect_uri given at authorize ("" when none)
	expires  time.Time
}

// accessToken is an issued access token.
type accessToken struct {
	client  string
	expires time.Time
}

// bucket is a client's token bucket.
type bucket struct {
	tokens float64
	last   time.Time
}

// maxTokens bounds the issued access tokens kept; beyond it the expired
// ones are forgotten.
const maxTokens = 10000

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

func randomUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// AuthorizeCode issues an authorization code as if the user had approved
// the registered client, bound to redirectURI when it is not empty (the
// token request must then name the same redirect_uri). For tests that skip
// the browser.
func (s *Server) AuthorizeCode(redirectURI string) string {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	return s.newCode(redirectURI)
}

func (s *Server) newCode(redirectURI string) string {
	code := randomHex(16)
	s.codes[code] = authCode{client: s.opts.ClientID, redirect: redirectURI, expires: s.clock().Add(CodeTTL)}
	return code
}

// RevokeRefreshTokens makes every refresh token issued so far unusable
// (invalid_grant), as when the user withdraws the authorization.
func (s *Server) RevokeRefreshTokens() {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	clear(s.refresh)
}

// ExpireAccessTokens expires every access token issued so far.
func (s *Server) ExpireAccessTokens() {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	for k, t := range s.access {
		t.expires = time.Time{}
		s.access[k] = t
	}
}

// authorizePage is the authorization server's own error page, shown when
// it cannot redirect (unknown client, unregistered redirect URI).
func (s *Server) authorizePage(w http.ResponseWriter, status int, msg string) {
	body := "<!DOCTYPE html>\n<html><head><title>OAuth Error</title></head><body><h1>OAuth Error</h1><p>" +
		html.EscapeString(msg) + "</p></body></html>\n"
	s.write(w, response{status: status, body: []byte(body), header: map[string]string{"Content-Type": "text/html; charset=utf-8"}})
}

// loopback reports whether u is a loopback redirect URI (RFC 8252, 7.3):
// http on 127.0.0.1, ::1 or localhost, any port.
func loopback(u *url.URL) bool {
	if u.Scheme != "http" || u.User != nil || u.Fragment != "" {
		return false
	}
	switch u.Hostname() {
	case "127.0.0.1", "::1", "localhost":
		return true
	}
	return false
}

// redirect sends the user agent back to target with params added to its
// query.
func (s *Server) redirect(w http.ResponseWriter, target *url.URL, params ...string) {
	u := *target
	q := u.RawQuery
	for i := 0; i+1 < len(params); i += 2 {
		if params[i+1] == "" {
			continue
		}
		if q != "" {
			q += "&"
		}
		q += url.QueryEscape(params[i]) + "=" + url.QueryEscape(params[i+1])
	}
	u.RawQuery = q
	s.write(w, response{status: http.StatusFound, header: map[string]string{"Location": u.String(), "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}})
}

// authorize is GET /oauth/authorize: the user approves at once.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	s.stats.Count(func(st *Stats) { st.AuthorizeRequests++ })
	if r.Method != http.MethodGet {
		s.authorizePage(w, http.StatusMethodNotAllowed, "The authorization endpoint takes GET requests.")
		return
	}
	q := r.URL.Query()
	client := q.Get("client_id")
	if client == "" || s.opts.ClientID == "" || client != s.opts.ClientID {
		s.authorizePage(w, http.StatusBadRequest, "error=\"invalid_client\", error_description=\"Unknown client id\"")
		return
	}
	given := q.Get("redirect_uri")
	target := given
	if target == "" {
		target = s.opts.RedirectURL
	}
	u, err := url.Parse(target)
	switch {
	case target == "":
		s.authorizePage(w, http.StatusBadRequest, "error=\"invalid_request\", error_description=\"No redirect URI registered for the client\"")
		return
	case err != nil || !u.IsAbs() || (target != s.opts.RedirectURL && !loopback(u)):
		s.authorizePage(w, http.StatusBadRequest, "error=\"invalid_request\", error_description=\"Invalid redirect: does not match the registered redirect URI\"")
		return
	}
	state := q.Get("state")
	switch rt := q.Get("response_type"); {
	case rt == "":
		s.redirect(w, u, "error", "invalid_request", "error_description", "Missing response_type", "state", state)
		return
	case rt != "code":
		s.redirect(w, u, "error", "unsupported_response_type", "error_description", "Unsupported response types: ["+rt+"]", "state", state)
		return
	}
	scope := q.Get("scope")
	if scope == "" {
		s.redirect(w, u, "error", "invalid_request", "error_description", "Missing scope", "state", state)
		return
	}
	for _, sc := range strings.FieldsFunc(scope, func(r rune) bool { return r == ',' || r == ' ' }) {
		if sc != Scope {
			s.redirect(w, u, "error", "invalid_scope", "error_description", "Invalid scope: "+sc, "state", state)
			return
		}
	}
	s.authMu.Lock()
	code := s.newCode(given)
	s.authMu.Unlock()
	s.redirect(w, u, "state", state, "code", code)
}

// tokenError is an RFC 6749 (5.2) error of the token endpoint.
func (s *Server) tokenError(w http.ResponseWriter, status int, code, desc string) {
	o := newObj(nil, false)
	o.str("error", code)
	o.str("error_description", desc)
	h := map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache"}
	if status == http.StatusUnauthorized {
		h["WWW-Authenticate"] = `Basic realm="oauth2/client"`
	}
	s.write(w, response{status: status, body: o.end(), header: h})
}

// clientAuthenticated checks HTTP basic client credentials (RFC 6749,
// 2.3.1: form-encoded, then base64).
func (s *Server) clientAuthenticated(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok || s.opts.ClientID == "" {
		return false
	}
	if u, err := url.QueryUnescape(user); err == nil {
		user = u
	}
	if p, err := url.QueryUnescape(pass); err == nil {
		pass = p
	}
	idOK := subtle.ConstantTimeCompare([]byte(user), []byte(s.opts.ClientID)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(pass), []byte(s.opts.ClientSecret)) == 1
	return idOK && secretOK
}

// token is POST /oauth/token.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.stats.Count(func(st *Stats) { st.TokenRequests++ })
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		s.tokenError(w, http.StatusMethodNotAllowed, "invalid_request", "The token endpoint takes POST requests")
		return
	}
	if !s.clientAuthenticated(r) {
		s.tokenError(w, http.StatusUnauthorized, "invalid_client", "Bad client credentials")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		s.tokenError(w, http.StatusBadRequest, "invalid_request", "The body must be application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		s.tokenError(w, http.StatusBadRequest, "invalid_request", "Unreadable form body")
		return
	}
	s.authMu.Lock()
	defer s.authMu.Unlock()
	now := s.clock()
	if code, desc := s.grant(r.PostForm, now); code != "" {
		s.tokenError(w, http.StatusBadRequest, code, desc)
		return
	}
	s.write(w, s.issue(now))
}

// grant checks a token request's grant, using up its code or refresh
// token; a refused grant gives the OAuth2 error code and description.
// Callers hold authMu.
func (s *Server) grant(f url.Values, now time.Time) (code, desc string) {
	switch grant := f.Get("grant_type"); grant {
	case "":
		return "invalid_request", "Missing grant type"
	case "authorization_code":
		ac := f.Get("code")
		if ac == "" {
			return "invalid_request", "Missing authorization code"
		}
		c, ok := s.codes[ac]
		delete(s.codes, ac) // single use, whatever happens next
		switch {
		case !ok:
			return "invalid_grant", "Invalid authorization code"
		case !now.Before(c.expires):
			return "invalid_grant", "Authorization code expired"
		case c.redirect != "" && f.Get("redirect_uri") != c.redirect:
			return "invalid_grant", "Redirect URI mismatch"
		}
	case "refresh_token":
		rt := f.Get("refresh_token")
		if rt == "" {
			return "invalid_request", "Missing refresh token"
		}
		if _, ok := s.refresh[rt]; !ok {
			return "invalid_grant", "Invalid refresh token"
		}
		delete(s.refresh, rt) // rotated: the old one stops working
	default:
		return "unsupported_grant_type", "Unsupported grant type: " + grant
	}
	return "", ""
}

// issue makes a new access and refresh token pair. Callers hold authMu.
func (s *Server) issue(now time.Time) response {
	if len(s.access) >= maxTokens {
		for k, t := range s.access {
			if !now.Before(t.expires) {
				delete(s.access, k)
			}
		}
	}
	access, refresh := randomHex(32), randomHex(32)
	s.access[access] = accessToken{client: s.opts.ClientID, expires: now.Add(s.opts.AccessTTL)}
	s.refresh[refresh] = s.opts.ClientID
	expiresIn := max(int64(s.opts.AccessTTL/time.Second)-1, 1)
	o := newObj(nil, false)
	o.str("access_token", access)
	o.str("token_type", "bearer")
	o.str("refresh_token", refresh)
	o.int("expires_in", expiresIn)
	o.str("scope", Scope)
	o.str("jti", randomUUID())
	return response{status: http.StatusOK, body: o.end(), header: map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache"}}
}

// authenticate checks an API request's bearer token.
func (s *Server) authenticate(r *http.Request) (client string, resp response, ok bool) {
	scheme, tok, found := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !found || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", s.unauthorized("unauthorized", "Full authentication is required to access this resource"), false
	}
	s.authMu.Lock()
	at, known := s.access[tok]
	now := s.clock()
	s.authMu.Unlock()
	switch {
	case !known:
		return "", s.unauthorized("invalid_token", "Invalid access token"), false
	case !now.Before(at.expires):
		return "", s.unauthorized("invalid_token", "Access token expired"), false
	}
	return at.client, response{}, true
}

func (s *Server) unauthorized(code, desc string) response {
	o := newObj(nil, false)
	o.str("error", code)
	o.str("error_description", desc)
	challenge := `Bearer realm="teampro"`
	if code == "invalid_token" {
		challenge += `, error="invalid_token", error_description="` + desc + `"`
	}
	return response{status: http.StatusUnauthorized, body: o.end(), header: map[string]string{"WWW-Authenticate": challenge}}
}

// take spends a token of client's bucket; when it is empty, wait is the
// whole seconds until one is available (at least 1).
func (s *Server) take(client string) (wait int, ok bool) {
	if s.opts.Burst < 0 {
		return 0, true
	}
	s.authMu.Lock()
	defer s.authMu.Unlock()
	now := s.clock()
	capacity := float64(s.opts.Burst)
	b := s.buckets[client]
	if b == nil {
		b = &bucket{tokens: capacity, last: now}
		s.buckets[client] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(capacity, b.tokens+el.Seconds()*s.opts.Rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	secs := math.Ceil((1 - b.tokens) / s.opts.Rate)
	if secs < 1 || math.IsNaN(secs) {
		secs = 1
	}
	return int(min(secs, float64(math.MaxInt32))), false
}

// retryAfter formats seconds for the Retry-After header.
func retryAfter(secs int) string { return strconv.Itoa(max(secs, 1)) }
