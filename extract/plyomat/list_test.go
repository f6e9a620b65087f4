package plyomat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// setIDs reads every set of f into ids, page by page, and returns the
// anomalies and the pages' sizes.
func setIDs(t *testing.T, c *Client, f Filter) (ids []string, sizes []int, anomalies []string, err error) {
	t.Helper()
	anomalies, err = c.Sets(context.Background(), f, func(p *Page) error {
		sizes = append(sizes, len(p.Records))
		for _, r := range p.Records {
			var s fakeSet
			if err := json.Unmarshal(r, &s); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, s.ID)
		}
		return nil
	})
	return ids, sizes, anomalies, err
}

// TestListPagesAcrossOffsets: a list reads every page once, in order,
// asking each at the offset after the rows received, and stops when
// has_more is false.
func TestListPagesAcrossOffsets(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, 7, 3, "k")
	ids, sizes, anomalies, err := setIDs(t, c, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"s00", "s01", "s02", "s03", "s04", "s05", "s06"}, ids); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{3, 3, 1}, sizes); diff != "" {
		t.Errorf("page sizes (-want +got):\n%s", diff)
	}
	if len(anomalies) > 0 {
		t.Errorf("anomalies: %q", anomalies)
	}
	want := []string{"limit=3&offset=0", "limit=3&offset=3", "limit=3&offset=6"}
	if diff := cmp.Diff(want, f.queries()); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}
}

// TestListTotalDisagrees: rows received that disagree with the envelope's
// total come back as one anomaly, not an error.
func TestListTotalDisagrees(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, 5, 2, "k")
	f.total = func(n int) int { return n + 1 }
	ids, _, anomalies, err := setIDs(t, c, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 5 {
		t.Errorf("read %d sets, want 5", len(ids))
	}
	want := []string{"/sets: received 5 rows in all, envelope total says 6"}
	if diff := cmp.Diff(want, anomalies); diff != "" {
		t.Errorf("anomalies (-want +got):\n%s", diff)
	}
}

// TestListFilters: since is sent in RFC 3339 UTC and the athlete's id as
// athlete_id, and the rows are those the filters select.
func TestListFilters(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, 10, 500, "k")
	since := time.Date(2026, 3, 1, 1, 6, 0, 0, time.FixedZone("CET", 3600)) // 00:06 UTC
	ids, _, _, err := setIDs(t, c, Filter{AthleteID: "a1", Since: since})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"s06", "s08"}, ids); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	want := []string{"athlete_id=a1&limit=500&offset=0&since=2026-03-01T00%3A06%3A00Z"}
	if diff := cmp.Diff(want, f.queries()); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}
}

// TestAPIErrors: 401 and 404 answers are *APIError with the status and
// the vendor's code and message, not retried.
func TestAPIErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, key, id string
		want          APIError
	}{
		{"bad key", "wrong", "ath/../1?x=#%", APIError{Source: "plyomat", Status: http.StatusUnauthorized, Code: "unauthorized", Message: "invalid API key"}},
		{"unknown id", "k", "nobody", APIError{Source: "plyomat", Status: http.StatusNotFound, Code: "not_found", Message: `no athlete "nobody"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, c := newFake(t, 0, 10, tc.key)
			_, err := c.Get(context.Background(), "athletes", tc.id)
			var api *APIError
			if !errors.As(err, &api) {
				t.Fatalf("Get: %v, want an *APIError", err)
			}
			got := *api
			got.Endpoint = ""
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("APIError (-want +got):\n%s", diff)
			}
			if n := len(f.queries()); n != 1 {
				t.Errorf("%d requests, want 1 (no retry)", n)
			}
		})
	}
}

// TestGetEscapesHostileID: an id holding "/", "..", "?", "#" and "%"
// reaches the server as one path segment, intact.
func TestGetEscapesHostileID(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, 0, 10, "k")
	const id = "ath/../1?x=#%"
	rec, err := c.Get(context.Background(), "athletes", id)
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ ID, Name string }
	if err := json.Unmarshal(rec, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != id || got.Name != "Hostile" {
		t.Errorf("Get = %+v, want id %q", got, id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.requests[0].EscapedPath(); p != "/v1/athletes/ath%2F..%2F1%3Fx=%23%25" {
		t.Errorf("path %s", p)
	}
}
