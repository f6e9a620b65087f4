package plyomat

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSet is a record of the fake API's /sets.
type fakeSet struct {
	ID        string    `json:"id"`
	AthleteID string    `json:"athlete_id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// fakeAPI serves /sets with Plyomat's offset paging and filters, and
// /athletes/{id}, and keeps every request's path and query.
type fakeAPI struct {
	t    *testing.T
	key  string
	sets []fakeSet
	// total, when set, is what the envelope announces instead of the
	// number of rows matching (rows created or deleted while paging).
	total func(matching int) int

	mu       sync.Mutex
	requests []*url.URL
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.URL)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer "+f.key {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"code":"unauthorized","message":"invalid API key"}}`)
		return
	}
	switch {
	case r.URL.Path == "/v1/sets":
		f.list(w, r.URL.Query())
	case strings.HasPrefix(r.URL.EscapedPath(), "/v1/athletes/"):
		id, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/v1/athletes/"))
		if err != nil || id != "ath/../1?x=#%" {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "not_found", "message": "no athlete " + strconv.Quote(id)}})
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"id": id, "name": "Hostile"})
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeAPI) list(w http.ResponseWriter, q url.Values) {
	var match []fakeSet
	for _, s := range f.sets {
		if a := q.Get("athlete_id"); a != "" && s.AthleteID != a {
			continue
		}
		if v := q.Get("since"); v != "" {
			since, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				f.t.Errorf("since=%q: %v", v, err)
			}
			if s.CreatedAt.Before(since) && s.UpdatedAt.Before(since) {
				continue
			}
		}
		match = append(match, s)
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	offset, _ := strconv.Atoi(q.Get("offset"))
	page := match[min(offset, len(match)):min(offset+limit, len(match))]
	total := len(match)
	if f.total != nil {
		total = f.total(total)
	}
	json.NewEncoder(w).Encode(map[string]any{
		"data": page, "total": total, "limit": limit, "offset": offset,
		"has_more": offset+len(page) < len(match),
	})
}

// queries are the queries of the requests made so far, encoded.
func (f *fakeAPI) queries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, u := range f.requests {
		out = append(out, u.Query().Encode())
	}
	return out
}

// newFake starts a fake API holding n sets of two athletes, created a
// minute apart from 2026-03-01 00:00 UTC, and returns it with a client
// of page size pageSize and API key key.
func newFake(t *testing.T, n, pageSize int, key string) (*fakeAPI, *Client) {
	t.Helper()
	f := &fakeAPI{t: t, key: "k"}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Minute)
		f.sets = append(f.sets, fakeSet{ID: fmt.Sprintf("s%02d", i), AthleteID: []string{"a1", "a2"}[i%2], CreatedAt: at, UpdatedAt: at})
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(Options{BaseURL: srv.URL + "/v1", APIKey: key, PageSize: pageSize, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}
