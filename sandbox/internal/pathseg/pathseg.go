// Package pathseg splits request paths into id-bearing segments the way the
// simulated vendors do, and escapes ids the way a correct client does.
package pathseg

import (
	"net/http"
	"net/url"
	"strings"
)

// Split splits the request's path into unescaped segments, so that an id
// may hold any character ("a%2Fb" is the id "a/b", "%2E%2E" the id "..").
// A literal dot-segment ("." or "..") makes it fail: a server normalising
// the path (RFC 3986, 5.2.4) would remove it, so it never names an id.
func Split(r *http.Request) ([]string, bool) {
	p := r.URL.EscapedPath()
	if !strings.HasPrefix(p, "/") {
		return nil, false
	}
	parts := strings.Split(p[1:], "/")
	for i, part := range parts {
		if part == "." || part == ".." {
			return nil, false
		}
		u, err := url.PathUnescape(part)
		if err != nil {
			return nil, false
		}
		parts[i] = u
	}
	return parts, true
}

// Escape escapes an id as exactly one path segment, dots of "." and ".."
// included (the client's httpx.Segment).
func Escape(id string) string {
	switch id {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return url.PathEscape(id)
}
